"""A human label: what a person says about one (subject, evaluator), to calibrate the judge."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

HUMAN_LABEL_SCHEMA_VERSION = 1


class HumanLabel(BaseModel):
    """One person's verdict on one subject for one evaluator (pass or fail)."""

    model_config = ConfigDict(extra="forbid")

    subject_id: str = Field(min_length=1)
    """The call_id or case_id the evaluator scored."""
    evaluator: str = Field(min_length=1)
    """The evaluator's name in assay.yaml."""
    passed: bool
    """The human verdict: the subject passes this evaluator's rubric."""
    labeler: str | None = None
    labeled_at: datetime | None = None
    note: str | None = None
    source_file: str
    source_line: int = Field(ge=1)
    imported_at: datetime


HUMAN_LABEL_ARROW_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("evaluator", pa.string()),
        ("passed", pa.bool_()),
        ("labeler", pa.string()),
        ("labeled_at", UTC_TIMESTAMP),
        ("note", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("imported_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "human_label", "version": str(HUMAN_LABEL_SCHEMA_VERSION)},
)

assert set(HUMAN_LABEL_ARROW_SCHEMA.names) == set(HumanLabel.model_fields), "human_label contract drift"
