"""A human label: what a person says about one (subject, evaluator), to calibrate the judge."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from assay.contracts.label_provenance import LABEL_PROVENANCE_ARROW_FIELDS, LabelProvenance

HUMAN_LABEL_SCHEMA_VERSION = 1


class HumanLabel(LabelProvenance):
    """One person's verdict on one subject for one evaluator (pass or fail)."""

    subject_id: str = Field(min_length=1)
    """The call_id or case_id the evaluator scored."""
    evaluator: str = Field(min_length=1)
    """The evaluator's name in assay.yaml."""
    passed: bool
    """The human verdict: the subject passes this evaluator's rubric."""


HUMAN_LABEL_ARROW_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("evaluator", pa.string()),
        ("passed", pa.bool_()),
        *LABEL_PROVENANCE_ARROW_FIELDS,
    ],
    metadata={"contract": "human_label", "version": str(HUMAN_LABEL_SCHEMA_VERSION)},
)

assert set(HUMAN_LABEL_ARROW_SCHEMA.names) == set(HumanLabel.model_fields), "human_label contract drift"
