"""A case label: what a person says about one regression case (`assay labels import`)."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from assay.contracts.case import CaseLabel
from assay.contracts.label_provenance import LABEL_PROVENANCE_ARROW_FIELDS, LabelProvenance

CASE_LABEL_SCHEMA_VERSION = 1


class CaseLabelRecord(LabelProvenance):
    """One person's verdict on one case: correct, wrong (not a real failure: dropped from the
    next version) or critical (must never regress: forced critical)."""

    case_id: str = Field(min_length=1)
    label: CaseLabel


CASE_LABEL_ARROW_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("label", pa.string()),
        *LABEL_PROVENANCE_ARROW_FIELDS,
    ],
    metadata={"contract": "case_label", "version": str(CASE_LABEL_SCHEMA_VERSION)},
)

assert set(CASE_LABEL_ARROW_SCHEMA.names) == set(CaseLabelRecord.model_fields), "case_label contract drift"
