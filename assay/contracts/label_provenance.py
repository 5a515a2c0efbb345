"""Who gave a human label, when, why, and where it was read: the part every label contract
(judge labels, case labels) shares. `assay.calibration.label_provenance` fills it."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP


class LabelProvenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labeler: str | None = None
    labeled_at: datetime | None = None
    note: str | None = None
    source_file: str
    source_line: int = Field(ge=1)
    imported_at: datetime


LABEL_PROVENANCE_ARROW_FIELDS = [
    ("labeler", pa.string()),
    ("labeled_at", UTC_TIMESTAMP),
    ("note", pa.string()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("imported_at", UTC_TIMESTAMP),
]
