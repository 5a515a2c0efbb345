"""Decision reports: Markdown and a self-contained HTML page for people, JSON for machines,
JUnit XML for CI, side by side in `ASSAY_HOME/reports/<date>/<candidate>.*`."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from assay.config import GateConfig, SloConfig
from assay.contracts.candidate import Candidate
from assay.contracts.decision import Decision
from assay.lake import Lake, atomic_write_text
from assay.report_data import WarehouseSnapshot, read_snapshot
from assay.report_html import IntervalRow, ReportView, render_html, render_junit
from assay.runtime import AssayHome

MAX_CASES_SHOWN = 10
EXCERPT_CHARS = 600


def _excerpt(text: Any) -> str:
    if text is None:
        return "_(none)_"
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    text = text.strip()
    return (text[:EXCERPT_CHARS] + " …") if len(text) > EXCERPT_CHARS else text


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}"


def render_markdown(
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
) -> str:
    lines = [
        f"# Deploy decision: {decision.candidate_id} — {decision.verdict.upper().replace('_', ' ')}",
        "",
        f"Candidate `{candidate.candidate_id}` (`{candidate.model}`, prompt {candidate.prompt_version}) "
        f"against baseline `{baseline.candidate_id}` (`{baseline.model}`, prompt {baseline.prompt_version}).",
        f"Evidence: {decision.window}. Decided {decision.decided_at.isoformat(timespec='seconds')}.",
        "",
        "## Why",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "## Gates",
        "| gate | status | observed | threshold | interval | n |",
        "|---|---|---|---|---|---|",
    ]
    for gate in decision.gates:
        interval = f"{_fmt(gate.ci_low)} to {_fmt(gate.ci_high)}" if gate.ci_low is not None else "–"
        lines.append(
            f"| {gate.gate} | **{gate.status}** | {_fmt(gate.observed)} | {_fmt(gate.threshold)} | {interval} | {gate.n} |"
        )
    lines += ["", *[f"- **{g.gate}**: {g.detail}" for g in decision.gates], ""]
    sections = [
        ("Critical cases that regressed", traces.get("critical_regressions", [])),
        ("Other cases that got worse", [c for c in traces.get("regressed_cases", []) if c not in set(traces.get("critical_regressions", []))]),
    ]
    for title, case_ids in sections:
        lines += [f"## {title} ({len(case_ids)})", ""]
        if not case_ids:
            lines += ["None.", ""]
        for case_id in case_ids[:MAX_CASES_SHOWN]:
            detail = case_details.get(case_id, {})
            lines += [
                f"### `{case_id}` — {detail.get('feature', '?')}, {detail.get('failure_category') or 'passing sample'}, tier {detail.get('tier', '?')}",
                "",
                f"**Input:** {_excerpt(detail.get('input_text'))}",
                "",
                f"**Baseline output** ({_share(detail.get('baseline_pass_share'))} of checks passed): {_excerpt(detail.get('baseline_output'))}",
                "",
                f"**Candidate output** ({_share(detail.get('candidate_pass_share'))} of checks passed; failed: {detail.get('candidate_failed') or '–'}): {_excerpt(detail.get('candidate_output'))}",
                "",
            ]
        if len(case_ids) > MAX_CASES_SHOWN:
            lines += [f"…and {len(case_ids) - MAX_CASES_SHOWN} more (all ids in the JSON report).", ""]
    lines += [
        "## Where the numbers come from",
        "",
        f"Per-case rows of `candidate_case_scores` in the warehouse (ASSAY_HOME/warehouse.duckdb) for "
        f"candidate_id in ('{decision.candidate_id}', '{decision.baseline_id}') and dataset_version = "
        f"'{decision.dataset_version}'. The JSON report beside this file lists every case id behind each gate.",
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


def metric_intervals(
    decision: Decision, snapshot: WarehouseSnapshot, gate: GateConfig
) -> list[IntervalRow]:
    """The forest plot's rows: the quality gate's own interval (all evaluators), then one paired
    bootstrap interval per evaluator on the cases both candidate and baseline were scored on."""
    from assets.stats import paired_mean_delta_ci

    rows = []
    quality = next((g for g in decision.gates if g.gate == "quality" and g.observed is not None), None)
    if quality is not None:
        rows.append(IntervalRow("all evaluators (quality gate)", quality.observed, quality.ci_low, quality.ci_high,
                                quality.n, highlight=True))
    shares: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in snapshot.case_metric_rows:
        if row["pass_share"] is not None:
            shares[row["evaluator"]][row["candidate_id"]][row["case_id"]] = row["pass_share"]
    for evaluator in sorted(shares):
        cand, base = shares[evaluator].get(decision.candidate_id, {}), shares[evaluator].get(decision.baseline_id, {})
        paired = sorted(cand.keys() & base.keys())
        if len(paired) < 2:
            continue
        delta, low, high = paired_mean_delta_ci(
            [cand[c] for c in paired], [base[c] for c in paired],
            confidence=gate.confidence, resamples=gate.bootstrap_resamples, seed=gate.seed,
        )
        rows.append(IntervalRow(evaluator, delta, low, high, len(paired)))
    return rows


def build_view(
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
    snapshot: WarehouseSnapshot,
    *,
    gate: GateConfig,
    slos: SloConfig,
    files: dict[str, Path],
) -> ReportView:
    critical = list(traces.get("critical_regressions", []))
    regressed = list(traces.get("regressed_cases", []))
    others = [c for c in regressed if c not in set(critical)]
    return ReportView(
        decision=decision,
        candidate_label=f"{candidate.candidate_id} ({candidate.model}, prompt {candidate.prompt_version})",
        baseline_label=f"{baseline.candidate_id} ({baseline.model}, prompt {baseline.prompt_version})",
        metric_rows=metric_intervals(decision, snapshot, gate),
        quality_margin=gate.quality_margin,
        confidence=gate.confidence,
        slo_rows=snapshot.slo_rows,
        evaluator_rows=snapshot.evaluator_rows,
        slo_limits=slos.model_dump(),
        drift=snapshot.drift,
        drift_note=snapshot.drift_note,
        critical_cases=[(c, case_details.get(c, {})) for c in critical],
        other_regressed=[(c, case_details.get(c, {})) for c in others],
        regressed_total=len(set(regressed) | set(critical)),
        files={name: path.name for name, path in files.items()},
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
) -> Path:
    """Write `<reports_dir>/<YYYY-MM-DD>/<candidate>.{md,html,json,junit.xml}`; returns the
    Markdown path (also set as `decision.report_path`).

    warehouse: the DuckDB file the trends come from; default `<ASSAY_HOME>/warehouse.duckdb`
    with ASSAY_HOME the parent of `reports_dir` (its layout, see assay.runtime.AssayHome).
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
    atomic_write_text(md_path, render_markdown(decision, candidate, baseline, traces, case_details))
    view = build_view(decision, candidate, baseline, traces, case_details, snapshot, gate=gate, slos=slos, files=files)
    atomic_write_text(files["html"], render_html(view))
    atomic_write_text(files["junit"], render_junit(decision))
    payload = {
        "decision": decision.model_dump(mode="json"),
        "candidate": candidate.model_dump(mode="json"),
        "baseline": baseline.model_dump(mode="json"),
        "case_ids": traces,
        "report_files": {name: str(path) for name, path in files.items()},
    }
    atomic_write_text(files["json"], json.dumps(payload, indent=2, sort_keys=True))
    return md_path


# --- reading decisions back, and their summary for the Dagster UI ---------------------------


def latest_decision_rows(lake: Lake) -> list[dict[str, Any]] | None:
    """The decisions on the current dataset version (gates and reasons decoded), or None."""
    from assay.contracts._arrow import from_json_text
    from assets.regression_dataset import current_version

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


def decision_numbers(decision: Decision, candidate_rows: list[dict[str, Any]]) -> dict[str, float]:
    """The headline numbers of one decision, named with units: p95 latency, cost per request,
    case pass rate and the quality delta against the baseline."""
    gates = {g.gate: g for g in decision.gates}
    numbers: dict[str, float] = {}
    for gate_name, key in (("latency_p95", "latency_p95_ms"), ("cost_per_request", "cost_per_request_usd"),
                           ("quality", "quality_delta")):
        gate = gates.get(gate_name)
        if gate is not None and gate.observed is not None:
            numbers[key] = float(gate.observed)
    judged = [r for r in candidate_rows if r.get("is_case_passed") is not None]
    if judged:
        numbers["pass_rate"] = sum(bool(r["is_case_passed"]) for r in judged) / len(judged)
    return numbers


def decision_summary_markdown(decisions: list[Decision]) -> str:
    lines = ["| candidate | verdict | gates | why |", "|---|---|---|---|"]
    for d in decisions:
        gates = ", ".join(f"{g.gate} {'✔' if g.status == 'pass' else '✘' if g.status == 'fail' else '?'}" for g in d.gates)
        why = "; ".join(d.reasons).replace("|", "\\|")
        lines.append(f"| `{d.candidate_id}` | **{d.verdict}** | {gates} | {why} |")
    if decisions:
        html = sorted({str(report_files(d.report_path)["html"].parent) for d in decisions if d.report_path})
        lines += ["", f"Baseline `{decisions[0].baseline_id}`, {decisions[0].window}. HTML/JSON/JUnit reports: "
                  + ", ".join(f"`{p}`" for p in html)]
    return "\n".join(lines)


def decision_metadata(decisions: list[Decision], rows_by_candidate: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Metadata for the `deploy_decisions` materialisation: the summary as Markdown and, per
    candidate, numbers the Dagster UI plots over materialisations (`<candidate>/<number>`)."""
    import dagster as dg

    metadata: dict[str, Any] = {"summary": dg.MetadataValue.md(decision_summary_markdown(decisions))}
    for d in decisions:
        for name, value in decision_numbers(d, rows_by_candidate.get(d.candidate_id, [])).items():
            metadata[f"{d.candidate_id}/{name}"] = dg.MetadataValue.float(value)
        metadata[f"{d.candidate_id}/approved"] = dg.MetadataValue.int(int(d.verdict == "approved"))
    return metadata
