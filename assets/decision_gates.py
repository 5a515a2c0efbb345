"""`decide()`: the gates applied to a candidate's evidence against the baseline, and the
decision they make (docs/architecture.md, "How a decision is made"). Pure and seeded: the
`deploy_decisions` asset reads the evidence and writes what this decides.

Inputs, per side (candidate and baseline), from the warehouse: per-case rows
(`candidate_case_scores`: `case_id, pass_share, is_case_passed, is_critical, output_status,
error_type, latency_ms, cost_usd`), per-evaluation rows (`candidate_case_metrics`) and the
candidate's metric comparison against the baseline (`candidate_metric_comparison`, whose
`case_pass_share` row is the quality gate's number).

A candidate is approved only when every gate passes; a gate without enough evidence is
`unavailable` and the verdict is then `insufficient_evidence`. Infrastructure failures are not
quality: a replay or an evaluation that errored or was skipped is kept out of the comparison
and counted by the evidence gate, which names the cause; above `gate.max_error_share` the
verdict is `insufficient_evidence` whatever the other gates say (a 401 is not a bad model).
"""


import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import numpy as np
from assay.assets.candidate_outputs import latency_values
from assay.assets.decision_evidence import (
    SOURCE_UNITS,
    count_side,
    describe_loss,
    judged,
    over_ceiling,
)
from assay.assets.regression_confirmation import Confirmation, ConfirmFn

from assay.config import GateConfig, SloConfig
from assay.contracts.decision import (
    Decision,
    GateResult,
)
from assay.contracts.metric_comparison import OVERALL_METRIC
from assay.frontier import ReplaySamples
from assay.glossary import BATCH_REPLAY_LATENCY, COST_RULE, show
from assay.metric_comparison import case_outcomes, compare_metric
from assay.stats import bootstrap_ci, mean_rows, p95_rows


@dataclass
class Side:
    """One side of a comparison: its per-case rows and, when known, its per-evaluation rows,
    outputs and model string (for fix hints)."""

    candidate_id: str
    rows: list[dict[str, Any]]
    metrics: list[dict[str, Any]] | None = None
    outputs: Mapping[str, str | None] | None = None
    model: str | None = None

    @property
    def by_case(self) -> dict[str, dict[str, Any]]:
        return {r["case_id"]: r for r in self.rows}


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
    candidate_metrics: list[dict[str, Any]] | None = None,
    baseline_metrics: list[dict[str, Any]] | None = None,
    metric_rows: Sequence[Mapping[str, Any]] | None = None,
    judge_calibration: Mapping[str, Mapping[str, Any] | float | None] | None = None,
    candidate_model: str | None = None,
    baseline_model: str | None = None,
    judge_model: str | None = None,
    timeout_s: float | None = None,
    missing_reason: str | None = None,
    confirm: ConfirmFn | None = None,
    decided_at: datetime | None = None,
    replay_mode: str = "sync",
) -> tuple[Decision, dict[str, list[str]]]:
    """The decision, and the case ids behind each gate (for the report's traceability).

    `*_outputs`: each case's output text (for the degenerate-output guard); without them that
    gate is unavailable, never silently passed. `*_metrics`: per-evaluation rows (without them
    the evidence gate counts replays only). `metric_rows`: the stored comparison of this
    candidate (its `case_pass_share` row decides quality); computed from the case rows when not
    given. `judge_calibration`: per judge the decision rests on, its calibration
    (`assay.calibration.judge_trust`: kappa with its interval, position consistency), a bare
    kappa, or None (no labels).
    `timeout_s`: the per-attempt timeout, the least a failed replay counts for in latency.
    `missing_reason`: why the candidate has no replays of this dataset version, when it has none.
    `confirm`: re-runs critical regressions (`gate.confirm_regressions`).
    `replay_mode`: how the candidate was replayed; `batch` (a provider's Batch API) has no
    per-call latency, so the latency gate says it was not measured and is not part of the verdict."""
    # The latency and cost intervals resample these rows: a fixed order makes them depend on
    # the evidence only, never on the order it was read in.
    candidate = Side(candidate_id, sorted(candidate_rows, key=lambda r: r["case_id"]), candidate_metrics,
                     candidate_outputs, candidate_model)
    baseline = Side(baseline_id, sorted(baseline_rows, key=lambda r: r["case_id"]), baseline_metrics,
                    baseline_outputs, baseline_model)
    overall = _overall_row(candidate, baseline, metric_rows, gate)
    cand_cases, base_cases = case_outcomes(candidate.rows), case_outcomes(baseline.rows)
    paired = sorted(cand_cases.keys() & base_cases.keys())
    traces: dict[str, list[str]] = {"paired_cases": paired}
    evidence, evidence_is_broken = _evidence_gate(
        candidate, baseline, paired, gate, judge_calibration or {}, judge_model=judge_model, timeout_s=timeout_s,
        missing_reason=missing_reason,
    )
    gates = [
        evidence,
        _quality_gate(overall, cand_cases, base_cases, paired, gate, traces),
        _critical_gate(candidate, baseline, overall, paired, gate, traces, confirm),
        _degenerate_output_gate(candidate.outputs, baseline.outputs, paired, gate, traces),
        _latency_gate(candidate.rows, gate, slos, timeout_s, replay_mode=replay_mode),
        _cost_gate(candidate.rows, gate, slos),
    ]
    decisive = [g for g in gates if g.status != "off"]
    if evidence_is_broken:
        # Above the error ceiling the provider was measured, not the model: no other gate is read.
        verdict = "insufficient_evidence"
    elif any(g.status == "fail" for g in decisive):
        verdict = "rejected"
    elif any(g.status == "unavailable" for g in decisive):
        verdict = "insufficient_evidence"
    else:
        verdict = "approved"
    if verdict == "approved":
        reasons = [f"all {len(decisive)} gates passed on {len(paired)} paired cases"]
        reasons += [f"{g.gate}: {g.detail}" for g in gates if g.status == "off"]
    elif evidence_is_broken:
        reasons = [f"evidence: {evidence.detail}"]
    else:
        reasons = [f"{g.gate}: {g.detail}" for g in gates if g.status not in ("pass", "off")]
    # Whatever the verdict, it says which gate it could not measure (a batch replay's latency).
    reasons += [f"{g.gate}: {g.detail}" for g in gates
                if (g.breakdown or {}).get("not_measured") and f"{g.gate}: {g.detail}" not in reasons]
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


def _overall_row(
    candidate: Side, baseline: Side, metric_rows: Sequence[Mapping[str, Any]] | None, gate: GateConfig
) -> dict[str, Any]:
    """The `case_pass_share` comparison: the stored row when given (the one the reports and the
    mart show), else computed by the same function that stored it."""
    stored = next((dict(r) for r in metric_rows or () if r["metric"] == OVERALL_METRIC), None)
    if stored is not None:
        return stored
    return compare_metric(OVERALL_METRIC, case_outcomes(candidate.rows), case_outcomes(baseline.rows), stats=gate)


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


def judge_trust_problems(
    calibration: Mapping[str, Mapping[str, Any] | float | None], gate: GateConfig
) -> tuple[list[str], float | None]:
    """What keeps the judges a decision rests on from being trusted, with the figures, and the
    first figure at fault: no labels or a kappa interval reaching below `min_judge_kappa` (with
    `require_judge_calibration`); position consistency below `min_position_consistency`."""
    problems: list[str] = []
    figures: list[float] = []
    for name, trust in sorted(calibration.items()):
        if not isinstance(trust, Mapping):  # a bare kappa (or None), as before intervals
            trust = {"cohen_kappa": trust, "n": None} if trust is not None else None
        if gate.require_judge_calibration:
            kappa = trust.get("cohen_kappa") if trust else None
            if kappa is None:
                problems.append(f"no human labels for {name} (`assay labels import`)")
            else:
                low = trust.get("cohen_kappa_low")
                bound = low if low is not None else kappa
                if bound < gate.min_judge_kappa:
                    interval = f" [{low:.2f}, {trust['cohen_kappa_high']:.2f}]" if low is not None else ""
                    labels = f" on {trust['n']} labels" if trust.get("n") is not None else ""
                    problems.append(f"{trust.get('series') or name}: kappa {kappa:.2f}{interval}{labels} reaches below "
                                    f"gate.min_judge_kappa {gate.min_judge_kappa}")
                    figures.append(bound)
        floor = gate.min_position_consistency
        if floor is not None and trust and trust.get("kind") == "pairwise":
            consistency = trust.get("position_consistency")
            if consistency is None:
                problems.append(f"{name}: no pair judged in both orders, so no position consistency to check")
            elif consistency < floor:
                where = trust.get("position_source") or trust.get("series") or name
                problems.append(f"{name}: position consistency {consistency:.2f} on {trust.get('pairs_both_orders')} "
                                f"pairs ({where}) below gate.min_position_consistency {floor}")
                figures.append(consistency)
    return problems, (figures[0] if figures else None)


def _evidence_gate(
    candidate: Side,
    baseline: Side,
    paired: list[str],
    gate: GateConfig,
    calibration: Mapping[str, Mapping[str, Any] | float | None],
    *,
    judge_model: str | None,
    timeout_s: float | None,
    missing_reason: str | None,
) -> tuple[GateResult, bool]:
    """(the gate, whether errors and skips broke the evidence). In order: no replays at all,
    too many errors or skips, too few paired cases, uncalibrated judges."""
    ceiling = gate.max_error_share
    if not candidate.rows or not baseline.rows:
        who = candidate if not candidate.rows else baseline
        role, reason = ("candidate" if who is candidate else "baseline"), missing_reason
        detail = (f"no replays of this dataset version for the {role} {who.candidate_id}: "
                  f"{reason or 'its candidate_job has not produced replays of this dataset version (failed or not run)'}")
        return GateResult(gate="evidence", status="unavailable", observed=0, threshold=gate.min_cases, n=0,
                          unit="cases", detail=detail, breakdown={"missing_replays": who.candidate_id}), True
    everything = (candidate.metrics or []) + (baseline.metrics or [])
    judges = judged(everything)
    sides = [
        count_side(candidate.candidate_id, candidate.rows, candidate.metrics, baseline.metrics, judges,
                   model=candidate.model),
        count_side(baseline.candidate_id, baseline.rows, baseline.metrics, candidate.metrics, judges,
                   model=baseline.model),
    ]
    breakdown = {"max_error_share": ceiling, "candidate": sides[0].as_dict(), "baseline": sides[1].as_dict()}
    broken = over_ceiling(sides, ceiling)
    if broken:
        parts = [
            describe_loss(side, source, count, who="candidate" if side is sides[0] else "baseline",
                          judge_model=judge_model, timeout_s=timeout_s)
            for side, source, count in broken
        ]
        worst = broken[0][2]
        return GateResult(
            gate="evidence", status="unavailable", observed=worst.share, threshold=ceiling, n=worst.total,
            unit="share", breakdown=breakdown,
            detail=f"{'; '.join(parts)} — over the {ceiling:.0%} error ceiling (gate.max_error_share): "
                   "infrastructure failures, not quality, so no verdict on quality",
        ), True
    if len(paired) < gate.min_cases:
        return GateResult(
            gate="evidence", status="unavailable", observed=len(paired), threshold=gate.min_cases, n=len(paired),
            unit="cases", breakdown=breakdown,
            detail=f"only {len(paired)} cases scored for both candidate and baseline; at least {gate.min_cases} needed",
        ), False
    problems, figure = judge_trust_problems(calibration, gate)
    if problems:
        return GateResult(
            gate="evidence", status="unavailable", n=len(calibration), observed=figure,
            threshold=gate.min_judge_kappa if gate.require_judge_calibration else gate.min_position_consistency,
            breakdown=breakdown,
            detail="judges not trusted: " + "; ".join(problems),
        ), False
    losses = ", ".join(
        f"{side.candidate_id} {side.worst[1].share:.1%} of its {SOURCE_UNITS[side.worst[0]]}" if side.worst[1].lost
        else f"{side.candidate_id} none" for side in sides
    )
    return GateResult(
        gate="evidence", status="pass", observed=len(paired), threshold=gate.min_cases, n=len(paired), unit="cases",
        breakdown=breakdown,
        detail=f"{len(paired)} paired cases; errors and skips: {losses} (ceiling {ceiling:.0%} of any source)",
    ), False


def _quality_gate(
    overall: Mapping[str, Any],
    cand: Mapping[str, tuple[float, bool]],
    base: Mapping[str, tuple[float, bool]],
    paired: list[str],
    gate: GateConfig,
    traces: dict,
) -> GateResult:
    traces["regressed_cases"] = [c for c in paired if cand[c][0] < base[c][0]]
    traces["improved_cases"] = [c for c in paired if cand[c][0] > base[c][0]]
    if len(paired) < gate.min_cases or overall.get("ci_low") is None:
        return GateResult(gate="quality", status="unavailable", n=len(paired), threshold=-gate.quality_margin,
                          unit="delta", detail="too few paired cases for an interval")
    delta, low, high = overall["mean_delta"], overall["ci_low"], overall["ci_high"]
    level = f"{gate.confidence:.0%} CI"
    summary = (
        f"mean paired pass-share delta {delta:+.3f} ({level} {low:+.3f} to {high:+.3f}); "
        f"candidate {overall['candidate_mean']:.3f} vs baseline {overall['baseline_mean']:.3f} over {len(paired)} cases"
    )
    common = {"gate": "quality", "observed": delta, "threshold": -gate.quality_margin, "ci_low": low,
              "ci_high": high, "n": len(paired), "unit": "delta"}
    if low > -gate.quality_margin:
        better = "; better than baseline (interval above 0)" if low > 0 else ""
        return GateResult(status="pass", detail=f"non-inferior: {summary}{better}", **common)
    if delta < -gate.quality_margin:
        return GateResult(status="fail", detail=f"worse than baseline beyond the {gate.quality_margin} margin: {summary}",
                          **common)
    # The estimate is within the margin but the interval reaches past it: too few cases to
    # tell "as good" from "worse". Calling that a rejection would reject equal candidates by
    # luck; approving it would approve regressions by luck.
    needed = cases_needed([cand[c][0] for c in paired], [base[c][0] for c in paired],
                          margin=gate.quality_margin, confidence=gate.confidence)
    return GateResult(status="unavailable", **common,
                      detail=f"interval too wide to show non-inferiority: {summary}; "
                             f"about {needed} paired cases would resolve a difference this small")


def cases_needed(candidate: list[float], baseline: list[float], *, margin: float, confidence: float) -> int:
    """Paired cases for the interval's half-width to fit inside the margin, from the observed
    spread of the per-case deltas (normal approximation: n = (z * sd / margin)^2)."""
    deltas = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    sd = float(deltas.std(ddof=1)) if deltas.size > 1 else 0.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return max(len(deltas) + 1, math.ceil((z * sd / margin) ** 2)) if margin > 0 else len(deltas) + 1


def _critical_gate(
    candidate: Side,
    baseline: Side,
    overall: Mapping[str, Any],
    paired: list[str],
    gate: GateConfig,
    traces: dict,
    confirm: ConfirmFn | None,
) -> GateResult:
    cand, base = candidate.by_case, baseline.by_case
    regressions = [c for c in paired if base[c]["is_critical"] and base[c]["is_case_passed"] and not cand[c]["is_case_passed"]]
    critical = [c for c in paired if base[c]["is_critical"]]
    confirmations: dict[str, Confirmation] = confirm(regressions) if confirm is not None and regressions else {}
    flaky = [c for c in regressions if c in confirmations and not confirmations[c].is_confirmed]
    confirmed = [c for c in regressions if c not in flaky]
    traces["critical_regressions"] = confirmed
    traces["flaky_critical_cases"] = flaky
    p_value = overall.get("mcnemar_p")
    mcnemar = ("McNemar: no paired cases" if p_value is None else
               f"McNemar exact p={p_value:.3g} on all cases ({overall.get('baseline_only_passes') or 0} "
               f"baseline-only passes, {overall.get('candidate_only_passes') or 0} candidate-only)")
    flaky_note = ""
    if flaky:
        counts = ", ".join(f"{c} regressed in {confirmations[c].regressed_runs} of {confirmations[c].runs} runs" for c in flaky)
        flaky_note = f"; {len(flaky)} flaky regression(s) not counted ({counts})"
    breakdown = {
        "confirm_regressions": gate.confirm_regressions,
        "confirmed": confirmed,
        "flaky": flaky,
        "runs": {c: confirmations[c].as_dict() for c in sorted(confirmations)},
    }
    common = {"gate": "critical_cases", "observed": len(confirmed), "threshold": gate.max_critical_regressions,
              "n": len(critical), "unit": "count", "breakdown": breakdown}
    if len(confirmed) > gate.max_critical_regressions:
        rerun = [c for c in confirmed if c in confirmations and confirmations[c].runs > 1]
        reproduced = f" ({len(rerun)} reproduced in every re-run)" if rerun else ""
        return GateResult(status="fail", **common,
                          detail=f"{len(confirmed)} of {len(critical)} critical cases pass on the baseline "
                                 f"and fail on the candidate{reproduced}; {mcnemar}{flaky_note}")
    return GateResult(status="pass", **common,
                      detail=f"no critical regression in {len(critical)} critical cases{flaky_note}; {mcnemar}")


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
        return GateResult(gate="output_diversity", status="unavailable", unit="share",
                          detail="outputs not available, so a constant-output candidate cannot be ruled out")
    cand_share, top, n = output_concentration([candidate_outputs.get(c) for c in paired])
    base_share, _, _ = output_concentration([baseline_outputs.get(c) for c in paired])
    limit = max(gate.max_identical_output_share, base_share + DEGENERATE_BASELINE_ALLOWANCE)
    summary = f"most common output answers {cand_share:.0%} of {n} cases (baseline {base_share:.0%})"
    if n and cand_share > limit:
        shown = top if len(top) <= 60 else top[:59] + "…"
        traces["degenerate_output_cases"] = [c for c in paired if normalise_output(candidate_outputs.get(c) or "") == top]
        return GateResult(gate="output_diversity", status="fail", observed=cand_share, threshold=limit, n=n, unit="share",
                          detail=f"degenerate outputs: {summary}: {shown!r}; not approvable whatever the judges say")
    return GateResult(gate="output_diversity", status="pass", observed=cand_share, threshold=limit, n=n, unit="share",
                      detail=f"outputs vary with the input: {summary}")


def _gate_off(name: str, setting: str, unit: str) -> GateResult:
    return GateResult(gate=name, status="off", unit=unit,
                      detail=f"turned off in config (gate.{setting}: null): not part of the verdict")


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
    unit: str,
    breakdown: dict[str, Any],
    note: str = "",
) -> GateResult:
    """A bootstrapped statistic of the candidate's replays against an SLO threshold."""
    if len(values) < gate.min_cases:
        return GateResult(gate=name, status="unavailable", n=len(values), threshold=threshold, unit=unit,
                          breakdown=breakdown, detail=f"only {len(values)} replays to measure, {gate.min_cases} needed")
    observed, low, high = bootstrap_ci(values, statistic, confidence=gate.confidence,
                                       resamples=gate.bootstrap_resamples, seed=gate.seed)
    ok = observed <= threshold
    return GateResult(gate=name, status="pass" if ok else "fail", observed=observed, threshold=threshold,
                      ci_low=low, ci_high=high, n=len(values), unit=unit, breakdown=breakdown,
                      detail=f"{label} {describe(observed)} ({describe(low)} to {describe(high)}) "
                             f"{'within' if ok else 'over'} the {describe(threshold)} {limit_name}{note}")


def _latency_gate(rows: list[dict[str, Any]], gate: GateConfig, slos: SloConfig, timeout_s: float | None,
                  *, replay_mode: str = "sync") -> GateResult:
    limit = gate.limit("latency_p95_ms", slos)
    if limit is None:
        return _gate_off("latency_p95", "latency_p95_ms", "ms")
    values, breakdown = latency_values(rows, timeout_s)
    if replay_mode == "batch":
        # A batch answer's time is queue time (hours), not latency: passing or failing the SLO
        # on it would be a verdict on the provider's queue. Off for this verdict, and said so.
        return GateResult(gate="latency_p95", status="off", threshold=limit, n=breakdown["completed"], unit="ms",
                          breakdown=breakdown | {"replay_mode": "batch", "not_measured": True},
                          detail=BATCH_REPLAY_LATENCY)
    if breakdown["unknown_latency"]:
        return GateResult(
            gate="latency_p95", status="unavailable", threshold=limit, n=breakdown["completed"], unit="ms",
            breakdown=breakdown,
            detail=f"{breakdown['unknown_latency']} of {breakdown['completed']} completed replays have no latency "
                   "(a recording without latency_ms?): unknown, not fast; record it, or turn the gate off with "
                   "gate.latency_p95_ms: null",
        )
    failed = breakdown["failed_counted"]
    note = (f"; {failed} failed replay(s) counted at no less than {breakdown['failure_floor_ms']:.0f} ms each"
            if failed else "")
    return _slo_gate("latency_p95", values, p95_rows, limit, gate, describe=lambda ms: f"{ms:.0f} ms", label="p95",
                     limit_name="SLO", unit="ms", breakdown=breakdown, note=note)


def _cost_gate(rows: list[dict[str, Any]], gate: GateConfig, slos: SloConfig) -> GateResult:
    limit = gate.limit("cost_per_request_usd", slos)
    if limit is None:
        return _gate_off("cost_per_request", "cost_per_request_usd", "usd")
    completed = [r for r in rows if r.get("output_status") == "completed"]
    unknown = [r["case_id"] for r in completed if r.get("cost_usd") is None]
    breakdown = {"completed": len(completed), "unknown_cost": len(unknown), "rule": COST_RULE}
    if unknown:
        return GateResult(
            gate="cost_per_request", status="unavailable", threshold=limit, n=len(completed), unit="usd",
            breakdown=breakdown,
            detail=f"{len(unknown)} of {len(completed)} completed replays have no known cost (no price for the model, "
                   "or a recording without cost_usd): unknown, never $0; add the model to `pricing:` (or "
                   "price_override), or turn the gate off with gate.cost_per_request_usd: null",
        )
    return _slo_gate("cost_per_request", [float(r["cost_usd"]) for r in completed], mean_rows, limit, gate,
                     describe=lambda usd: show(usd, "usd"), label="mean cost per request", limit_name="budget",
                     unit="usd", breakdown=breakdown)


def replay_samples(rows: list[dict[str, Any]], timeout_s: float | None) -> ReplaySamples:
    """What the cost-quality frontier measures of one candidate's `candidate_case_scores`
    rows, by the gates' rules: pass shares, latencies (a failed replay at no less than the
    timeout) and costs (unknown when any completed replay has no cost)."""
    latencies, counts = latency_values(rows, timeout_s)
    completed = [r for r in rows if r.get("output_status") == "completed"]
    costs = [float(r["cost_usd"]) for r in completed if r.get("cost_usd") is not None]
    return ReplaySamples(
        pass_shares=[share for share, _ in case_outcomes(rows).values()],
        latencies_ms=latencies if latencies and not counts["unknown_latency"] else None,
        costs_usd=costs if completed and len(costs) == len(completed) else None,
    )
