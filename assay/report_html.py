"""The decision report as one self-contained HTML page.

The page needs nothing from the network: inline CSS, charts drawn as inline SVG
(`assay.report_charts`), no script, system fonts. Every piece of text that reaches it (model
outputs, case inputs, ids, config values) goes through `esc`: outputs are untrusted model text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.contracts.decision import Decision
from assay.frontier import FRONTIER_NOTE, frontier_rows
from assay.glossary import show
from assay.report_charts import (
    IntervalRow,
    esc,
    fmt_number,
    forest_plot_svg,
    frontier_svg,
    gate_chart_svg,
    line_chart_svg,
)
from assay.report_data import DriftFlags

VERDICT_COLOURS = {"approved": "#15803d", "rejected": "#b91c1c", "insufficient_evidence": "#a16207"}
MAX_SERIES = 8
MAX_CASES_SHOWN = 10
EXCERPT_CHARS = 2000


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
    agent_rows: list[dict[str, Any]] = field(default_factory=list)
    """`agent_daily` per day and subject kind: agent runs (trace) and conversations (session)."""
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
    juries: list[dict[str, Any]] = field(default_factory=list)
    """Per jury evaluator behind the verdict, its jurors' agreement (`jury_verdict_agreement`)."""


def jury_sentences(juries: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per jury evaluator behind a verdict: who the jurors are and how much they
    agreed (Fleiss' kappa) on the candidate's and the baseline's outputs."""
    candidates, baselines = "candidate's", "baseline's"  # 3.11's f-strings cannot nest the quote

    def side(figures: dict[str, Any] | None, whose: str) -> str:
        if not figures or not figures.get("outputs"):
            return f"no {whose} output judged by every juror"
        kappa = "—" if figures["fleiss_kappa"] is None else f"{figures['fleiss_kappa']:.2f}"
        return (f"{kappa} on the {whose} {figures['outputs']} outputs (all jurors agree on "
                f"{figures['unanimous_share']:.0%})")

    return [f"{j['evaluator']}: a jury of {len(j['jurors'])} ({', '.join(j['jurors'])}; {j['jury_reducer']}); "
            f"Fleiss' kappa between the jurors {side(j.get('candidate'), candidates)}, {side(j.get('baseline'), baselines)}"
            for j in juries]


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
    origin = f"{feature or 'no feature'}, {detail.get('failure_category') or 'passing production sample'}"
    if metadata.get("replay_turn"):
        # A conversation's case: replayed at its failing turn with the recorded history.
        origin += f", multi-turn: replayed at turn {metadata['replay_turn']} of session {metadata.get('session_id')}"
    elif metadata.get("trace_id"):
        origin += f", agent run {metadata['trace_id']}"
    return origin


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


AGENT_KINDS = {"trace": "agent runs", "session": "conversations"}


def _agent_section(view: ReportView) -> list[str]:
    out = ["<h2>Agent runs and conversations</h2>"]
    if not view.agent_rows:
        out.append('<p class="muted">No <code>agent_daily</code> rows: no traces or sessions were scored.</p>')
        return out
    series: dict[str, list[tuple[str, float | None]]] = {}
    for row in view.agent_rows:
        series.setdefault(AGENT_KINDS.get(row["subject_kind"], row["subject_kind"]), []).append((row["day"], row["pass_rate"]))
    out.append('<p class="muted">From the <code>agent_daily</code> mart: an agent run (trace) or a conversation '
               "(session) passes when every evaluator that scored it passed.</p>")
    out.append(line_chart_svg(series, title="pass rate of agent runs and conversations", value_format=lambda v: f"{v:.0%}",
                              y_max=1.0))
    out.append('<table class="num small"><tr><th>day</th><th>kind</th><th>subjects</th><th>pass rate</th>'
               "<th>mean steps</th><th>tokens per task</th><th>mean turns</th><th>tool errors</th></tr>")
    for row in view.agent_rows[-40:]:
        out.append(
            f"<tr><td>{esc(row['day'])}</td><td>{esc(AGENT_KINDS.get(row['subject_kind'], row['subject_kind']))}</td>"
            f"<td>{esc(row['subjects'])}</td><td>{esc(_share(row['pass_rate']))}</td>"
            f"<td>{esc(fmt_number(row['mean_steps']) if row['mean_steps'] is not None else '–')}</td>"
            f"<td>{esc(fmt_number(row['tokens_per_task']) if row['tokens_per_task'] is not None else '–')}</td>"
            f"<td>{esc(fmt_number(row['mean_turns']) if row['mean_turns'] is not None else '–')}</td>"
            f"<td>{esc(row['tool_errors'] if row['tool_errors'] is not None else '–')}</td></tr>"
        )
    out.append("</table>")
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
        "</ul>",
        *(["<h2>Jury agreement</h2><ul>", *[f"<li>{esc(line)}</li>" for line in jury_sentences(view.juries)], "</ul>"]
          if view.juries else []),
        "<h2>Gates</h2>",
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
    out += _agent_section(view)
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
