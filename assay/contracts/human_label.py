"""A human label: what a person says about one (subject, scorer), to calibrate that scorer.

A scorer is anything that gives verdicts: an assay.yaml evaluator (LLM judge or deterministic)
or an imported one (`imported:<source>`). A label is a verdict (`passed`) or, for a pairwise
scorer, the gold winner of the pair (`winner`: a, b or tie)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, model_validator

from assay.contracts.label_provenance import LABEL_PROVENANCE_ARROW_FIELDS, LabelProvenance

HUMAN_LABEL_SCHEMA_VERSION = 2

PAIRWISE_WINNERS = ("a", "b", "tie")
"""A pairwise verdict: output a is better, output b is better, or neither."""


class HumanLabel(LabelProvenance):
    """One person's verdict on one subject for one scorer: pass/fail, or a pair's winner."""

    subject_id: str = Field(min_length=1)
    """The call_id, case_id or pair id the scorer scored."""
    evaluator: str = Field(min_length=1)
    """The scorer: an evaluator's name in assay.yaml, or `imported:<source>`."""
    passed: bool | None = None
    """The human verdict: the subject passes this scorer's rubric (None on a pairwise label)."""
    winner: Literal["a", "b", "tie"] | None = None
    """The gold winner of a pair (None on a pass/fail label)."""

    @model_validator(mode="after")
    def _one_verdict(self) -> HumanLabel:
        if (self.passed is None) == (self.winner is None):
            raise ValueError("a label is either a verdict (`label`: pass/fail) or a pair's `winner` (a, b, tie)")
        return self


HUMAN_LABEL_ARROW_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("evaluator", pa.string()),
        ("passed", pa.bool_()),
        ("winner", pa.string()),
        *LABEL_PROVENANCE_ARROW_FIELDS,
    ],
    metadata={"contract": "human_label", "version": str(HUMAN_LABEL_SCHEMA_VERSION)},
)

assert set(HUMAN_LABEL_ARROW_SCHEMA.names) == set(HumanLabel.model_fields), "human_label contract drift"
