"""A case label: what a person says about one regression case (`assay labels import`)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP
from assay.contracts.case import CaseLabel

CASE_LABEL_SCHEMA_VERSION = 1


class CaseLabelRecord(BaseModel):
    """One person's verdict on one case: correct, wrong (not a real failure: dropped from the
    next version) or critical (must never regress: forced critical)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1)
    label: CaseLabel
    labeler: str | None = None
    labeled_at: datetime | None = None
    note: str | None = None
    source_file: str
    source_line: int = Field(ge=1)
    imported_at: datetime


CASE_LABEL_ARROW_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("label", pa.string()),
        ("labeler", pa.string()),
        ("labeled_at", UTC_TIMESTAMP),
        ("note", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("imported_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "case_label", "version": str(CASE_LABEL_SCHEMA_VERSION)},
)

assert set(CASE_LABEL_ARROW_SCHEMA.names) == set(CaseLabelRecord.model_fields), "case_label contract drift"
