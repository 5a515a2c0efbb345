"""A prompt suggestion: a revised prompt template the judge model proposed from a candidate's
regressed cases, the evidence it was shown, and what the user decided.

Every `assay suggest` is kept, whatever came of it, in the lake table `prompt_suggestions`
(one partition per suggestion), so an accepted candidate in assay.yaml can be traced back to
the cases and the reply it came from, and a dismissed one is not lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

PROMPT_SUGGESTION_SCHEMA_VERSION = 1
SUGGESTIONS_TABLE = "prompt_suggestions"

SuggestionDecision = Literal["accepted", "dismissed", "undecided", "invalid", "failed"]
"""accepted: written to assay.yaml as a new candidate; dismissed: the user said no; undecided:
shown, but neither `--accept` nor an answer (no terminal to ask); invalid: the reply was not a
usable template (not JSON, a variable dropped or made up, no change); failed: the judge call
did not complete, or the config could not be written."""


class PromptSuggestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suggestion_id: str
    candidate_id: str
    """The candidate whose regressed cases the suggestion comes from."""
    candidate_fingerprint: str
    baseline_id: str
    dataset_version: str
    judge_model: str
    original_template: str | None = None
    suggested_template: str | None = None
    variables: list[str] = Field(default_factory=list)
    """The template variables (`{feature}`) the original had, and the suggestion keeps."""
    rationale: str = ""
    """The judge model's own account of what it changed and why."""
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    """The cases shown to the model: case_id, is_critical, feature, input, candidate and
    baseline outputs, failing evaluators with their explanations."""
    decision: SuggestionDecision
    reason: str = ""
    """How the decision was made (`--accept`, the answer to the prompt) or why it is invalid/failed."""
    new_candidate_id: str | None = None
    """The candidate written to assay.yaml (accepted only)."""
    cost_usd: float | None = None
    """What the judge calls cost (None: no price known for the judge model)."""
    is_cache_hit: bool = False
    created_at: datetime


PROMPT_SUGGESTION_ARROW_SCHEMA = pa.schema(
    [
        ("suggestion_id", pa.string()),
        ("candidate_id", pa.string()),
        ("candidate_fingerprint", pa.string()),
        ("baseline_id", pa.string()),
        ("dataset_version", pa.string()),
        ("judge_model", pa.string()),
        ("original_template", pa.string()),
        ("suggested_template", pa.string()),
        ("variables", pa.string()),
        ("rationale", pa.string()),
        ("evidence", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
        ("new_candidate_id", pa.string()),
        ("cost_usd", pa.float64()),
        ("is_cache_hit", pa.bool_()),
        ("created_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "prompt_suggestion", "version": str(PROMPT_SUGGESTION_SCHEMA_VERSION)},
)
PROMPT_SUGGESTION_JSON_COLUMNS = frozenset({"variables", "evidence"})

assert set(PROMPT_SUGGESTION_ARROW_SCHEMA.names) == set(PromptSuggestion.model_fields), "prompt suggestion contract drift"
