"""The deploy gate as a policy a person can defend: it approves truly equal candidates and
rejects worse ones at the configured confidence (a 20-seed study), asks for more evidence
instead of guessing, never approves a constant-output candidate, can demand calibrated judges,
ranks candidates, and stamps every decision with the policy that made it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from assay.assets.decision_gates import decide, policy_version, rank_decisions

from assay.config import GateConfig, SloConfig

SLOS = SloConfig(latency_p95_ms=3000, cost_per_request_usd=0.01)
POLICY = GateConfig(quality_margin=0.02, confidence=0.95, bootstrap_resamples=1000, seed=5, min_cases=50)
EVALUATORS_PER_CASE = 3
STUDY_CASES = 2000
SEEDS = range(20)


def _rows(pass_shares, *, prefix="case") -> list[dict]:
    return [
        {
            "case_id": f"{prefix}-{i:04d}", "pass_share": float(share), "is_case_passed": bool(share == 1.0),
            "is_critical": False, "output_status": "completed", "latency_ms": 900.0 + i % 50,
            "cost_usd": 0.002, "judge_scores": EVALUATORS_PER_CASE, "judge_failed_scores": 0,
        }
        for i, share in enumerate(pass_shares)
    ]


def _outputs(rows, text=lambda r: f"answer for {r['case_id']}"):
    return {r["case_id"]: text(r) for r in rows}


def _simulated_pair(seed: int, shift: float, n: int = STUDY_CASES):
    """Baseline and candidate pass shares over the same n cases. Each case has its own
    difficulty (most cases are easy or hard, as in real regression sets); each evaluator's
    verdict is an independent draw. shift 0 = truly equal, -0.05 = 5 points worse."""
    rng = np.random.default_rng(seed)
    difficulty = rng.beta(0.25, 0.25, size=n) * 0.9 + 0.05
    base = (rng.random((n, EVALUATORS_PER_CASE)) < difficulty[:, None]).mean(axis=1)
    cand = (rng.random((n, EVALUATORS_PER_CASE)) < np.clip(difficulty + shift, 0, 1)[:, None]).mean(axis=1)
    return _rows(cand), _rows(base)


def _verdict(candidate_rows, baseline_rows, gate=POLICY, candidate_outputs=None, **extra):
    decision, _ = decide(
        candidate_id="cand", baseline_id="base", dataset_version="ds", candidate_rows=candidate_rows,
        baseline_rows=baseline_rows, gate=gate, slos=SLOS,
        candidate_outputs=candidate_outputs if candidate_outputs is not None else _outputs(candidate_rows),
        baseline_outputs=_outputs(baseline_rows), decided_at=datetime(2026, 11, 22, tzinfo=UTC), **extra,
    )
    return decision


@pytest.fixture(scope="module")
def study():
    """Verdict counts over 20 seeds for an equal and a 5-points-worse candidate."""
    counts = {}
    for name, shift in (("equal", 0.0), ("worse", -0.05)):
        verdicts = [_verdict(*_simulated_pair(seed, shift)).verdict for seed in SEEDS]
        counts[name] = {v: verdicts.count(v) for v in ("approved", "rejected", "insufficient_evidence")}
    print(f"\ngate study over {len(SEEDS)} seeds, {STUDY_CASES} cases, margin {POLICY.quality_margin}: {counts}")
    return counts


def test_equal_candidates_are_approved_and_never_rejected(study):
    assert study["equal"]["rejected"] == 0  # false rejects
    assert study["equal"]["approved"] >= 18


def test_five_points_worse_is_rejected_and_never_approved(study):
    assert study["worse"]["approved"] == 0  # false approvals
    assert study["worse"]["rejected"] >= 18


def test_an_interval_straddling_the_margin_asks_for_more_cases():
    """An equal candidate on too few cases for this margin: not rejected by bad luck, not
    approved either; the reason says how many cases would settle it."""
    cand, base = _simulated_pair(3, 0.0, n=200)
    decision = _verdict(cand, base)
    quality = next(g for g in decision.gates if g.gate == "quality")
    assert quality.status == "unavailable" and decision.verdict == "insufficient_evidence"
    assert quality.ci_low < -POLICY.quality_margin < quality.observed
    needed = int(quality.detail.split("about ")[1].split()[0])
    assert needed > 200


def test_thirty_cases_are_insufficient_when_the_policy_asks_for_fifty():
    rows = _rows([1.0] * 30)
    decision = _verdict(rows, _rows([0.0] * 30))  # even a candidate that looks far better
    assert decision.verdict == "insufficient_evidence"
    evidence = next(g for g in decision.gates if g.gate == "evidence")
    assert evidence.status == "unavailable" and "at least 50" in evidence.detail


def test_a_constant_output_candidate_is_never_approved_even_if_the_judge_loves_it():
    base = _rows([0.7] * 200)
    cand = _rows([1.0] * 200)  # a lenient judge passes every constant answer
    decision = _verdict(cand, base, candidate_outputs=_outputs(cand, lambda r: "Thank you for your question!"))
    diversity = next(g for g in decision.gates if g.gate == "output_diversity")
    assert diversity.status == "fail" and diversity.observed == 1.0
    assert decision.verdict == "rejected"
    assert any(r.startswith("output_diversity: degenerate outputs") for r in decision.reasons)


def test_mostly_identical_outputs_are_degenerate_but_a_classifier_like_its_baseline_is_not():
    cand = _rows([1.0] * 100)
    mostly_same = _outputs(cand, lambda r: "I can help with that." if int(r["case_id"][-4:]) % 10 else f"{r['case_id']} done")
    assert _verdict(cand, _rows([0.7] * 100), candidate_outputs=mostly_same).verdict == "rejected"
    # A label classifier answers many cases alike, and so does its baseline: not degenerate.
    labels = _outputs(cand, lambda r: ["billing", "shipping", "returns"][int(r["case_id"][-4:]) % 3])
    decision, _ = decide(
        candidate_id="cand", baseline_id="base", dataset_version="ds", candidate_rows=cand,
        baseline_rows=_rows([1.0] * 100), gate=POLICY, slos=SLOS, candidate_outputs=labels, baseline_outputs=labels,
    )
    assert next(g for g in decision.gates if g.gate == "output_diversity").status == "pass"


def test_without_outputs_the_guard_is_unavailable_never_passed():
    rows = _rows([1.0] * 60)
    decision, _ = decide(candidate_id="c", baseline_id="b", dataset_version="ds", candidate_rows=rows,
                         baseline_rows=rows, gate=POLICY, slos=SLOS)
    assert decision.verdict == "insufficient_evidence"


def test_uncalibrated_or_weak_judges_are_insufficient_evidence_when_required():
    cand, base = _rows([1.0] * 60), _rows([0.9] * 60)
    strict = POLICY.model_copy(update={"require_judge_calibration": True, "min_judge_kappa": 0.5})
    assert _verdict(cand, base, gate=strict, judge_calibration={"faithfulness": 0.8}).verdict == "approved"
    missing = _verdict(cand, base, gate=strict, judge_calibration={"faithfulness": 0.8, "tool_choice": None})
    weak = _verdict(cand, base, gate=strict, judge_calibration={"faithfulness": 0.3})
    for decision, text in ((missing, "no human labels for tool_choice"), (weak, "faithfulness: kappa 0.30")):
        assert decision.verdict == "insufficient_evidence"
        assert text in next(g for g in decision.gates if g.gate == "evidence").detail
    # Not required: the same evidence decides as before.
    assert _verdict(cand, base, judge_calibration={"faithfulness": None}).verdict == "approved"


def test_candidates_are_ranked_by_verdict_then_by_the_guaranteed_delta():
    base = _rows([0.8] * 100)
    better, much_better, worse = _rows([0.9] * 100), _rows([1.0] * 100), _rows([0.5] * 100)
    decisions = []
    for name, rows in (("better", better), ("worse", worse), ("much_better", much_better)):
        decision = _verdict(rows, base)
        decision.candidate_id = name
        decisions.append(decision)
    ranked = rank_decisions(decisions)
    assert [(d.candidate_id, d.rank, d.verdict) for d in ranked] == [
        ("much_better", 1, "approved"), ("better", 2, "approved"), ("worse", 3, "rejected"),
    ]


def test_every_decision_records_the_policy_that_made_it():
    cand, base = _rows([1.0] * 60), _rows([1.0] * 60)
    decision = _verdict(cand, base)
    assert decision.policy_version == policy_version(POLICY, SLOS) and decision.policy_version.startswith("1+")
    changed = POLICY.model_copy(update={"quality_margin": 0.05})
    assert policy_version(changed, SLOS) != decision.policy_version
    assert policy_version(POLICY.model_copy(update={"version": "2026-q4"}), SLOS).startswith("2026-q4+")
