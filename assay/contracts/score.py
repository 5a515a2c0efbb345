"""The score: one (subject, evaluator, metric) result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

SCORE_SCHEMA_VERSION = 3

ScoreStatus = Literal["completed", "error", "skipped", "unavailable"]
SCORE_STATUSES: tuple[str, ...] = get_args(ScoreStatus)
"""The one list of score statuses: the GE suites and dbt's tests use it."""
EvaluationOutcome = Literal["completed", "error", "skipped"]
EVALUATION_OUTCOMES: tuple[str, ...] = get_args(EvaluationOutcome)
"""How one evaluator's scores of one case ended, together (`candidate_case_metrics.outcome`):
error if any errored, else completed if any completed, else skipped."""
JudgeMode = Literal["sync", "batch"]
JUDGE_MODES: tuple[str, ...] = get_args(JudgeMode)
"""How a score's judge calls were made: one request each, or through a provider's Batch API."""


class Score(BaseModel):
    """What an evaluator says about one subject (a production call or a regression case).

    `status` is never dropped: a score that could not be computed is `error` (it was tried and
    failed), `skipped` (deliberately not tried: missing inputs, budget) or `unavailable`
    (the evaluator cannot run here, e.g. no judge configured), always with an explanation.
    """

    model_config = ConfigDict(extra="forbid")

    subject_id: str
    """call_id for production scores, case_id for candidate scores."""
    evaluator: str
    evaluator_version: str
    metric: str
    value: float | None = None
    passed: bool | None = None
    label: str | None = None
    failure_category: str | None = None
    """Taxonomy label when passed is False (docs/architecture.md, "Failure taxonomy")."""
    explanation: str | None = None
    status: ScoreStatus = "completed"
    judge_model: str | None = None
    judge_input_tokens: int | None = Field(default=None, ge=0)
    judge_output_tokens: int | None = Field(default=None, ge=0)
    judge_cost_usd: float | None = Field(default=None, ge=0)
    duration_ms: float | None = Field(default=None, ge=0)
    run_id: str | None = None
    scored_at: datetime | None = None
    judge_attempts: int | None = Field(default=None, ge=0)
    """Calls sent to the judge's provider for this score, retries and repair included."""
    judge_is_cache_hit: bool | None = None
    """True when every judge answer came from the cache (nothing was paid)."""
    judge_mode: JudgeMode | None = None
    """`sync` or `batch` (`judge.mode`); None for a score with no judge call."""
    judge_cost_source: str | None = None
    """Where `judge_cost_usd` came from (`assay.pricing`): config_price, litellm_price_map,
    litellm_batch_price_map (the provider's batch price), batch_discount (the configured
    fraction of the synchronous price), unknown; several joined by `+` when the calls differ."""
    details: dict[str, Any] | None = None
    """Evaluator-specific evidence: the votes and their spread for n-sample judging, both
    orders and position consistency for pairwise judging, whether a reply was repaired."""


SCORE_ARROW_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("evaluator", pa.string()),
        ("evaluator_version", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("passed", pa.bool_()),
        ("label", pa.string()),
        ("failure_category", pa.string()),
        ("explanation", pa.string()),
        ("status", pa.string()),
        ("judge_model", pa.string()),
        ("judge_input_tokens", pa.int64()),
        ("judge_output_tokens", pa.int64()),
        ("judge_cost_usd", pa.float64()),
        ("duration_ms", pa.float64()),
        ("run_id", pa.string()),
        ("scored_at", UTC_TIMESTAMP),
        ("judge_attempts", pa.int64()),
        ("judge_is_cache_hit", pa.bool_()),
        ("details", pa.string()),
        ("judge_mode", pa.string()),
        ("judge_cost_source", pa.string()),
    ],
    metadata={"contract": "score", "version": str(SCORE_SCHEMA_VERSION)},
)

SCORE_JSON_COLUMNS: frozenset[str] = frozenset({"details"})

assert set(SCORE_ARROW_SCHEMA.names) == set(Score.model_fields), "score contract drift"
