"""A metric comparison: one candidate against another (the baseline, or any pair) on one metric,
over the cases both completed.

The rows behind the quality gate, the report's per-metric table and forest plot, `assay report
--format json`: one computation (`assay/metric_comparison.py`), run by the dbt model
`candidate_metric_comparison` and kept per dataset version in the lake table of the same name.
"""

from __future__ import annotations

from typing import Literal, get_args

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

METRIC_COMPARISON_SCHEMA_VERSION = 1

OVERALL_METRIC = "case_pass_share"
"""The metric over all evaluators: a case's pass share (the share of its completed evaluator
scores that passed), compared on the cases where both sides completed at least one. The quality
gate's number."""

Direction = Literal["better", "worse", "no clear difference", "not compared"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
"""How to read a comparison row (`assay.metric_comparison.direction`): better, worse, no clear
difference (not significant), not compared (no paired case)."""


class MetricComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    baseline_id: str
    """What the candidate is compared against: the baseline, or the second of a pair."""
    dataset_version: str
    metric: str
    """An evaluator name, or `case_pass_share` for all of them together."""
    paired_cases: int
    """Cases both sides completed this metric on: the only ones compared."""
    candidate_cases: int
    """Cases the candidate completed this metric on (paired or not)."""
    baseline_cases: int
    candidate_mean: float | None = None
    """Mean pass share over the paired cases (with none paired: over the candidate's own, for a
    metric only it has, such as a pairwise judge against the baseline)."""
    baseline_mean: float | None = None
    mean_delta: float | None = None
    """candidate_mean - baseline_mean: the mean of the per-case paired differences."""
    ci_low: float | None = None
    """Paired bootstrap interval of mean_delta (cases resampled with both their scores)."""
    ci_high: float | None = None
    confidence: float
    baseline_only_passes: int = 0
    """Paired cases the baseline passes and the candidate fails (McNemar's discordant pairs)."""
    candidate_only_passes: int = 0
    mcnemar_p: float | None = None
    """Two-sided exact McNemar p-value on pass/fail per case."""
    holm_p: float | None = None
    """mcnemar_p adjusted (Holm step-down) across every metric of this comparison."""
    significant: bool = False
    """holm_p < 1 - confidence: a difference on this metric the evidence supports, after
    correcting for testing all the metrics at once."""
    direction: Direction = "not compared"
    """How to read the row: better, worse, no clear difference (not significant), not compared
    (no paired case)."""


METRIC_COMPARISON_ARROW_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("baseline_id", pa.string()),
        ("dataset_version", pa.string()),
        ("metric", pa.string()),
        ("paired_cases", pa.int64()),
        ("candidate_cases", pa.int64()),
        ("baseline_cases", pa.int64()),
        ("candidate_mean", pa.float64()),
        ("baseline_mean", pa.float64()),
        ("mean_delta", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("confidence", pa.float64()),
        ("baseline_only_passes", pa.int64()),
        ("candidate_only_passes", pa.int64()),
        ("mcnemar_p", pa.float64()),
        ("holm_p", pa.float64()),
        ("significant", pa.bool_()),
        ("direction", pa.string()),
    ],
    metadata={"contract": "metric_comparison", "version": str(METRIC_COMPARISON_SCHEMA_VERSION)},
)

assert set(METRIC_COMPARISON_ARROW_SCHEMA.names) == set(MetricComparison.model_fields), "metric comparison contract drift"
