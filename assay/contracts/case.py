"""The case: one row of the versioned regression dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

CASE_SCHEMA_VERSION = 1

Tier = Literal["smoke", "core", "edge"]


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    """Content hash of the normalised input (messages + context): the same input is one case."""
    dataset_version: str
    input: list[dict[str, Any]]
    """Chat messages to replay."""
    context: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    """Tool schemas offered to the model, replayed as they were."""
    reference_output: str | None = None
    assertions: list[str] = Field(default_factory=list)
    """Evaluator names that must pass on a candidate's output (those that failed in production)."""
    rubric: str | None = None
    tier: Tier = "core"
    critical: bool = False
    failure_category: str | None = None
    source_call_ids: list[str] = Field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    occurrences: int = 1
    human_label: str | None = None
    feature: str | None = None
    """The production feature the case came from: selects the evaluators that apply."""


CASE_ARROW_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("dataset_version", pa.string()),
        ("input", pa.string()),
        ("context", pa.string()),
        ("tools", pa.string()),
        ("reference_output", pa.string()),
        ("assertions", pa.string()),
        ("rubric", pa.string()),
        ("tier", pa.string()),
        ("critical", pa.bool_()),
        ("failure_category", pa.string()),
        ("source_call_ids", pa.string()),
        ("first_seen", UTC_TIMESTAMP),
        ("last_seen", UTC_TIMESTAMP),
        ("occurrences", pa.int64()),
        ("human_label", pa.string()),
        ("feature", pa.string()),
    ],
    metadata={"contract": "case", "version": str(CASE_SCHEMA_VERSION)},
)

CASE_JSON_COLUMNS = frozenset({"input", "context", "tools", "assertions", "source_call_ids"})

assert set(CASE_ARROW_SCHEMA.names) == set(Case.model_fields), "case contract drift"
