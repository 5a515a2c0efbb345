"""Decision reports for people: Markdown to read, JSON for machines, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.contracts.candidate import Candidate
from assay.contracts.decision import Decision
from assay.lake import atomic_write_text

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


def write_reports(
    reports_dir: Path,
    decision: Decision,
    candidate: Candidate,
    baseline: Candidate,
    traces: dict[str, list[str]],
    case_details: dict[str, dict[str, Any]],
) -> Path:
    """Write `<reports_dir>/<YYYY-MM-DD>/<candidate>.{md,json}`; returns the Markdown path."""
    day_dir = reports_dir / decision.decided_at.date().isoformat()
    md_path = day_dir / f"{decision.candidate_id}.md"
    decision.report_path = str(md_path)
    atomic_write_text(md_path, render_markdown(decision, candidate, baseline, traces, case_details))
    payload = {
        "decision": decision.model_dump(mode="json"),
        "candidate": candidate.model_dump(mode="json"),
        "baseline": baseline.model_dump(mode="json"),
        "case_ids": traces,
    }
    atomic_write_text(md_path.with_suffix(".json"), json.dumps(payload, indent=2, sort_keys=True))
    return md_path
