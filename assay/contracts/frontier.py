"""A point of the cost-quality frontier: one candidate (the baseline too) of one decision run,
with its quality, cost per request and p95 latency, each with its interval, and whether no
other candidate beats it on all three at once (Pareto-optimal).

Kept per dataset version in the lake table `cost_quality_frontier`; shown in every decision
report (Markdown table, HTML chart, JSON) and by `assay report`.
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from assay.contracts._arrow import UTC_TIMESTAMP

FRONTIER_SCHEMA_VERSION = 1
FRONTIER_TABLE = "cost_quality_frontier"


class FrontierPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    dataset_version: str
    is_baseline: bool = False
    verdict: str | None = None
    """The candidate's decision; None for the baseline (it is what the others are decided against)."""
    rank: int | None = None
    pass_share: float | None = None
    """The candidate's mean pass share over the cases it completed (glossary: pass share)."""
    scored_cases: int = 0
    """Cases behind pass_share."""
    quality_delta: float | None = None
    """Pass-share delta against the baseline on the paired cases (the quality gate's number);
    0 for the baseline itself. The quality axis of the frontier."""
    quality_ci_low: float | None = None
    quality_ci_high: float | None = None
    cost_per_request_usd: float | None = None
    """By the cost gate's rule (glossary: cost per request); None when unknown, never $0."""
    cost_ci_low_usd: float | None = None
    cost_ci_high_usd: float | None = None
    latency_p95_ms: float | None = None
    """By the latency gate's rule (glossary: latency p95); None when unknown."""
    latency_ci_low_ms: float | None = None
    latency_ci_high_ms: float | None = None
    is_pareto_optimal: bool | None = None
    """True: no other candidate is at least as good on quality, cost and latency and better on
    one (point estimates). None: not placed, an axis is unknown (`note` says which)."""
    dominated_by: list[str] = Field(default_factory=list)
    note: str = ""


FRONTIER_ARROW_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("dataset_version", pa.string()),
        ("is_baseline", pa.bool_()),
        ("verdict", pa.string()),
        ("rank", pa.int64()),
        ("pass_share", pa.float64()),
        ("scored_cases", pa.int64()),
        ("quality_delta", pa.float64()),
        ("quality_ci_low", pa.float64()),
        ("quality_ci_high", pa.float64()),
        ("cost_per_request_usd", pa.float64()),
        ("cost_ci_low_usd", pa.float64()),
        ("cost_ci_high_usd", pa.float64()),
        ("latency_p95_ms", pa.float64()),
        ("latency_ci_low_ms", pa.float64()),
        ("latency_ci_high_ms", pa.float64()),
        ("is_pareto_optimal", pa.bool_()),
        ("dominated_by", pa.string()),
        ("note", pa.string()),
        ("computed_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "frontier_point", "version": str(FRONTIER_SCHEMA_VERSION)},
)
FRONTIER_JSON_COLUMNS = frozenset({"dominated_by"})

assert set(FRONTIER_ARROW_SCHEMA.names) - {"computed_at"} == set(FrontierPoint.model_fields), "frontier contract drift"
