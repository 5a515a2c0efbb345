"""The case: one row of the versioned regression dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

CASE_SCHEMA_VERSION = 2
"""2: source, near_duplicates, tags, metadata (versions written as 1 read with their defaults)."""

Tier = Literal["smoke", "core", "edge"]
CaseSource = Literal["production", "golden", "redteam"]
"""Where a case came from: promoted production calls (failures and the passing sample),
hand-written golden scenarios (`golden/*.yaml`), or a red-team pack (`evaluators/redteam`)."""
CaseLabel = Literal["correct", "wrong", "critical"]
"""A person's verdict on a case (`assay labels import`): `wrong` drops the case from the next
version (a false failure), `critical` forces it critical, `correct` confirms it."""


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
    human_label: CaseLabel | None = None
    """The latest human verdict imported for this case (or a case merged into it)."""
    feature: str | None = None
    """The production feature the case came from: selects the evaluators that apply."""
    source: CaseSource = "production"
    near_duplicates: list[str] = Field(default_factory=list)
    """Case ids merged into this one as near-duplicates (their occurrences are counted here)."""
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    """Case-specific data for evaluators (a red-team case's canary, attack, pack)."""


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
        ("source", pa.string()),
        ("near_duplicates", pa.string()),
        ("tags", pa.string()),
        ("metadata", pa.string()),
    ],
    metadata={"contract": "case", "version": str(CASE_SCHEMA_VERSION)},
)

CASE_JSON_COLUMNS = frozenset(
    {"input", "context", "tools", "assertions", "source_call_ids", "near_duplicates", "tags", "metadata"}
)

assert set(CASE_ARROW_SCHEMA.names) == set(Case.model_fields), "case contract drift"


def last_user_text(messages: list[dict[str, Any]] | None) -> str | None:
    """A case's (or call's) last user message: what a person reads as its input."""
    for message in reversed(messages or []):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return None


def new_case(**fields: Any) -> dict[str, Any]:
    """A case dict with every contract field: the defaults for a case no production call made."""
    case = {
        "case_id": None,
        "input": [],
        "context": None,
        "tools": None,
        "reference_output": None,
        "assertions": [],
        "rubric": None,
        "tier": "core",
        "critical": False,
        "failure_category": None,
        "source_call_ids": [],
        "first_seen": None,
        "last_seen": None,
        "occurrences": 0,
        "human_label": None,
        "feature": None,
        "source": "production",
        "near_duplicates": [],
        "tags": [],
        "metadata": None,
    }
    unknown = set(fields) - set(case)
    if unknown:
        raise TypeError(f"not case fields: {sorted(unknown)}")
    return case | fields
