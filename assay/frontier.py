"""The cost-quality frontier: every candidate of a decision run (the baseline too) on quality,
cost per request and p95 latency, and which of them no other candidate beats on all three.

Quality is the pass-share delta against the baseline on the paired cases (the quality gate's
number and interval; the baseline is 0 by definition); cost and latency follow the gates' rules
(assay.glossary), each with a bootstrap interval under the gate's settings. A candidate is
Pareto-optimal when no other is at least as good on every axis and better on one, on the point
estimates; the intervals are shown beside them so a reader can see when two points are within
noise of each other. An axis unknown for a candidate (no price, no latency, no quality interval)
leaves it unplaced, never placed at 0; an axis unknown for every candidate is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from assay.config import GateConfig
from assay.contracts.decision import Decision
from assay.contracts.frontier import (
    FRONTIER_ARROW_SCHEMA,
    FRONTIER_JSON_COLUMNS,
    FRONTIER_TABLE,
    FrontierPoint,
)
from assay.glossary import show
from assay.lake import Lake
from assay.stats import bootstrap_ci, mean_rows, p95_rows

AXES = (("quality_delta", "higher", "quality"), ("cost_per_request_usd", "lower", "cost per request"),
        ("latency_p95_ms", "lower", "p95 latency"))
"""(field, which way is better, name) of each axis."""


@dataclass(frozen=True)
class ReplaySamples:
    """What one candidate's replays measured: per-case pass shares, and the latency and cost
    values by the gates' rules (None: unknown for at least one replay, so unknown)."""

    pass_shares: list[float]
    latencies_ms: list[float] | None
    costs_usd: list[float] | None


def _interval(values: list[float] | None, statistic, gate: GateConfig) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    return bootstrap_ci(values, statistic, confidence=gate.confidence, resamples=gate.bootstrap_resamples, seed=gate.seed)


def build_frontier(
    *,
    dataset_version: str,
    baseline_id: str,
    decisions: Sequence[Decision],
    samples: Mapping[str, ReplaySamples],
    gate: GateConfig,
) -> list[FrontierPoint]:
    """One point per candidate in `samples` (the baseline first, then in rank order), marked."""
    by_id = {d.candidate_id: d for d in decisions}
    order = [baseline_id] + [d.candidate_id for d in sorted(decisions, key=lambda d: (d.rank or 0, d.candidate_id))]
    points = []
    for candidate_id in [c for c in order if c in samples]:
        sample = samples[candidate_id]
        decision = by_id.get(candidate_id)
        quality = next((g for g in decision.gates if g.gate == "quality"), None) if decision else None
        cost, cost_low, cost_high = _interval(sample.costs_usd, mean_rows, gate)
        p95, p95_low, p95_high = _interval(sample.latencies_ms, p95_rows, gate)
        is_baseline = candidate_id == baseline_id
        points.append(FrontierPoint(
            candidate_id=candidate_id,
            dataset_version=dataset_version,
            is_baseline=is_baseline,
            verdict=decision.verdict if decision else None,
            rank=decision.rank if decision else None,
            pass_share=sum(sample.pass_shares) / len(sample.pass_shares) if sample.pass_shares else None,
            scored_cases=len(sample.pass_shares),
            quality_delta=0.0 if is_baseline else (quality.observed if quality else None),
            quality_ci_low=None if is_baseline or quality is None else quality.ci_low,
            quality_ci_high=None if is_baseline or quality is None else quality.ci_high,
            cost_per_request_usd=cost, cost_ci_low_usd=cost_low, cost_ci_high_usd=cost_high,
            latency_p95_ms=p95, latency_ci_low_ms=p95_low, latency_ci_high_ms=p95_high,
        ))
    return mark_pareto(points)


def _at_least_as_good(a: FrontierPoint, b: FrontierPoint, axes: list[tuple[str, str, str]]) -> tuple[bool, bool]:
    """(a is at least as good as b on every axis, a is better on at least one)."""
    as_good, better = True, False
    for name, direction, _ in axes:
        x, y = getattr(a, name), getattr(b, name)
        if x == y:
            continue
        if (x > y) == (direction == "higher"):
            better = True
        else:
            as_good = False
    return as_good, better


def mark_pareto(points: Sequence[FrontierPoint]) -> list[FrontierPoint]:
    """The points with `is_pareto_optimal`, `dominated_by` and `note` set (copies)."""
    axes = [axis for axis in AXES if any(getattr(p, axis[0]) is not None for p in points)]
    dropped = [axis[2] for axis in AXES if axis not in axes]
    marked = []
    for point in points:
        missing = [label for name, _, label in axes if getattr(point, name) is None]
        marked.append(point.model_copy(update={
            "is_pareto_optimal": None, "dominated_by": [],
            "note": f"not placed: unknown {', '.join(missing)}" if missing else "",
        }))
    placed = [p for p in marked if not p.note]
    for point in placed:
        point.dominated_by = [
            other.candidate_id for other in placed
            if other is not point and _at_least_as_good(other, point, axes) == (True, True)
        ]
        point.is_pareto_optimal = not point.dominated_by
        if dropped:
            point.note = f"{', '.join(dropped)} unknown for every candidate: not compared"
    return marked


# --- shown in reports and by `assay report` ---------------------------------------------------


def _range(value: float | None, low: float | None, high: float | None, unit: str) -> str:
    if value is None:
        return "unknown"
    return show(value, unit) + (f" ({show(low, unit)} to {show(high, unit)})" if low is not None else "")


def _status(point: FrontierPoint) -> str:
    if point.is_pareto_optimal is None:
        return point.note or "not placed"
    if point.is_pareto_optimal:
        return "Pareto-optimal"
    return "dominated by " + ", ".join(point.dominated_by)


def frontier_rows(points: Sequence[FrontierPoint]) -> list[dict[str, str]]:
    """Each point as the cells a table shows (numbers with units, intervals, the mark)."""
    return [
        {
            "candidate": p.candidate_id + (" (baseline)" if p.is_baseline else ""),
            "verdict": p.verdict or "–",
            "pass share": show(p.pass_share, "share"),
            "quality delta": "0 (reference)" if p.is_baseline else _range(
                p.quality_delta, p.quality_ci_low, p.quality_ci_high, "delta"),
            "cost per request": _range(p.cost_per_request_usd, p.cost_ci_low_usd, p.cost_ci_high_usd, "usd"),
            "p95 latency": _range(p.latency_p95_ms, p.latency_ci_low_ms, p.latency_ci_high_ms, "ms"),
            "frontier": _status(p),
        }
        for p in points
    ]


FRONTIER_NOTE = (
    "Quality is the pass-share delta against the baseline on the paired cases (the quality gate's "
    "number, with its interval); cost per request and p95 latency follow the gates' rules, with bootstrap "
    "intervals. Pareto-optimal: no other candidate is at least as good on all three and better on one "
    "(point estimates; overlapping intervals mean the difference may be noise)."
)


def frontier_markdown(points: Sequence[FrontierPoint], *, highlight: str | None = None) -> list[str]:
    if not points:
        return ["No candidate measured."]
    rows = frontier_rows(points)
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for point, row in zip(points, rows, strict=True):
        cells = [row[c].replace("|", "\\|") for c in columns]
        if point.candidate_id == highlight:
            cells[0] = f"**{cells[0]}**"
        if point.is_pareto_optimal:
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", FRONTIER_NOTE]


def frontier_text(points: Sequence[FrontierPoint]) -> str:
    """A plain table for the terminal (`assay report`)."""
    rows = frontier_rows(points)
    if not rows:
        return "No cost-quality frontier yet."
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip(),
             "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


# --- the lake ----------------------------------------------------------------------------------


def write_frontier(lake: Lake, dataset_version: str, points: Sequence[FrontierPoint]) -> None:
    computed_at = datetime.now(UTC)
    lake.write_partition(
        FRONTIER_TABLE, [p.model_dump() | {"computed_at": computed_at} for p in points],
        partition={"dataset_version": dataset_version}, schema=FRONTIER_ARROW_SCHEMA, json_columns=FRONTIER_JSON_COLUMNS,
    )


def read_frontier(lake: Lake, dataset_version: str) -> list[FrontierPoint]:
    """The stored frontier of a dataset version ([] before the first decision that wrote one)."""
    import json

    table = lake.read_partition(FRONTIER_TABLE, {"dataset_version": dataset_version})
    points = []
    for row in table.to_pylist() if table is not None else []:
        row.pop("computed_at", None)
        row["dominated_by"] = json.loads(row["dominated_by"] or "[]")
        points.append(FrontierPoint.model_validate(row))
    return points
