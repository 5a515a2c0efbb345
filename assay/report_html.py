"""The decision report as one self-contained HTML page, and as JUnit XML for CI.

The page needs nothing from the network: inline CSS, charts drawn here as inline SVG, no
script, system fonts. Every piece of text that reaches it (model outputs, case inputs, ids,
config values) goes through `esc`: outputs are untrusted model text.
"""

from __future__ import annotations

import html
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.contracts.decision import Decision, GateResult
from assay.frontier import FRONTIER_NOTE, frontier_rows
from assay.glossary import show
from assay.report_data import DriftFlags

PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#475569", "#b91c1c"]
STATUS_COLOURS = {"pass": "#15803d", "fail": "#b91c1c", "unavailable": "#a16207", "off": "#64748b"}
VERDICT_COLOURS = {"approved": "#15803d", "rejected": "#b91c1c", "insufficient_evidence": "#a16207"}
THRESHOLD_COLOUR = "#b91c1c"
MAX_SERIES = 8
MAX_CASES_SHOWN = 10
EXCERPT_CHARS = 2000


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}"


# --- SVG charts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalRow:
    """One row of a forest plot: an estimate and its confidence interval."""

    label: str
    estimate: float
    low: float | None = None
    high: float | None = None
    n: int = 0
    highlight: bool = False
    significant: bool = False
    """Marked with * beside its label (Holm-adjusted p below alpha)."""


def _nice_range(values: Sequence[float], *, pad: float = 0.08) -> tuple[float, float]:
    low, high = min(values), max(values)
    if math.isclose(low, high):
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    span = high - low
    return low - span * pad, high + span * pad


def _scale(lo: float, hi: float, x0: float, x1: float) -> Callable[[float], float]:
    return lambda v: x0 + (v - lo) / (hi - lo) * (x1 - x0)


def forest_plot_svg(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    reference: float = 0.0,
    margin: float | None = None,
    value_format: Callable[[float], str] = lambda v: f"{v:+.3f}",
    width: int = 860,
) -> str:
    """Candidate minus baseline per metric with intervals; a line at `reference` (no difference)
    and, if given, a dashed line at -margin (the non-inferiority limit)."""
    row_h, top, bottom, label_w, value_w = 26, 44, 34, 230, 190
    height = top + bottom + row_h * max(len(rows), 1)
    plot_x0, plot_x1 = label_w, width - value_w
    points = [reference] + [v for r in rows for v in (r.estimate, r.low, r.high) if v is not None]
    if margin is not None:
        points.append(-margin)
    lo, hi = _nice_range(points)
    x = _scale(lo, hi, plot_x0, plot_x1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart forest" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
        f'<text x="8" y="20" class="chart-title">{esc(title)}</text>',
        f'<line x1="{x(reference):.1f}" y1="{top - 8}" x2="{x(reference):.1f}" y2="{height - bottom + 4}" stroke="#64748b"/>',
        f'<text x="{x(reference):.1f}" y="{height - 10}" text-anchor="middle" class="axis">{esc(value_format(reference))} (no change)</text>',
    ]
    if margin is not None:
        parts += [
            f'<line x1="{x(-margin):.1f}" y1="{top - 8}" x2="{x(-margin):.1f}" y2="{height - bottom + 4}" '
            f'stroke="{THRESHOLD_COLOUR}" stroke-dasharray="5 4"/>',
            f'<text x="{x(-margin):.1f}" y="{top - 12}" text-anchor="middle" class="axis" fill="{THRESHOLD_COLOUR}">'
            f"-margin {esc(value_format(-margin))}</text>",
        ]
    for i, row in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        colour = PALETTE[0] if not row.highlight else "#0f172a"
        if i % 2 == 0:
            parts.append(f'<rect x="0" y="{cy - row_h / 2:.1f}" width="{width}" height="{row_h}" fill="#f1f5f9"/>')
        weight = ' font-weight="bold"' if row.highlight else ""
        star = " *" if row.significant else ""
        parts.append(f'<text x="8" y="{cy + 4:.1f}" class="label"{weight}>{esc(row.label)} (n={row.n}){star}</text>')
        if row.low is not None and row.high is not None:
            parts.append(
                f'<line x1="{x(row.low):.1f}" y1="{cy:.1f}" x2="{x(row.high):.1f}" y2="{cy:.1f}" stroke="{colour}" stroke-width="3"/>'
            )
            interval = f"{value_format(row.estimate)} [{value_format(row.low)}, {value_format(row.high)}]"
        else:
            interval = value_format(row.estimate)
        parts.append(f'<rect x="{x(row.estimate) - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{plot_x1 + 10}" y="{cy + 4:.1f}" class="value">{esc(interval)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def gate_chart_svg(gates: Sequence[GateResult], *, width: int = 860) -> str:
    """Each gate on its own scale: the observed value, its interval, and the threshold."""
    shown = [g for g in gates if g.observed is not None and g.threshold is not None]
    row_h, top, label_w, value_w = 34, 34, 150, 390
    height = top + row_h * max(len(shown), 1) + 10
    plot_x0, plot_x1 = label_w, width - value_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart gates" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>Gates: observed (with interval) against threshold</title>',
        '<text x="8" y="20" class="chart-title">Gates: observed value (interval) against the threshold</text>',
    ]
    for i, gate in enumerate(shown):
        cy = top + row_h * i + row_h / 2
        points = [gate.observed, gate.threshold] + [v for v in (gate.ci_low, gate.ci_high) if v is not None]
        if gate.gate not in ("quality",):
            points.append(0.0)
        lo, hi = _nice_range(points)
        x = _scale(lo, hi, plot_x0, plot_x1)
        colour = STATUS_COLOURS.get(gate.status, "#334155")
        parts += [
            f'<text x="8" y="{cy + 4:.1f}" class="label">{esc(gate.gate)}</text>',
            f'<line x1="{plot_x0}" y1="{cy:.1f}" x2="{plot_x1}" y2="{cy:.1f}" stroke="#e2e8f0" stroke-width="8"/>',
            f'<line x1="{x(gate.threshold):.1f}" y1="{cy - 12:.1f}" x2="{x(gate.threshold):.1f}" y2="{cy + 12:.1f}" '
            f'stroke="{THRESHOLD_COLOUR}" stroke-width="2" stroke-dasharray="4 3"/>',
        ]
        if gate.ci_low is not None and gate.ci_high is not None:
            parts.append(
                f'<line x1="{x(gate.ci_low):.1f}" y1="{cy:.1f}" x2="{x(gate.ci_high):.1f}" y2="{cy:.1f}" '
                f'stroke="{colour}" stroke-width="4"/>'
            )
        parts.append(f'<circle cx="{x(gate.observed):.1f}" cy="{cy:.1f}" r="6" fill="{colour}"/>')
        interval = (
            f" [{show(gate.ci_low, gate.unit)}, {show(gate.ci_high, gate.unit)}]" if gate.ci_low is not None else ""
        )
        parts.append(
            f'<text x="{plot_x1 + 10}" y="{cy + 4:.1f}" class="value">{esc(gate.status)}: '
            f"{esc(show(gate.observed, gate.unit))}{esc(interval)} vs {esc(show(gate.threshold, gate.unit))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    series: dict[str, list[tuple[str, float | None]]],
    *,
    title: str,
    threshold: float | None = None,
    value_format: Callable[[float], str] = fmt_number,
    width: int = 860,
    height: int = 240,
    y_max: float | None = None,
) -> str:
    """Lines over days (x: the sorted union of the series' days), with an optional SLO line.
    y_max: the top of the axis when values have a natural ceiling (1.0 for a rate)."""
    left, right, top, bottom = 70, 190, 30, 40
    days = sorted({day for points in series.values() for day, _ in points})
    values = [v for points in series.values() for _, v in points if v is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trend" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
        f'<text x="8" y="18" class="chart-title">{esc(title)}</text>',
    ]
    if not values:
        parts.append(f'<text x="{left}" y="{height / 2:.0f}" class="axis">no data</text></svg>')
        return "".join(parts)
    lo = min(values + ([threshold] if threshold is not None else []) + [0.0])
    hi = max(values + ([threshold] if threshold is not None else []))
    hi = hi * 1.1 if hi > 0 else 1.0
    if y_max is not None and max(values) <= y_max:
        hi = min(hi, y_max)
    y = _scale(lo, hi, height - bottom, top)
    span = max(len(days) - 1, 1)
    x_of = {day: left + (width - left - right) * (i / span if len(days) > 1 else 0.5) for i, day in enumerate(days)}
    parts += [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#94a3b8"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#94a3b8"/>',
        f'<text x="{left - 6}" y="{y(hi) + 4:.1f}" text-anchor="end" class="axis">{esc(value_format(hi))}</text>',
        f'<text x="{left - 6}" y="{y(lo) + 4:.1f}" text-anchor="end" class="axis">{esc(value_format(lo))}</text>',
    ]
    step = max(1, math.ceil(len(days) / 8))
    for i, day in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            parts.append(f'<text x="{x_of[day]:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="axis">{esc(day[5:])}</text>')
    if threshold is not None:
        parts += [
            f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
            f'stroke="{THRESHOLD_COLOUR}" stroke-dasharray="6 4"/>',
            f'<text x="{left + 4}" y="{y(threshold) - 4:.1f}" class="axis" fill="{THRESHOLD_COLOUR}">'
            f"SLO {esc(value_format(threshold))}</text>",
        ]
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[i % len(PALETTE)]
        known = [(x_of[d], y(v)) for d, v in sorted(points) if v is not None]
        if len(known) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in known)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in known]
        legend_y = top + 8 + i * 16
        parts.append(f'<rect x="{width - right + 6}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{width - right + 20}" y="{legend_y + 1}" class="legend">{esc(name[:26])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def frontier_svg(points: Sequence[Any], *, highlight: str | None = None, width: int = 860, height: int = 340) -> str:
    """Every candidate at (cost per request, pass-share delta against the baseline), with both
    intervals as bars; Pareto-optimal ones filled, the others hollow. p95 latency, the third
    axis, is in the legend beside each name. `points`: assay.contracts.frontier.FrontierPoint."""
    left, right, top, bottom = 84, 290, 34, 48
    title = "Cost and quality of every candidate (filled: Pareto-optimal on quality, cost and p95 latency)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart frontier" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
        f'<text x="8" y="20" class="chart-title">{esc(title)}</text>',
    ]
    placed = [p for p in points if p.quality_delta is not None and p.cost_per_request_usd is not None]
    if not placed:
        parts.append(f'<text x="{left}" y="{height / 2:.0f}" class="axis">no candidate has both a known cost and '
                     "a quality delta</text></svg>")
        return "".join(parts)
    xs = [v for p in placed for v in (p.cost_per_request_usd, p.cost_ci_low_usd, p.cost_ci_high_usd) if v is not None]
    ys = [0.0] + [v for p in placed for v in (p.quality_delta, p.quality_ci_low, p.quality_ci_high) if v is not None]
    x_lo, x_hi = _nice_range(xs + [0.0] if min(xs) < max(xs) * 0.2 else xs)
    y_lo, y_hi = _nice_range(ys)
    x = _scale(x_lo, x_hi, left, width - right)
    y = _scale(y_lo, y_hi, height - bottom, top)
    x0, x1, y0, y1 = left, width - right, height - bottom, top
    parts += [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#94a3b8"/>',
        f'<line x1="{x0}" y1="{y1}" x2="{x0}" y2="{y0}" stroke="#94a3b8"/>',
        f'<line x1="{x0}" y1="{y(0.0):.1f}" x2="{x1}" y2="{y(0.0):.1f}" stroke="#64748b" stroke-dasharray="4 4"/>',
        f'<text x="{x1 - 4}" y="{y(0.0) + 13:.1f}" text-anchor="end" class="axis">baseline quality</text>',
        f'<text x="{x0}" y="{y0 + 16}" text-anchor="middle" class="axis">{esc(show(x_lo, "usd"))}</text>',
        f'<text x="{x1}" y="{y0 + 16}" text-anchor="middle" class="axis">{esc(show(x_hi, "usd"))}</text>',
        f'<text x="{(x0 + x1) / 2:.0f}" y="{height - 10}" text-anchor="middle" class="axis">cost per request (USD) '
        "→ cheaper to the left</text>",
        f'<text x="{x0 - 6}" y="{y1 + 4}" text-anchor="end" class="axis">{esc(show(y_hi, "delta"))}</text>',
        f'<text x="{x0 - 6}" y="{y0}" text-anchor="end" class="axis">{esc(show(y_lo, "delta"))}</text>',
        f'<text x="14" y="{(y0 + y1) / 2:.0f}" class="axis" transform="rotate(-90 14 {(y0 + y1) / 2:.0f})" '
        'text-anchor="middle">pass-share delta ↑ better</text>',
    ]
    for i, point in enumerate(points):
        colour = PALETTE[i % len(PALETTE)]
        weight = ' font-weight="bold"' if point.candidate_id == highlight else ""
        legend_y = top + 10 + i * 34
        mark = ("Pareto-optimal" if point.is_pareto_optimal else
                "not placed" if point.is_pareto_optimal is None else "dominated")
        fill = colour if point.is_pareto_optimal else "#fff"
        parts += [
            f'<circle cx="{width - right + 16}" cy="{legend_y - 4}" r="6" fill="{fill}" stroke="{colour}" stroke-width="2.5"/>',
            f'<text x="{width - right + 28}" y="{legend_y}" class="legend"{weight}>'
            f"{esc(point.candidate_id[:24])}{' (baseline)' if point.is_baseline else ''}</text>",
            f'<text x="{width - right + 28}" y="{legend_y + 13}" class="axis">p95 {esc(show(point.latency_p95_ms, "ms"))}'
            f" · {esc(mark)}</text>",
        ]
        if point not in placed:
            continue
        cx, cy = x(point.cost_per_request_usd), y(point.quality_delta)
        if point.quality_ci_low is not None and point.quality_ci_high is not None:
            parts.append(f'<line x1="{cx:.1f}" y1="{y(point.quality_ci_low):.1f}" x2="{cx:.1f}" '
                         f'y2="{y(point.quality_ci_high):.1f}" stroke="{colour}" stroke-width="1.5"/>')
        if point.cost_ci_low_usd is not None and point.cost_ci_high_usd is not None:
            parts.append(f'<line x1="{x(point.cost_ci_low_usd):.1f}" y1="{cy:.1f}" x2="{x(point.cost_ci_high_usd):.1f}" '
                         f'y2="{cy:.1f}" stroke="{colour}" stroke-width="1.5"/>')
        parts += [
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="{fill}" stroke="{colour}" stroke-width="2.5"/>',
            # Near the right edge the name goes left of the point, clear of the legend.
            f'<text x="{cx - 10 if cx > x1 - 140 else cx + 10:.1f}" y="{cy - 9:.1f}" class="label"{weight} '
            f'text-anchor="{"end" if cx > x1 - 140 else "start"}">{esc(point.candidate_id[:24])}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


# --- trends from the marts -------------------------------------------------------------------


TREND_DIMENSIONS = ("app", "feature", "model", "prompt_version")


def slo_series(slo_rows: Sequence[dict[str, Any]], column: str) -> dict[str, list[tuple[str, float | None]]]:
    """One series per slo_daily grain (named by the dimensions that vary), the MAX_SERIES
    busiest kept: a chart with twenty lines says nothing."""
    varying = [d for d in TREND_DIMENSIONS if len({r.get(d) for r in slo_rows}) > 1] or ["feature"]
    series: dict[str, list[tuple[str, float | None]]] = {}
    volume: dict[str, int] = {}
    for row in slo_rows:
        name = " · ".join(str(row.get(d)) for d in varying)
        series.setdefault(name, []).append((str(row["day"]), row.get(column)))
        volume[name] = volume.get(name, 0) + (row.get("calls") or 0)
    keep = sorted(volume, key=lambda n: (-volume[n], n))[:MAX_SERIES]
    return {name: series[name] for name in keep}


def evaluator_series(evaluator_rows: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, float | None]]]:
    series: dict[str, list[tuple[str, float | None]]] = {}
    volume: dict[str, int] = {}
    for row in evaluator_rows:
        series.setdefault(row["evaluator"], []).append((str(row["day"]), row.get("pass_rate")))
        volume[row["evaluator"]] = volume.get(row["evaluator"], 0) + (row.get("completed_scores") or 0)
    # Evaluators that fail most are the interesting lines; ties by volume.
    worst = sorted(series, key=lambda n: (min((v for _, v in series[n] if v is not None), default=1.0), -volume[n], n))
    return {name: series[name] for name in worst[:MAX_SERIES]}


# --- the page --------------------------------------------------------------------------------


@dataclass
class ReportView:
    """Everything the HTML page shows (built by assay/reports.py from the decision run)."""

    decision: Decision
    candidate_label: str
    baseline_label: str
    metric_rows: list[IntervalRow] = field(default_factory=list)
    """The forest plot, drawn from `metric_table` (the same rows)."""
    metric_table: list[dict[str, Any]] = field(default_factory=list)
    """The candidate's `candidate_metric_comparison` rows."""
    quality_margin: float | None = None
    confidence: float = 0.95
    slo_rows: list[dict[str, Any]] = field(default_factory=list)
    evaluator_rows: list[dict[str, Any]] = field(default_factory=list)
    slo_limits: dict[str, float] = field(default_factory=dict)
    drift: DriftFlags | None = None
    drift_note: str = ""
    critical_cases: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    flaky_cases: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    other_regressed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    regressed_total: int = 0
    files: dict[str, str] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)
    """The definitions of the numbers on the page (assay.glossary)."""
    frontier: list[Any] = field(default_factory=list)
    """Every candidate of the decision run on quality, cost and latency (FrontierPoint)."""


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:900px;
color:#0f172a;line-height:1.45;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.verdict{display:inline-block;color:#fff;border-radius:4px;padding:2px 10px;font-weight:700;letter-spacing:.03em}
.muted{color:#475569;font-size:14px}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f8fafc}
.status-pass{color:#15803d;font-weight:700}.status-fail{color:#b91c1c;font-weight:700}
.status-unavailable{color:#a16207;font-weight:700}
svg.chart{display:block;margin:8px 0;max-width:100%;height:auto;background:#fff}
svg .chart-title{font-size:14px;font-weight:600;fill:#0f172a}svg .axis{font-size:11px;fill:#475569}
svg .label,svg .value,svg .legend{font-size:12px;fill:#0f172a}
.case{border:1px solid #e2e8f0;border-radius:6px;margin:12px 0;padding:8px}
.sidebyside{display:grid;grid-template-columns:1fr 1fr 1fr;gap:8px}
.sidebyside pre{white-space:pre-wrap;word-break:break-word;background:#f8fafc;border:1px solid #e2e8f0;
padding:6px;margin:4px 0 0;font-size:12px;max-height:320px;overflow:auto}
.flag{color:#b91c1c;font-weight:700}code{font-size:13px}
table.fit{table-layout:fixed}table.fit td,table.fit th{overflow-wrap:anywhere;word-break:break-word}
table.num td{font-variant-numeric:tabular-nums}.small{font-size:12px}
dl.terms dt{font-weight:600;margin-top:6px}dl.terms dd{margin:0 0 0 16px;color:#334155;font-size:14px}
"""


def _excerpt(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " …"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def case_origin(detail: dict[str, Any]) -> str:
    """Where a case came from, for its heading: a golden scenario (and its file), a red-team
    attack (and its pack), or a production call (its feature, and the failure that promoted it
    or `passing production sample`)."""
    metadata = detail.get("metadata") or {}
    feature = detail.get("feature")
    if detail.get("source") == "golden":
        where = f" from {metadata['file']}" if metadata.get("file") else ""
        return f"golden case{where}" + (f", feature {feature}" if feature else "")
    if detail.get("source") == "redteam":
        attack = metadata.get("attack") or metadata.get("category")
        pack = metadata.get("pack")
        return "red-team case" + (f" ({attack})" if attack else "") + (f", pack {pack}" if pack else "")
    return f"{feature or 'no feature'}, {detail.get('failure_category') or 'passing production sample'}"


def _case_block(case_id: str, detail: dict[str, Any]) -> str:
    return (
        f'<div class="case"><div><code>{esc(case_id)}</code> — {esc(case_origin(detail))}, '
        f'tier {esc(detail.get("tier") or "?")}</div>'
        '<div class="sidebyside">'
        f'<div><b>Input</b><pre>{esc(_excerpt(detail.get("input_text")))}</pre></div>'
        f'<div><b>Baseline output</b> (pass share {esc(_share(detail.get("baseline_pass_share")))})'
        f'<pre>{esc(_excerpt(detail.get("baseline_output")))}</pre></div>'
        f'<div><b>Candidate output</b> (pass share {esc(_share(detail.get("candidate_pass_share")))}; failed: '
        f'{esc(detail.get("candidate_failed") or "–")})<pre>{esc(_excerpt(detail.get("candidate_output")))}</pre></div>'
        "</div></div>"
    )


def _metric_section(view: ReportView) -> list[str]:
    out = ["<h2>Every metric, candidate against baseline</h2>"]
    if not view.metric_table:
        return out + ['<p class="muted">No metric was scored on both candidate and baseline.</p>']
    alpha = 1 - view.confidence
    out.append(
        f'<p class="muted">Each metric on the cases both completed it (paired): mean pass share of each side, the '
        f"mean paired difference with its {view.confidence:.0%} paired bootstrap interval, McNemar's exact p on "
        f"pass/fail, and Holm's adjustment across the candidate's {len(view.metric_table)} metrics; "
        f"<b>significant</b> (*) when the Holm p is below {alpha:.2g}.</p>"
    )
    out.append('<table class="fit num small"><tr><th style="width:20%">metric</th><th style="width:8%">paired cases</th>'
               '<th style="width:9%">candidate</th><th style="width:9%">baseline</th>'
               '<th style="width:22%">delta (interval)</th><th style="width:10%">McNemar p</th>'
               '<th style="width:10%">Holm p</th><th style="width:12%">significant</th></tr>')
    for r in view.metric_table:
        delta = "–" if r.get("mean_delta") is None else (
            f"{show(r['mean_delta'], 'delta')} ({show(r.get('ci_low'), 'delta')} to {show(r.get('ci_high'), 'delta')})")
        out.append(
            f"<tr><td>{esc(r['metric'])}</td><td>{r['paired_cases']}</td><td>{esc(_share(r.get('candidate_mean')))}</td>"
            f"<td>{esc(_share(r.get('baseline_mean')))}</td><td>{esc(delta)}</td><td>{esc(show(r.get('mcnemar_p'), 'p'))}</td>"
            f"<td>{esc(show(r.get('holm_p'), 'p'))}</td><td>{'yes' if r.get('significant') else 'no'}</td></tr>"
        )
    out.append("</table>")
    if view.metric_rows:
        out.append(
            '<p class="muted">The same rows as a forest plot. Left of the dashed line is worse than the '
            "non-inferiority margin allows.</p>"
        )
        out.append(forest_plot_svg(view.metric_rows, title="pass share: candidate − baseline", margin=view.quality_margin))
    return out


def _frontier_section(view: ReportView) -> list[str]:
    if not view.frontier:
        return []
    out = ["<h2>Cost and quality of every candidate</h2>", f'<p class="muted">{esc(FRONTIER_NOTE)}</p>']
    rows = frontier_rows(view.frontier)
    columns = list(rows[0])
    out.append('<table class="fit num small"><tr>' + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>")
    for point, row in zip(view.frontier, rows, strict=True):
        style = ' style="font-weight:700"' if point.candidate_id == view.decision.candidate_id else ""
        cells = "".join(f"<td>{esc(row[c])}</td>" for c in columns)
        out.append(f"<tr{style}>{cells}</tr>")
    out.append("</table>")
    out.append(frontier_svg(view.frontier, highlight=view.decision.candidate_id))
    return out


def _evidence_section(view: ReportView) -> list[str]:
    evidence = next((g for g in view.decision.gates if g.gate == "evidence"), None)
    breakdown = (evidence.breakdown or {}) if evidence else {}
    sides = [(role, breakdown[role]) for role in ("candidate", "baseline") if role in breakdown]
    out = ["<h2>Evidence lost to errors and skips</h2>"]
    if not sides:
        return out + ['<p class="muted">Not counted (no per-evaluation rows).</p>']
    out.append('<table class="fit num small"><tr><th style="width:26%">side</th><th style="width:10%">source</th>'
               '<th style="width:8%">lost</th><th style="width:8%">of</th><th style="width:10%">error share</th>'
               "<th>by type</th></tr>")
    for role, side in sides:
        for source in ("replays", "judges", "checks"):
            count = side[source]
            kinds = ", ".join(f"{k} ×{n}" for k, n in count["by_type"].items()) or "–"
            out.append(f"<tr><td>{esc(role)} <code>{esc(side['candidate_id'])}</code></td><td>{source}</td>"
                       f"<td>{count['lost']}</td><td>{count['total']}</td><td>{esc(show(count['share'], 'share'))}</td>"
                       f"<td>{esc(kinds)}</td></tr>")
    out.append(f'</table><p class="muted">Ceiling {esc(show(breakdown.get("max_error_share"), "share"))} of any '
               "source (gate.max_error_share); above it the verdict is insufficient evidence whatever the other gates "
               "say. Evaluations that apply to neither side are not counted.</p>")
    return out


def _trend_section(view: ReportView) -> list[str]:
    out = ['<h2>Production SLOs over time</h2>']
    if not view.slo_rows:
        out.append('<p class="muted">No <code>slo_daily</code> rows in the warehouse yet.</p>')
    else:
        days = sorted({r["day"] for r in view.slo_rows})
        out.append(f'<p class="muted">From the <code>slo_daily</code> mart, {esc(days[0])} to {esc(days[-1])}; '
                   "the dashed line is the SLO in force.</p>")
        charts = [
            ("latency_p95_ms", "p95 latency (ms)", view.slo_limits.get("latency_p95_ms"), lambda v: f"{v:.0f}"),
            ("cost_per_request_usd", "cost per request (USD)", view.slo_limits.get("cost_per_request_usd"),
             lambda v: f"{v:.3g}"),
            ("error_rate", "error rate", view.slo_limits.get("error_rate"), lambda v: f"{v:.1%}"),
            ("pass_rate", "pass rate (scored calls passing every evaluator)", None, lambda v: f"{v:.0%}"),
        ]
        for column, title, limit, show in charts:
            ceiling = 1.0 if column.endswith("_rate") else None
            out.append(line_chart_svg(slo_series(view.slo_rows, column), title=title, threshold=limit,
                                      value_format=show, y_max=ceiling))
    if view.evaluator_rows:
        out.append(line_chart_svg(evaluator_series(view.evaluator_rows),
                                  title="evaluator pass rate (evaluator_daily; lowest first)",
                                  value_format=lambda v: f"{v:.0%}", y_max=1.0))
    return out


def _drift_section(view: ReportView) -> list[str]:
    out = ["<h2>Drift</h2>"]
    if view.drift is None:
        out.append(f'<p class="muted">Not shown: {esc(view.drift_note or "no drift mart")}.</p>')
        return out
    rows = view.drift.rows
    when = f" on {esc(view.drift.day)}" if view.drift.day else ""
    if not rows:
        out.append(f"<p>No drift flagged{when}.</p>")
        return out
    out.append(f'<p class="flag">{len(rows)} drift flag(s){when}</p>')
    out.append('<table class="fit num small"><tr><th style="width:14%">metric</th><th style="width:14%">segment</th>'
               '<th style="width:16%">reference → recent</th><th style="width:9%">p-value</th>'
               '<th style="width:13%">effect</th><th>reason</th></tr>')
    for row in rows[:50]:
        segment = " · ".join(str(row[k]) for k in ("feature", "evaluator") if row.get(k))
        ref, rec = row.get("reference_value"), row.get("recent_value")
        change = f"{fmt_number(ref)} → {fmt_number(rec)}" if ref is not None or rec is not None else "–"
        counts = (f" (n {row['reference_n']} → {row['recent_n']})"
                  if row.get("reference_n") is not None and row.get("recent_n") is not None else "")
        kind = row.get("effect_size_kind")
        effect = f"{fmt_number(row.get('effect_size'))}" + (f" ({kind})" if kind else "")
        out.append(
            f"<tr><td>{esc(row.get('metric'))}</td><td>{esc(segment)}</td><td>{esc(change + counts)}</td>"
            f"<td>{esc(show(row.get('p_value'), 'p'))}</td><td>{esc(effect)}</td><td>{esc(row.get('reason') or '–')}</td></tr>"
        )
    out.append("</table>")
    return out


def render_html(view: ReportView) -> str:
    d = view.decision
    verdict_colour = VERDICT_COLOURS.get(d.verdict, "#334155")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No network: a policy that forbids anything but inline styles and data: images.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Deploy decision: {esc(d.candidate_id)} — {esc(d.verdict)}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<h1>Deploy decision: {esc(d.candidate_id)} <span class="verdict" style="background:{verdict_colour}">'
        f'{esc(d.verdict.upper().replace("_", " "))}</span></h1>',
        f'<p class="muted">Candidate {esc(view.candidate_label)} against baseline {esc(view.baseline_label)}. '
        f"Evidence: {esc(d.window)}. Decided {esc(d.decided_at.isoformat(timespec='seconds'))}."
        + (f" Rank {d.rank} of the candidates decided together." if d.rank else "") + "</p>",
        "<h2>Why</h2><ul>",
        *[f"<li>{esc(reason)}</li>" for reason in d.reasons],
        "</ul><h2>Gates</h2>",
        "<table><tr><th>gate</th><th>status</th><th>observed</th><th>threshold</th><th>interval</th><th>n</th>"
        "<th>detail</th></tr>",
    ]
    for g in d.gates:
        interval = f"{show(g.ci_low, g.unit)} to {show(g.ci_high, g.unit)}" if g.ci_low is not None else "–"
        out.append(
            f"<tr><td>{esc(g.gate)}</td><td class=\"status-{esc(g.status)}\">{esc(g.status)}</td>"
            f"<td>{esc(show(g.observed, g.unit))}</td><td>{esc(show(g.threshold, g.unit))}</td><td>{esc(interval)}</td>"
            f"<td>{g.n}</td><td>{esc(g.detail)}</td></tr>"
        )
    out.append("</table>")
    out.append(gate_chart_svg(d.gates))
    out += _metric_section(view)
    out += _frontier_section(view)
    out += _evidence_section(view)
    out += _trend_section(view)
    out += _drift_section(view)
    out.append(f"<h2>Critical cases that regressed ({len(view.critical_cases)})</h2>")
    if not view.critical_cases:
        out.append("<p>None.</p>")
    out += [_case_block(cid, detail) for cid, detail in view.critical_cases[:MAX_CASES_SHOWN]]
    if view.flaky_cases:
        out.append(f"<h2>Flaky critical regressions: did not reproduce, not counted ({len(view.flaky_cases)})</h2>")
        out += [_case_block(cid, detail) for cid, detail in view.flaky_cases[:MAX_CASES_SHOWN]]
    others = view.other_regressed
    out.append(f"<h2>Other cases that got worse ({len(others)})</h2>")
    if not others:
        out.append("<p>None.</p>")
    out += [_case_block(cid, detail) for cid, detail in others[:MAX_CASES_SHOWN]]
    if len(others) > MAX_CASES_SHOWN:
        out.append(f'<p class="muted">…and {len(others) - MAX_CASES_SHOWN} more (all ids in the JSON report).</p>')
    if view.terms:
        out.append('<h2>Definitions</h2><dl class="terms">')
        out += [f"<dt>{esc(name)}</dt><dd>{esc(text)}</dd>" for name, text in view.terms.items()]
        out.append("</dl>")
    out += [
        "<h2>Where the numbers come from</h2>",
        f"<p>Per-case rows of <code>candidate_case_scores</code> and per-evaluation rows of "
        f"<code>candidate_case_metrics</code> in the warehouse for candidate_id in "
        f"(<code>{esc(d.candidate_id)}</code>, <code>{esc(d.baseline_id)}</code>) and dataset_version = "
        f"<code>{esc(d.dataset_version)}</code>; the per-metric table and forest plot from "
        "<code>candidate_metric_comparison</code>; trends from <code>slo_daily</code> and <code>evaluator_daily</code>. "
        "The JSON report beside this file lists every case id behind each gate.</p>",
    ]
    if view.files:
        out.append("<p class=\"muted\">Files: " + ", ".join(f"{esc(k)}: <code>{esc(v)}</code>" for k, v in view.files.items()) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)


# --- JUnit XML -------------------------------------------------------------------------------


def render_junit(decision: Decision) -> str:
    """One testsuite per candidate, one testcase per gate: `failure` for a failed gate,
    `skipped` for an unavailable one. CI systems show it as a test report."""
    gates = decision.gates
    suite = ET.Element(
        "testsuite",
        {
            "name": f"assay.deploy_gate.{decision.candidate_id}",
            "tests": str(len(gates)),
            "failures": str(sum(g.status == "fail" for g in gates)),
            "errors": "0",
            "skipped": str(sum(g.status in ("unavailable", "off") for g in gates)),
            "time": "0",
            "timestamp": decision.decided_at.isoformat(timespec="seconds"),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", decision.verdict),
        ("baseline_id", decision.baseline_id),
        ("dataset_version", decision.dataset_version),
        ("window", decision.window),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for gate in gates:
        case = ET.SubElement(
            suite, "testcase",
            {"classname": f"assay.deploy_gate.{decision.candidate_id}", "name": gate.gate, "time": "0"},
        )
        summary = (f"observed {show(gate.observed, gate.unit)}, threshold {show(gate.threshold, gate.unit)}"
                   + (f", interval {show(gate.ci_low, gate.unit)} to {show(gate.ci_high, gate.unit)}"
                      if gate.ci_low is not None else "")
                   + f", n={gate.n}")
        if gate.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": gate.detail or "gate failed", "type": "gate_failed"})
            failure.text = summary
        elif gate.status == "unavailable":
            ET.SubElement(case, "skipped", {"message": f"not enough evidence: {gate.detail}"})
        elif gate.status == "off":
            ET.SubElement(case, "skipped", {"message": f"gate off: {gate.detail}"})
        else:
            ET.SubElement(case, "system-out").text = f"{gate.detail} ({summary})"
    root = ET.Element("testsuites", {"name": "assay deploy gate"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
