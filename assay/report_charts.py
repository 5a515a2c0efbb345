"""The decision report's charts, drawn as inline SVG (no script, nothing from the network):
the forest plot of metric deltas, the gate chart, trend lines and the cost-quality frontier.
Every piece of text goes through `esc`: labels come from config and data."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assay.contracts.decision import GateResult
from assay.glossary import show

PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#475569", "#b91c1c"]
STATUS_COLOURS = {"pass": "#15803d", "fail": "#b91c1c", "unavailable": "#a16207", "off": "#64748b"}
THRESHOLD_COLOUR = "#b91c1c"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}"


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
