"""The `deploy_decisions` materialisation's metadata in the Dagster UI: a Markdown summary of
the verdicts, the definitions of the numbers shown, and per candidate the numbers the UI plots
over materialisations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from assay.contracts.decision import Decision
from assay.contracts.metric_comparison import OVERALL_METRIC
from assay.glossary import TERMS, round_sig
from assay.reports import report_files


def decision_numbers(decision: Decision, metric_rows: Sequence[Mapping[str, Any]] = ()) -> dict[str, float]:
    """The headline numbers of one decision, named as the reports name them (assay.glossary)
    and rounded with their unit in the name: p95 latency, cost per request, the candidate's pass
    share and its paired delta against the baseline."""
    gates = {g.gate: g for g in decision.gates}
    numbers: dict[str, float] = {}
    for gate_name, key, digits in (("latency_p95", "latency_p95_ms", 4), ("cost_per_request", "cost_per_request_usd", 3),
                                   ("quality", "pass_share_delta", 3)):
        gate = gates.get(gate_name)
        if gate is not None and gate.observed is not None and gate.status != "off":
            numbers[key] = round_sig(float(gate.observed), digits)
    overall = next((r for r in metric_rows if r["metric"] == OVERALL_METRIC), None)
    if overall is not None and overall.get("candidate_mean") is not None:
        numbers["pass_share"] = round_sig(float(overall["candidate_mean"]), 3)
    evidence = gates.get("evidence")
    candidate_side = ((evidence.breakdown or {}).get("candidate") if evidence else None) or {}
    shares = [candidate_side[s]["share"] for s in ("replays", "judges", "checks") if s in candidate_side]
    if shares:
        numbers["error_share"] = round_sig(max(shares), 3)
    return numbers


def decision_summary_markdown(decisions: list[Decision]) -> str:
    marks = {"pass": "✔", "fail": "✘", "unavailable": "?", "off": "off"}
    lines = ["| candidate | verdict | gates | why |", "|---|---|---|---|"]
    for d in decisions:
        gates = ", ".join(f"{g.gate} {marks.get(g.status, '?')}" for g in d.gates)
        why = "; ".join(d.reasons).replace("|", "\\|")
        lines.append(f"| `{d.candidate_id}` | **{d.verdict}** | {gates} | {why} |")
    if decisions:
        html = sorted({str(report_files(d.report_path)["html"].parent) for d in decisions if d.report_path})
        lines += ["", f"Baseline `{decisions[0].baseline_id}`, {decisions[0].window}. HTML/JSON/JUnit reports: "
                  + ", ".join(f"`{p}`" for p in html)]
    return "\n".join(lines)


UI_TERMS = {"pass_share": "pass share", "pass_share_delta": "pass-share delta", "error_share": "error share",
            "latency_p95_ms": "latency p95", "cost_per_request_usd": "cost per request"}
"""Metadata key -> the glossary term it is."""


def decision_metadata(decisions: list[Decision], metric_rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Metadata for the `deploy_decisions` materialisation: the summary as Markdown, the
    definitions of the numbers shown, and per candidate the numbers the Dagster UI plots over
    materialisations (`<candidate>/<number>`)."""
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.md(decision_summary_markdown(decisions)),
        "definitions": dg.MetadataValue.md(
            "\n".join(f"- **{key}** ({term}): {TERMS[term]}" for key, term in UI_TERMS.items())
        ),
    }
    for d in decisions:
        for name, value in decision_numbers(d, metric_rows.get(d.candidate_id, [])).items():
            metadata[f"{d.candidate_id}/{name}"] = dg.MetadataValue.float(value)
        metadata[f"{d.candidate_id}/approved"] = dg.MetadataValue.int(int(d.verdict == "approved"))
        if d.rank is not None:
            metadata[f"{d.candidate_id}/rank"] = dg.MetadataValue.int(d.rank)
    return metadata
