"""`deploy_decisions`: the gate of DESIGN.md applied to each candidate against the baseline.

Inputs are per-case rows (one per candidate and case, from the `candidate_case_scores` mart):
`case_id, pass_share, is_case_passed, is_critical, output_status, latency_ms, cost_usd,
judge_scores, judge_failed_scores`. A candidate is approved only when every gate passes; a gate
without enough evidence is `unavailable` and the verdict is then `insufficient_evidence`.
"""

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import dagster as dg
import numpy as np
from dagster import AssetExecutionContext

from assay.config import GateConfig, SloConfig
from assay.contracts.decision import (
    DECISION_ARROW_SCHEMA,
    DECISION_JSON_COLUMNS,
    Decision,
    GateResult,
)
from assay.lake import Lake
from assets.candidate_outputs import last_user_text
from assets.regression_dataset import current_version, read_cases
from assets.reports import decision_metadata, write_reports
from assets.resources import AssayResource
from assets.scoring import is_judged
from assets.stats import bootstrap_ci, mcnemar_exact_p, mean_rows, p95_rows, paired_mean_delta_ci


@dataclass
class PairedEvidence:
    candidate: dict[str, dict[str, Any]]
    baseline: dict[str, dict[str, Any]]

    @property
    def paired_ids(self) -> list[str]:
        both = self.candidate.keys() & self.baseline.keys()
        return sorted(
            cid for cid in both
            if self.candidate[cid]["pass_share"] is not None and self.baseline[cid]["pass_share"] is not None
        )


def decide(
    *,
    candidate_id: str,
    baseline_id: str,
    dataset_version: str,
    candidate_rows: list[dict[str, Any]],
    baseline_rows: list[dict[str, Any]],
    gate: GateConfig,
    slos: SloConfig,
    candidate_outputs: Mapping[str, str | None] | None = None,
    baseline_outputs: Mapping[str, str | None] | None = None,
    judge_calibration: Mapping[str, float | None] | None = None,
    decided_at: datetime | None = None,
) -> tuple[Decision, dict[str, list[str]]]:
    """The decision, and the case ids behind each gate (for the report's traceability).

    `*_outputs`: each case's output text (for the degenerate-output guard); without them that
    gate is unavailable, never silently passed. `judge_calibration`: Cohen's kappa against
    human labels per LLM-judge evaluator the scores rest on (None: no labels), for the evidence
    gate when the policy requires calibrated judges."""
    # The latency and cost intervals resample these rows: a fixed order makes them depend on
    # the evidence only, never on the order it was read in.
    candidate_rows = sorted(candidate_rows, key=lambda r: r["case_id"])
    evidence = PairedEvidence(
        candidate={r["case_id"]: r for r in candidate_rows},
        baseline={r["case_id"]: r for r in baseline_rows},
    )
    paired = evidence.paired_ids
    traces: dict[str, list[str]] = {"paired_cases": paired}
    gates = [
        _evidence_gate(evidence, paired, gate, judge_calibration or {}),
        _quality_gate(evidence, paired, gate, traces),
        _critical_gate(evidence, paired, gate, traces),
        _degenerate_output_gate(candidate_outputs, baseline_outputs, paired, gate, traces),
        _latency_gate(candidate_rows, gate, slos),
        _cost_gate(candidate_rows, gate, slos),
    ]
    if any(g.status == "fail" for g in gates):
        verdict = "rejected"
    elif any(g.status == "unavailable" for g in gates):
        verdict = "insufficient_evidence"
    else:
        verdict = "approved"
    if verdict == "approved":
        reasons = [f"all {len(gates)} gates passed on {len(paired)} paired cases"]
    else:
        reasons = [f"{g.gate}: {g.detail}" for g in gates if g.status != "pass"]
    decision = Decision(
        candidate_id=candidate_id,
        baseline_id=baseline_id,
        dataset_version=dataset_version,
        window=f"dataset {dataset_version}, {len(paired)} paired cases",
        verdict=verdict,
        gates=gates,
        reasons=reasons,
        decided_at=decided_at or datetime.now(UTC),
        policy_version=policy_version(gate, slos),
    )
    return decision, traces


def policy_version(gate: GateConfig, slos: SloConfig) -> str:
    """`<gate.version>+<hash of every gate and SLO setting>`: two decisions made under
    different settings never look alike, even if someone forgot to bump the version."""
    settings = json.dumps({"gate": gate.model_dump(), "slos": slos.model_dump()}, sort_keys=True)
    return f"{gate.version}+{hashlib.sha256(settings.encode()).hexdigest()[:10]}"


def rank_decisions(decisions: list[Decision]) -> list[Decision]:
    """Candidates ranked: approved first, then insufficient evidence, then rejected; within
    each, by the quality interval's lower bound (the delta the evidence guarantees), then the
    point estimate. Sets `rank` (1 = best) and returns them in that order."""
    order = {"approved": 0, "insufficient_evidence": 1, "rejected": 2}

    def key(d: Decision) -> tuple:
        quality = next((g for g in d.gates if g.gate == "quality"), None)
        low = quality.ci_low if quality is not None and quality.ci_low is not None else float("-inf")
        observed = quality.observed if quality is not None and quality.observed is not None else float("-inf")
        return (order[d.verdict], -low, -observed, d.candidate_id)

    ranked = sorted(decisions, key=key)
    for i, decision in enumerate(ranked, start=1):
        decision.rank = i
    return ranked


def _evidence_gate(
    evidence: PairedEvidence, paired: list[str], gate: GateConfig, calibration: Mapping[str, float | None]
) -> GateResult:
    judged = sum(r.get("judge_scores") or 0 for r in evidence.candidate.values())
    failed = sum(r.get("judge_failed_scores") or 0 for r in evidence.candidate.values())
    error_share = failed / judged if judged else 0.0
    if len(paired) < gate.min_cases:
        return GateResult(
            gate="evidence", status="unavailable", observed=len(paired), threshold=gate.min_cases,
            n=len(paired),
            detail=f"only {len(paired)} cases scored for both candidate and baseline; at least {gate.min_cases} needed",
        )
    if error_share > gate.max_judge_error_share:
        return GateResult(
            gate="evidence", status="unavailable", observed=error_share, threshold=gate.max_judge_error_share,
            n=judged,
            detail=f"{error_share:.1%} of judge scores errored or were skipped (ceiling {gate.max_judge_error_share:.0%})",
        )
    if gate.require_judge_calibration:
        uncalibrated = sorted(name for name, kappa in calibration.items() if kappa is None)
        weak = sorted(f"{name} (kappa {kappa:.2f})" for name, kappa in calibration.items()
                      if kappa is not None and kappa < gate.min_judge_kappa)
        if uncalibrated or weak:
            problems = ([f"no human labels for {', '.join(uncalibrated)}"] if uncalibrated else []) + (
                [f"agreement below kappa {gate.min_judge_kappa}: {', '.join(weak)}"] if weak else [])
            return GateResult(
                gate="evidence", status="unavailable", n=len(calibration), threshold=gate.min_judge_kappa,
                detail="judges not calibrated: " + "; ".join(problems) + " (`assay labels import`)",
            )
    return GateResult(
        gate="evidence", status="pass", observed=len(paired), threshold=gate.min_cases, n=len(paired),
        detail=f"{len(paired)} paired cases; judge errors/skips {error_share:.1%} of {judged}",
    )


def _quality_gate(evidence: PairedEvidence, paired: list[str], gate: GateConfig, traces: dict) -> GateResult:
    if len(paired) < gate.min_cases:
        return GateResult(gate="quality", status="unavailable", n=len(paired), threshold=-gate.quality_margin,
                          detail="too few paired cases for an interval")
    cand = [evidence.candidate[c]["pass_share"] for c in paired]
    base = [evidence.baseline[c]["pass_share"] for c in paired]
    delta, low, high = paired_mean_delta_ci(
        cand, base, confidence=gate.confidence, resamples=gate.bootstrap_resamples, seed=gate.seed
    )
    traces["regressed_cases"] = [c for c in paired if evidence.candidate[c]["pass_share"] < evidence.baseline[c]["pass_share"]]
    traces["improved_cases"] = [c for c in paired if evidence.candidate[c]["pass_share"] > evidence.baseline[c]["pass_share"]]
    level = f"{gate.confidence:.0%} CI"
    summary = (
        f"mean paired pass-share delta {delta:+.3f} ({level} {low:+.3f} to {high:+.3f}); "
        f"candidate {sum(cand) / len(cand):.3f} vs baseline {sum(base) / len(base):.3f} over {len(paired)} cases"
    )
    if low > -gate.quality_margin:
        better = "; better than baseline (interval above 0)" if low > 0 else ""
        return GateResult(gate="quality", status="pass", observed=delta, threshold=-gate.quality_margin,
                          ci_low=low, ci_high=high, n=len(paired),
                          detail=f"non-inferior: {summary}{better}")
    if delta < -gate.quality_margin:
        return GateResult(gate="quality", status="fail", observed=delta, threshold=-gate.quality_margin,
                          ci_low=low, ci_high=high, n=len(paired),
                          detail=f"worse than baseline beyond the {gate.quality_margin} margin: {summary}")
    # The estimate is within the margin but the interval reaches past it: too few cases to
    # tell "as good" from "worse". Calling that a rejection would reject equal candidates by
    # luck; approving it would approve regressions by luck.
    needed = cases_needed(cand, base, margin=gate.quality_margin, confidence=gate.confidence)
    return GateResult(gate="quality", status="unavailable", observed=delta, threshold=-gate.quality_margin,
                      ci_low=low, ci_high=high, n=len(paired),
                      detail=f"interval too wide to show non-inferiority: {summary}; "
                             f"about {needed} paired cases would resolve a difference this small")


def cases_needed(candidate: list[float], baseline: list[float], *, margin: float, confidence: float) -> int:
    """Paired cases for the interval's half-width to fit inside the margin, from the observed
    spread of the per-case deltas (normal approximation: n = (z * sd / margin)^2)."""
    deltas = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    sd = float(deltas.std(ddof=1)) if deltas.size > 1 else 0.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return max(len(deltas) + 1, math.ceil((z * sd / margin) ** 2)) if margin > 0 else len(deltas) + 1


def _critical_gate(evidence: PairedEvidence, paired: list[str], gate: GateConfig, traces: dict) -> GateResult:
    cand, base = evidence.candidate, evidence.baseline
    baseline_only = [c for c in paired if base[c]["is_case_passed"] and not cand[c]["is_case_passed"]]
    candidate_only = [c for c in paired if cand[c]["is_case_passed"] and not base[c]["is_case_passed"]]
    p_value = mcnemar_exact_p(len(baseline_only), len(candidate_only))
    critical = [c for c in paired if base[c]["is_critical"]]
    regressions = [c for c in critical if c in set(baseline_only)]
    traces["critical_regressions"] = regressions
    mcnemar = (f"McNemar exact p={p_value:.3g} on all cases "
               f"({len(baseline_only)} baseline-only passes, {len(candidate_only)} candidate-only)")
    if len(regressions) > gate.max_critical_regressions:
        return GateResult(gate="critical_cases", status="fail", observed=len(regressions),
                          threshold=gate.max_critical_regressions, n=len(critical),
                          detail=f"{len(regressions)} of {len(critical)} critical cases pass on the baseline "
                                 f"and fail on the candidate; {mcnemar}")
    return GateResult(gate="critical_cases", status="pass", observed=len(regressions),
                      threshold=gate.max_critical_regressions, n=len(critical),
                      detail=f"no critical regression in {len(critical)} critical cases; {mcnemar}")


def normalise_output(text: str) -> str:
    """Outputs compared for sameness: case, whitespace and end punctuation do not count."""
    return " ".join(text.casefold().split()).strip(" .!?")


def output_concentration(outputs: list[str | None]) -> tuple[float, str | None, int]:
    """(share of the outputs equal to the most common one, that output, outputs counted);
    empty outputs are not counted."""
    values = [normalise_output(o) for o in outputs if isinstance(o, str) and o.strip()]
    if not values:
        return 0.0, None, 0
    top, count = Counter(values).most_common(1)[0]
    return count / len(values), top, len(values)


DEGENERATE_BASELINE_ALLOWANCE = 0.2
"""How far above the baseline's own concentration a candidate may go before it counts as
collapsed: a classifier's baseline legitimately answers many cases alike."""


def _degenerate_output_gate(
    candidate_outputs: Mapping[str, str | None] | None,
    baseline_outputs: Mapping[str, str | None] | None,
    paired: list[str],
    gate: GateConfig,
    traces: dict,
) -> GateResult:
    if candidate_outputs is None or baseline_outputs is None:
        return GateResult(gate="output_diversity", status="unavailable",
                          detail="outputs not available, so a constant-output candidate cannot be ruled out")
    cand_share, top, n = output_concentration([candidate_outputs.get(c) for c in paired])
    base_share, _, _ = output_concentration([baseline_outputs.get(c) for c in paired])
    limit = max(gate.max_identical_output_share, base_share + DEGENERATE_BASELINE_ALLOWANCE)
    summary = f"most common output answers {cand_share:.0%} of {n} cases (baseline {base_share:.0%})"
    if n and cand_share > limit:
        shown = top if len(top) <= 60 else top[:59] + "…"
        traces["degenerate_output_cases"] = [c for c in paired if normalise_output(candidate_outputs.get(c) or "") == top]
        return GateResult(gate="output_diversity", status="fail", observed=cand_share, threshold=limit, n=n,
                          detail=f"degenerate outputs: {summary}: {shown!r}; not approvable whatever the judges say")
    return GateResult(gate="output_diversity", status="pass", observed=cand_share, threshold=limit, n=n,
                      detail=f"outputs vary with the input: {summary}")


def _completed(rows: list[dict[str, Any]], column: str) -> list[float]:
    return [r[column] for r in rows if r.get("output_status") == "completed" and r.get(column) is not None]


def _slo_gate(
    name: str,
    values: list[float],
    statistic: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    gate: GateConfig,
    describe: Callable[[float], str],
    *,
    label: str,
    limit_name: str,
    missing: str,
) -> GateResult:
    """A bootstrapped statistic of the candidate's replays against an SLO threshold."""
    if len(values) < gate.min_cases:
        return GateResult(gate=name, status="unavailable", n=len(values), threshold=threshold,
                          detail=f"only {len(values)} completed replays {missing}")
    observed, low, high = bootstrap_ci(values, statistic, confidence=gate.confidence,
                                       resamples=gate.bootstrap_resamples, seed=gate.seed)
    ok = observed <= threshold
    return GateResult(gate=name, status="pass" if ok else "fail", observed=observed, threshold=threshold,
                      ci_low=low, ci_high=high, n=len(values),
                      detail=f"{label} {describe(observed)} ({describe(low)} to {describe(high)}) "
                             f"{'within' if ok else 'over'} the {describe(threshold)} {limit_name}")


def _latency_gate(rows: list[dict[str, Any]], gate: GateConfig, slos: SloConfig) -> GateResult:
    return _slo_gate("latency_p95", _completed(rows, "latency_ms"), p95_rows, slos.latency_p95_ms, gate,
                     describe=lambda ms: f"{ms:.0f} ms", label="p95", limit_name="SLO", missing="with a latency")


def _cost_gate(rows: list[dict[str, Any]], gate: GateConfig, slos: SloConfig) -> GateResult:
    return _slo_gate("cost_per_request", _completed(rows, "cost_usd"), mean_rows, slos.cost_per_request_usd, gate,
                     describe=lambda usd: f"${usd:.3g}", label="mean cost per request", limit_name="budget",
                     missing="with a known cost (no price for the model?)")


def load_case_scores(warehouse: Path, dataset_version: str) -> dict[str, list[dict[str, Any]]]:
    """Per-case rows of `candidate_case_scores` for one dataset version, by candidate."""
    import duckdb

    # Read-only and closed at once: dbt (in the same pool) is the warehouse's only writer.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        table = con.sql(
            "select * from candidate_case_scores where dataset_version = ? order by candidate_id, case_id",
            params=[dataset_version],
        ).to_arrow_table()
    by_candidate: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        by_candidate.setdefault(row["candidate_id"], []).append(row)
    return by_candidate


def read_outputs(lake: Lake, candidate_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each candidate's replay rows (`candidate_outputs`) by case id."""
    outputs = {}
    for cid in candidate_ids:
        table = lake.read_partition("candidate_outputs", {"candidate": cid})
        outputs[cid] = {r["case_id"]: r for r in (table.to_pylist() if table is not None else [])}
    return outputs


def output_text(row: Mapping[str, Any] | None) -> str | None:
    """What a replay answered: its text, else its tool calls (as JSON text), else nothing."""
    if not row:
        return None
    return row.get("output_text") or row.get("tool_calls") or None


def judge_kappas(lake: Lake, judge_evaluators: list[str]) -> dict[str, float | None]:
    """Latest Cohen's kappa per LLM-judge evaluator (None: never calibrated)."""
    table = lake.read_table("judge_calibration")
    rows = table.to_pylist() if table is not None else []
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row["evaluator"]
        if name in judge_evaluators and (name not in latest or row["computed_at"] > latest[name]["computed_at"]):
            latest[name] = row
    return {name: (latest[name]["cohen_kappa"] if name in latest else None) for name in judge_evaluators}


def case_details(
    lake: Lake,
    version: str,
    candidate_id: str,
    baseline_id: str,
    rows_by_candidate: dict[str, list[dict[str, Any]]],
    outputs: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Input, both outputs and pass shares of every case, for the report's side-by-side view."""
    cases = {c["case_id"]: c for c in read_cases(lake, version)}
    scores = {cid: {r["case_id"]: r for r in rows_by_candidate.get(cid, [])} for cid in (candidate_id, baseline_id)}
    details = {}
    for case_id, case in cases.items():
        cand_out = outputs[candidate_id].get(case_id, {})
        base_out = outputs[baseline_id].get(case_id, {})
        details[case_id] = {
            "feature": case.get("feature"),
            "tier": case.get("tier"),
            "failure_category": case.get("failure_category"),
            "input_text": last_user_text(case["input"]),
            "candidate_output": output_text(cand_out) or cand_out.get("error_message"),
            "baseline_output": output_text(base_out) or base_out.get("error_message"),
            "candidate_pass_share": scores[candidate_id].get(case_id, {}).get("pass_share"),
            "baseline_pass_share": scores[baseline_id].get(case_id, {}).get("pass_share"),
            "candidate_failed": scores[candidate_id].get(case_id, {}).get("failed_evaluators"),
        }
    return details


@dg.asset(
    deps=[dg.AssetKey("candidate_case_scores"), dg.AssetKey("candidate_comparison")],
    group_name="decide",
    kinds={"parquet"},
    pool="warehouse",
)
def deploy_decisions(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """One decision per candidate (approved / rejected / insufficient_evidence) with its gates,
    reasons and a Markdown + JSON report."""
    config, lake = assay.config, assay.lake
    baseline = config.baseline
    if baseline is None:
        raise dg.Failure("no baseline: mark one candidate in assay.yaml with `is_baseline: true`")
    version = current_version(lake)
    if version is None:
        raise dg.Failure("no regression dataset yet: materialise regression_dataset first")
    rows = load_case_scores(assay.home.warehouse, version)
    outputs = read_outputs(lake, [c.candidate_id for c in config.candidates])
    judges = [e.name for e in config.evaluators if "cases" in e.applies_to.subjects and is_judged(e.type)]
    kappas = judge_kappas(lake, judges)
    decided_at = datetime.now(UTC)
    decisions, reported = [], []
    for candidate in config.candidates:
        if candidate.is_baseline:
            continue
        decision, traces = decide(
            candidate_id=candidate.candidate_id,
            baseline_id=baseline.candidate_id,
            dataset_version=version,
            candidate_rows=rows.get(candidate.candidate_id, []),
            baseline_rows=rows.get(baseline.candidate_id, []),
            gate=config.gate,
            slos=config.slos,
            candidate_outputs={k: output_text(v) for k, v in outputs[candidate.candidate_id].items()},
            baseline_outputs={k: output_text(v) for k, v in outputs[baseline.candidate_id].items()},
            judge_calibration=kappas,
            decided_at=decided_at,
        )
        decisions.append(decision)
        reported.append((decision, candidate, traces))
    rank_decisions(decisions)
    for decision, candidate, traces in reported:
        details = case_details(lake, version, candidate.candidate_id, baseline.candidate_id, rows, outputs)
        write_reports(
            assay.home.reports, decision, candidate, baseline, traces, details,
            warehouse=assay.home.warehouse, gate=config.gate, slos=config.slos,
        )
        context.log.info(f"{candidate.candidate_id}: {decision.verdict} (rank {decision.rank}) — {'; '.join(decision.reasons)}")
    decisions.sort(key=lambda d: d.rank or 0)
    path = lake.write_partition(
        "deploy_decisions",
        [d.model_dump(mode="python") | {"gates": [g.model_dump() for g in d.gates]} for d in decisions],
        partition={"dataset_version": version},
        schema=DECISION_ARROW_SCHEMA,
        json_columns=DECISION_JSON_COLUMNS,
    )
    table = ["| rank | candidate | verdict | quality delta (CI) | reasons | report |", "|---|---|---|---|---|---|"]
    table += [
        f"| {d.rank} | {d.candidate_id} | **{d.verdict}** | {_quality_cell(d)} | {'; '.join(d.reasons)} | {d.report_path} |"
        for d in decisions
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(decisions),
            "path": dg.MetadataValue.path(str(path)),
            "dataset_version": version,
            "approved": sum(d.verdict == "approved" for d in decisions),
            "decisions": dg.MetadataValue.md("\n".join(table)),
            "policy_version": decisions[0].policy_version if decisions else policy_version(config.gate, config.slos),
            # The summary, and numbers per candidate the UI plots across materialisations.
            **decision_metadata(decisions, rows),
        }
    )


def _quality_cell(decision: Decision) -> str:
    quality = next((g for g in decision.gates if g.gate == "quality"), None)
    if quality is None or quality.observed is None:
        return "n/a"
    if quality.ci_low is None:
        return f"{quality.observed:+.3f}"
    return f"{quality.observed:+.3f} ({quality.ci_low:+.3f} to {quality.ci_high:+.3f})"
