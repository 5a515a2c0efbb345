"""The data contracts (docs/architecture.md, "Data contracts"), one module each; import them from here."""

from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS, CallRecord
from assay.contracts.candidate import Candidate, sanitise_candidate_id
from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS, Case
from assay.contracts.decision import (
    DECISION_ARROW_SCHEMA,
    DECISION_JSON_COLUMNS,
    Decision,
    GateResult,
)
from assay.contracts.failure import FAILURE_ARROW_SCHEMA, FAILURE_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA, Score
from assay.contracts.taxonomy import FAILURE_CATEGORIES, SAFETY_CATEGORIES

__all__ = [
    "CALL_ARROW_SCHEMA",
    "CALL_JSON_COLUMNS",
    "CASE_ARROW_SCHEMA",
    "CASE_JSON_COLUMNS",
    "DECISION_ARROW_SCHEMA",
    "DECISION_JSON_COLUMNS",
    "FAILURE_ARROW_SCHEMA",
    "FAILURE_CATEGORIES",
    "FAILURE_JSON_COLUMNS",
    "SAFETY_CATEGORIES",
    "SCORE_ARROW_SCHEMA",
    "CallRecord",
    "Candidate",
    "Case",
    "Decision",
    "GateResult",
    "Score",
    "sanitise_candidate_id",
]
