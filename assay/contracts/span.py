"""The span record: one non-LLM step of a trace (tool, chain, agent, retriever, ...).

Adapters that read traces (OTLP, Langfuse) turn every generation into a call record and every
other step into a span record, so the tree survives normalisation: a tool span keeps its
trace_id / span_id / parent_span_id and can be joined to the call that asked for it
(`tool_call_id`) when tool use is evaluated. Field names are the contract: add, never rename.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.contracts._arrow import UTC_TIMESTAMP, as_utc

SPAN_SCHEMA_VERSION = 1

SpanStatus = Literal["success", "error"]

SPAN_KINDS = (
    "tool",
    "chain",
    "agent",
    "retriever",
    "embedding",
    "reranker",
    "guardrail",
    "evaluator",
    "event",
    "span",
)
"""Known kinds; adapters map their source's vocabulary onto these, unknown kinds fall to `span`."""


class SpanRecord(BaseModel):
    """One non-LLM span of a trace, as assay stores it beside `raw_calls`."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str | None = None
    span_id: str = Field(min_length=1)
    parent_span_id: str | None = None
    ts: datetime
    """When the span started, UTC."""
    end_ts: datetime | None = None
    kind: str = Field(default="span", min_length=1)
    name: str | None = None
    tool_name: str | None = None
    """For tool spans: the tool that ran (the span name is often decorated: "running tool: x")."""
    tool_call_id: str | None = None
    """For tool spans: the id of the model's tool call this span executed, when the source has it."""
    input: str | None = None
    """The span's input as JSON text."""
    output: str | None = None
    """The span's output as JSON text."""
    status: SpanStatus = "success"
    error_message: str | None = None
    attributes: dict[str, Any] | None = None
    source_format: str = Field(min_length=1)
    source_file: str | None = None
    source_offset: int | None = None
    """Line number (1-based) or record index in source_file."""

    @field_validator("ts", "end_ts", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> datetime | None:
        return as_utc(value)


SPAN_JSON_COLUMNS = frozenset({"attributes"})
"""Nested columns serialised to JSON text (`input` / `output` are JSON text already)."""

SPAN_ARROW_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("ts", UTC_TIMESTAMP),
        ("end_ts", UTC_TIMESTAMP),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("tool_name", pa.string()),
        ("tool_call_id", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("attributes", pa.string()),
        ("source_format", pa.string()),
        ("source_file", pa.string()),
        ("source_offset", pa.int64()),
    ],
    metadata={"contract": "span", "version": str(SPAN_SCHEMA_VERSION)},
)

assert set(SPAN_ARROW_SCHEMA.names) == set(SpanRecord.model_fields), "span contract drift"
