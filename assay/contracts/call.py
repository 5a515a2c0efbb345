"""The call record: one LLM call, normalised from any source format.

Field names are the contract (docs/architecture.md, "Data contracts"): add fields, never rename them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.contracts._arrow import UTC_TIMESTAMP, as_utc

CALL_SCHEMA_VERSION = 1

CallStatus = Literal["success", "error"]
CALL_STATUSES: tuple[str, ...] = get_args(CallStatus)
"""The one list of call statuses: the GE suite of raw_calls and dbt's tests use it."""


class CallRecord(BaseModel):
    """One LLM call as assay stores it in `raw_calls`."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(min_length=1)
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    ts: datetime
    """When the call started, UTC."""
    app: str = Field(min_length=1)
    feature: str = Field(min_length=1)
    environment: str = "production"
    prompt_id: str | None = None
    prompt_version: str | None = None
    provider: str | None = None
    model: str = Field(min_length=1)
    params: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """Chat messages sent to the model ({role, content, ...})."""
    input_text: str | None = None
    """The last user turn, flattened: what evaluators and judges read as "the input"."""
    context: list[str] | None = None
    """Retrieved documents given to the model (RAG), in order."""
    tools: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    """Tool calls the model made: [{name, arguments}]."""
    output_text: str | None = None
    finish_reason: str | None = None
    status: CallStatus = "success"
    error_type: str | None = None
    error_message: str | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    cost_source: str | None = None
    """Where cost_usd came from: source | config_price | litellm_price_map | unknown (set at ingest)."""
    user_id: str | None = None
    session_id: str | None = None
    customer_id: str | None = None
    expected_output: str | None = None
    feedback_score: float | None = None
    """User feedback normalised to [-1, 1]; negative means the user was unhappy."""
    feedback_comment: str | None = None
    metadata: dict[str, Any] | None = None
    source_format: str = "assay_jsonl"
    source_file: str | None = None
    source_offset: int | None = None
    """Line number (1-based) or byte offset of the record in source_file."""

    @field_validator("ts", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> datetime:
        return as_utc(value)


SOURCE_COLUMNS = ("source_file", "source_offset", "source_format")
"""Set at ingest from where the record was read, whatever the record says."""

CALL_JSON_COLUMNS = frozenset(
    {"params", "messages", "context", "tools", "tool_calls", "metadata"}
)

CALL_ARROW_SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("ts", UTC_TIMESTAMP),
        ("app", pa.string()),
        ("feature", pa.string()),
        ("environment", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("params", pa.string()),
        ("messages", pa.string()),
        ("input_text", pa.string()),
        ("context", pa.string()),
        ("tools", pa.string()),
        ("tool_calls", pa.string()),
        ("output_text", pa.string()),
        ("finish_reason", pa.string()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("latency_ms", pa.float64()),
        ("ttft_ms", pa.float64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("cost_source", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("customer_id", pa.string()),
        ("expected_output", pa.string()),
        ("feedback_score", pa.float64()),
        ("feedback_comment", pa.string()),
        ("metadata", pa.string()),
        ("source_format", pa.string()),
        ("source_file", pa.string()),
        ("source_offset", pa.int64()),
    ],
    metadata={"contract": "call", "version": str(CALL_SCHEMA_VERSION)},
)

assert set(CALL_ARROW_SCHEMA.names) == set(CallRecord.model_fields), "call contract drift"
