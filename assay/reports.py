"""Decision reports: Markdown and a self-contained HTML page for people, JSON for machines,
JUnit XML for CI, side by side in `ASSAY_HOME/reports/<date>/<candidate>.*`.

Every per-metric number (the Markdown table, the HTML table and forest plot, the JSON) comes
from the same rows: the candidate's `candidate_metric_comparison`.

Read back without Dagster: the latest decisions (`latest_decision_rows`), a decision as `assay
report --format json` prints it (`decision_records`), and `assay gate`'s exit status
(`gate_verdict`). The Dagster UI's summary of a decision run is `assay.assets.decision_metadata`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.ci_annotations import render_junit
from assay.config import GateConfig, SloConfig
from assay.contracts.candidate import Candidate
from assay.contracts.decision import Decision
from assay.contracts.frontier import FrontierPoint
from assay.contracts.metric_comparison import OVERALL_METRIC
from assay.frontier import frontier_markdown, read_frontier
from assay.glossary import TERMS, glossary_markdown, show
from assay.lake import Lake, atomic_write_text
from assay.metric_comparison import read_stored
from assay.report_data import read_snapshot
from assay.report_html import IntervalRow, ReportView, case_origin, jury_sentences, render_html
from assay.runtime import AssayHome

MAX_CASES_SHOWN = 10
EXCERPT_CHARS = 600
REPORT_TERMS = ["pass share", "pass-share delta", "case pass rate", "error share", "McNemar p", "Holm p",
                "latency p95", "cost per request"]
"""The terms a decision report uses, defined in its Definitions section (assay.glossary)."""


def _excerpt(text: Any) -> str:
    if text is None:
        return "_(none)_"
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    text = text.strip()
    return (text[:EXCERPT_CHARS] + " …") if len(text) > EXCERPT_CHARS else text


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _interval(low: float | None, high: float | None, unit: str | None) -> str:
    return "–" if low is None or high is None else f"{show(low, unit)} to {show(high, unit)}"


def metric_table_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-metric comparison as a Markdown table (a row per metric, case_pass_share first)."""
    if not rows:
        return ["No metric was scored on both sides."]
    confidence = rows[0].get("confidence") or 0.95
    lines = [
        f"| metric | paired cases | candidate | baseline | delta ({confidence:.0%} CI) | McNemar p | Holm p | significant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        delta = "–" if r.get("mean_delta") is None else (
            f"{show(r['mean_delta'], 'delta')} ({_interval(r.get('ci_low'), r.get('ci_high'), 'delta')})")
        lines.append(
            f"| {r['metric']} | {r['paired_cases']} | {_share(r.get('candidate_mean'))} | {_share(r.get('baseline_mean'))} "
            f"| {delta} | {show(r.get('mcnemar_p'), 'p')} | {show(r.get('holm_p'), 'p')} "
            f"| {'**yes**' if r.get('significant') else 'no'} |"
        )
    return lines


def evidence_table_markdown(decision: Decision) -> list[str]:
    evidence = next((g for g in decision.gates if g.gate == "evidence"), None)
    breakdown = (evidence.breakdown or {}) if evidence else {}
    sides = [(role, breakdown[role]) for role in ("candidate", "baseline") if role in breakdown]
    if not sides:
        return ["Not counted (no per-evaluation rows)."]
    lines = ["| side | source | lost | of | error share | by type |", "|---|---|---|---|---|---|"]
    for role, side in sides:
        for source in ("replays", "judges", "checks"):
            count = side[source]
            kinds = ", ".join(f"{k} ×{n}" for k, n in count["by_type"].items()) or "–"
            lines.append(f"| {role} `{side['candidate_id']}` | {source} | {count['lost']} | {count['total']} "
                         f"| {show(count['share'], 'share')} | {kinds} |")
    lines += ["", f"Ceiling: {show(breakdown.get('max_error_share'), 'share')} of any source (gate.max_error_share). "
                  "Evaluations that apply to neither side (a text check on a tool call) are not counted."]
    return lines


def render_markdown(
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
    metric_rows: Sequence[Mapping[str, Any]] = (),
    frontier: Sequence[FrontierPoint] = (),
    juries: Sequence[dict[str, Any]] = (),
) -> str:
    rank = f" Rank {decision.rank} of the candidates decided together." if decision.rank else ""
    lines = [
        f"# Deploy decision: {decision.candidate_id} — {decision.verdict.upper().replace('_', ' ')}",
        "",
        f"Candidate `{candidate.candidate_id}` (`{candidate.model}`, prompt {candidate.prompt_version}) "
        f"against baseline `{baseline.candidate_id}` (`{baseline.model}`, prompt {baseline.prompt_version}).",
        f"Evidence: {decision.window}. Decided {decision.decided_at.isoformat(timespec='seconds')}.{rank}",
        "",
        "## Why",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        *(["## Jury agreement", "", *[f"- {line}" for line in jury_sentences(juries)], ""] if juries else []),
        "## Gates",
        "| gate | status | observed | threshold | interval | n |",
        "|---|---|---|---|---|---|",
    ]
    for gate in decision.gates:
        lines.append(
            f"| {gate.gate} | **{gate.status}** | {show(gate.observed, gate.unit)} | {show(gate.threshold, gate.unit)} "
            f"| {_interval(gate.ci_low, gate.ci_high, gate.unit)} | {gate.n} |"
        )
    lines += ["", *[f"- **{g.gate}**: {g.detail}" for g in decision.gates], ""]
    lines += ["## Every metric, candidate against baseline", "",
              f"Each metric on the cases both completed it (paired). {TERMS['pass-share delta'].capitalize()}. "
              f"`significant`: Holm p below {1 - (metric_rows[0]['confidence'] if metric_rows else 0.95):.2g}.", "",
              *metric_table_markdown(metric_rows), ""]
    if frontier:
        lines += ["## Cost and quality of every candidate", "",
                  *frontier_markdown(frontier, highlight=decision.candidate_id), ""]
    lines += ["## Evidence lost to errors and skips", "", *evidence_table_markdown(decision), ""]
    flaky = traces.get("flaky_critical_cases", [])
    critical = traces.get("critical_regressions", [])
    sections = [
        ("Critical cases that regressed", critical),
        ("Flaky critical regressions (did not reproduce; not counted)", flaky),
        ("Other cases that got worse", [c for c in traces.get("regressed_cases", []) if c not in set(critical) | set(flaky)]),
    ]
    for title, case_ids in sections:
        if title.startswith("Flaky") and not case_ids:
            continue
        lines += [f"## {title} ({len(case_ids)})", ""]
        if not case_ids:
            lines += ["None.", ""]
        for case_id in case_ids[:MAX_CASES_SHOWN]:
            detail = case_details.get(case_id, {})
            lines += [
                f"### `{case_id}` — {case_origin(detail)}, tier {detail.get('tier') or '?'}",
                "",
                f"**Input:** {_excerpt(detail.get('input_text'))}",
                "",
                f"**Baseline output** (pass share {_share(detail.get('baseline_pass_share'))}): {_excerpt(detail.get('baseline_output'))}",
                "",
                f"**Candidate output** (pass share {_share(detail.get('candidate_pass_share'))}; failed: {detail.get('candidate_failed') or '–'}): {_excerpt(detail.get('candidate_output'))}",
                "",
            ]
        if len(case_ids) > MAX_CASES_SHOWN:
            lines += [f"…and {len(case_ids) - MAX_CASES_SHOWN} more (all ids in the JSON report).", ""]
    lines += ["## Definitions", "", glossary_markdown(REPORT_TERMS), ""]
    lines += [
        "## Where the numbers come from",
        "",
        f"Per-case rows of `candidate_case_scores` and per-evaluation rows of `candidate_case_metrics` in the "
        f"warehouse (ASSAY_HOME/warehouse.duckdb) for candidate_id in ('{decision.candidate_id}', "
        f"'{decision.baseline_id}') and dataset_version = '{decision.dataset_version}'; the per-metric table is "
        f"`candidate_metric_comparison` (kept per dataset version in the lake table of that name). The JSON report "
        "beside this file "
        "lists every case id behind each gate.",
        "",
    ]
    return "\n".join(lines)


def report_files(md_path: Path | str) -> dict[str, Path]:
    """The report files of one decision, from its Markdown path (`Decision.report_path`)."""
    md_path = Path(md_path)
    return {
        "markdown": md_path,
        "html": md_path.with_suffix(".html"),
        "json": md_path.with_suffix(".json"),
        "junit": md_path.with_name(f"{md_path.stem}.junit.xml"),
    }


def forest_rows(metric_rows: Sequence[Mapping[str, Any]]) -> list[IntervalRow]:
    """The forest plot's rows, from the comparison rows (metrics compared on no case left out)."""
    return [
        IntervalRow(
            "all evaluators (quality gate)" if r["metric"] == OVERALL_METRIC else r["metric"],
            r["mean_delta"], r.get("ci_low"), r.get("ci_high"), r["paired_cases"],
            highlight=r["metric"] == OVERALL_METRIC, significant=bool(r.get("significant")),
        )
        for r in metric_rows
        if r.get("mean_delta") is not None
    ]


def build_view(
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
    snapshot,
    *,
    gate: GateConfig,
    slos: SloConfig,
    files: dict[str, Path],
    metric_rows: Sequence[Mapping[str, Any]] = (),
    frontier: Sequence[FrontierPoint] = (),
    juries: Sequence[dict[str, Any]] = (),
) -> ReportView:
    critical = list(traces.get("critical_regressions", []))
    flaky = list(traces.get("flaky_critical_cases", []))
    regressed = list(traces.get("regressed_cases", []))
    others = [c for c in regressed if c not in set(critical) | set(flaky)]
    return ReportView(
        decision=decision,
        candidate_label=f"{candidate.candidate_id} ({candidate.model}, prompt {candidate.prompt_version})",
        baseline_label=f"{baseline.candidate_id} ({baseline.model}, prompt {baseline.prompt_version})",
        metric_rows=forest_rows(metric_rows),
        metric_table=[dict(r) for r in metric_rows],
        quality_margin=gate.quality_margin,
        confidence=gate.confidence,
        slo_rows=snapshot.slo_rows,
        evaluator_rows=snapshot.evaluator_rows,
        agent_rows=snapshot.agent_rows,
        slo_limits=slos.model_dump(),
        drift=snapshot.drift,
        drift_note=snapshot.drift_note,
        critical_cases=[(c, case_details.get(c, {})) for c in critical],
        flaky_cases=[(c, case_details.get(c, {})) for c in flaky],
        other_regressed=[(c, case_details.get(c, {})) for c in others],
        regressed_total=len(set(regressed) | set(critical)),
        files={name: path.name for name, path in files.items()},
        terms={name: TERMS[name] for name in REPORT_TERMS},
        frontier=list(frontier),
        juries=list(juries),
    )


def _policy_from_gates(decision: Decision, slos: SloConfig | None) -> SloConfig:
    """The SLOs behind a decision when the caller did not pass them: the latency and cost gates
    carry their thresholds; the rest are the defaults."""
    if slos is not None:
        return slos
    limits = {g.gate: g.threshold for g in decision.gates if g.threshold is not None}
    overrides = {}
    if "latency_p95" in limits:
        overrides["latency_p95_ms"] = limits["latency_p95"]
    if "cost_per_request" in limits:
        overrides["cost_per_request_usd"] = limits["cost_per_request"]
    return SloConfig(**overrides)


def write_reports(
    reports_dir: Path,
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
    *,
    warehouse: Path | None = None,
    gate: GateConfig | None = None,
    slos: SloConfig | None = None,
    metric_rows: Sequence[Mapping[str, Any]] | None = None,
    frontier: Sequence[FrontierPoint] = (),
    juries: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write `<reports_dir>/<YYYY-MM-DD>/<candidate>.{md,html,json,junit.xml}`; returns the
    Markdown path (also set as `decision.report_path`).

    warehouse: the DuckDB file the trends come from; default `<ASSAY_HOME>/warehouse.duckdb`
    with ASSAY_HOME the parent of `reports_dir` (its layout, see assay.runtime.AssayHome).
    metric_rows: the candidate's metric comparison; default: its `candidate_metric_comparison`
    rows in the warehouse.
    frontier: every candidate of the decision run on quality, cost and latency (assay.frontier).
    juries: per jury evaluator behind the verdict, its jurors' agreement on each side's outputs
    (`assay.calibration.jury_verdict_agreement`), shown beside the verdict.
    """
    day_dir = reports_dir / decision.decided_at.date().isoformat()
    md_path = day_dir / f"{decision.candidate_id}.md"
    files = report_files(md_path)
    decision.report_path = str(md_path)
    gate = gate or GateConfig()
    slos = _policy_from_gates(decision, slos)
    warehouse = warehouse or AssayHome(Path(reports_dir).parent).warehouse
    snapshot = read_snapshot(
        warehouse, candidate_ids=(decision.candidate_id, decision.baseline_id), dataset_version=decision.dataset_version
    )
    rows = [dict(r) for r in (metric_rows if metric_rows is not None else snapshot.metric_rows)]
    atomic_write_text(md_path, render_markdown(decision, candidate, baseline, traces, case_details, rows, frontier,
                                               juries))
    view = build_view(decision, candidate, baseline, traces, case_details, snapshot, gate=gate, slos=slos, files=files,
                      metric_rows=rows, frontier=frontier, juries=juries)
    atomic_write_text(files["html"], render_html(view))
    atomic_write_text(files["junit"], render_junit(decision))
    payload = {
        "decision": decision.model_dump(mode="json"),
        "candidate": candidate.model_dump(mode="json"),
        "baseline": baseline.model_dump(mode="json"),
        "metrics": rows,
        "frontier": [p.model_dump(mode="json") for p in frontier],
        "jury_agreement": list(juries),
        "definitions": {name: TERMS[name] for name in REPORT_TERMS},
        "case_ids": traces,
        "report_files": {name: str(path) for name, path in files.items()},
    }
    atomic_write_text(files["json"], json.dumps(payload, indent=2, sort_keys=True, default=str))
    return md_path


# --- reading decisions back: `assay report`, `assay gate`, the alerts, the metrics ------------


def latest_decision_rows(lake: Lake) -> list[dict[str, Any]] | None:
    """The decisions on the current dataset version (gates and reasons decoded), or None."""
    from assay.contracts._arrow import from_json_text
    from assay.dataset_pointer import current_version

    version = current_version(lake)
    table = lake.read_partition("deploy_decisions", {"dataset_version": version}) if version else None
    if table is None:
        return None
    rows = table.to_pylist()
    for row in rows:
        row["gates"] = from_json_text(row["gates"])
        row["reasons"] = from_json_text(row["reasons"])
        row["decided_at"] = row["decided_at"].isoformat()
    return rows


def decision_record(row: dict[str, Any], metrics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One candidate's decision as `assay report --format json` prints it: the Decision contract
    (with its rank), every metric against the baseline with its interval, McNemar and Holm p
    (`candidate_metric_comparison`), and the paths of its report files (null when missing)."""
    files = report_files(row["report_path"]) if row.get("report_path") else {}
    reports = {name: (str(path) if path.exists() else None) for name, path in files.items()}
    return {
        "candidate_id": row["candidate_id"],
        "baseline_id": row["baseline_id"],
        "dataset_version": row["dataset_version"],
        "window": row["window"],
        "verdict": row["verdict"],
        "approved": row["verdict"] == "approved",
        "rank": row.get("rank"),
        "policy_version": row.get("policy_version"),
        "gates": row["gates"],
        "reasons": row["reasons"],
        "metrics": metrics or [],
        "decided_at": row["decided_at"],
        "reports": reports or {"markdown": None, "html": None, "json": None, "junit": None},
    }




GATE_EXIT = {"approved": 0, "rejected": 1, "insufficient_evidence": 3}
GATE_EXIT_UNKNOWN = 4
"""`assay gate` exit statuses: 0 approved, 1 rejected, 3 insufficient evidence, 4 no decision
for that candidate (2 stays `bad config`, as for every command)."""




def gate_verdict(rows: list[dict[str, Any]] | None, candidate_id: str) -> tuple[int, str]:
    """(exit status, one-line reason) of `assay gate <candidate>` for these decision rows."""
    if rows is None:
        return GATE_EXIT_UNKNOWN, "no decisions yet: run `assay run` (or the decide job) first"
    row = next((r for r in rows if r["candidate_id"] == candidate_id), None)
    if row is None:
        known = ", ".join(sorted(r["candidate_id"] for r in rows)) or "none"
        return GATE_EXIT_UNKNOWN, (f"no decision for candidate {candidate_id!r} on dataset "
                                   f"{rows[0]['dataset_version'] if rows else '?'} (decided: {known})")
    verdict = row["verdict"]
    reason = "; ".join(row["reasons"] or []) or verdict
    status = GATE_EXIT.get(verdict, GATE_EXIT_UNKNOWN)
    line = f"{candidate_id}: {verdict.upper()} ({row['window']}): {reason}"
    return status, " ".join(line.split())  # one line, whatever the reasons hold


def decision_records(lake: Lake, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`assay report --format json`: each decision's record (`decision_record`) with its metric
    comparisons and its point of the cost-quality frontier (null before a decision wrote one)."""
    if not rows:
        return []
    version = rows[0]["dataset_version"]
    stats = read_stored(lake, version)
    points = {p.candidate_id: p.model_dump(mode="json") for p in read_frontier(lake, version)}
    records = [decision_record(r, stats.get(r["candidate_id"])) for r in rows]
    for record in records:
        record["frontier"] = points.get(record["candidate_id"])
    return records
