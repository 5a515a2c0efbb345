"""The statistics behind a decision, and the gate (`decide`) on synthetic per-case rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest
from assay.assets.decision_gates import decide

from assay.config import GateConfig, SloConfig
from assay.stats import (
    bootstrap_ci,
    mcnemar_exact_p,
    mean_rows,
    p95_rows,
    paired_mean_delta_ci,
)

# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("baseline_only", "candidate_only", "expected"),
    [
        (0, 5, 0.0625),  # 2 * (1/2)^5
        (5, 0, 0.0625),  # symmetric
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (2, 8, 2 * (1 + 10 + 45) / 1024),
        (0, 1, 1.0),  # 2 * 1/2, capped at 1
        (3, 3, 1.0),  # b == c
        (7, 7, 1.0),
        (0, 0, 1.0),  # no discordant pairs: no evidence of a difference
    ],
)
def test_mcnemar_exact_p_hand_computed(baseline_only, candidate_only, expected):
    assert mcnemar_exact_p(baseline_only, candidate_only) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_ci_is_seeded_and_contains_the_observed_mean():
    rng = np.random.default_rng(1)
    values = rng.normal(10.0, 2.0, size=200).tolist()
    first = bootstrap_ci(values, mean_rows, confidence=0.95, resamples=1000, seed=7)
    again = bootstrap_ci(values, mean_rows, confidence=0.95, resamples=1000, seed=7)
    other = bootstrap_ci(values, mean_rows, confidence=0.95, resamples=1000, seed=8)
    assert first == again
    assert other != first
    observed, low, high = first
    assert observed == pytest.approx(float(np.mean(values)))
    assert low < observed < high
    # About 1.96 standard errors each side of the mean (se = 2 / sqrt(200) ~ 0.14): ~0.55 wide.
    assert 0.4 < high - low < 0.7


def test_bootstrap_ci_wider_at_higher_confidence():
    values = np.random.default_rng(2).uniform(size=100).tolist()
    _, low90, high90 = bootstrap_ci(values, mean_rows, confidence=0.90, resamples=2000, seed=1)
    _, low99, high99 = bootstrap_ci(values, mean_rows, confidence=0.99, resamples=2000, seed=1)
    assert low99 < low90 and high99 > high90


def test_bootstrap_of_constant_values_is_a_point():
    assert bootstrap_ci([3.0] * 20, mean_rows, confidence=0.95, resamples=200, seed=1) == (3.0, 3.0, 3.0)


def test_bootstrap_p95_observed_matches_numpy_linear_quantile():
    values = list(range(1, 101))
    observed, low, high = bootstrap_ci(values, p95_rows, confidence=0.95, resamples=500, seed=3)
    assert observed == pytest.approx(95.05)  # linear interpolation, as DuckDB quantile_cont
    assert low <= observed <= high


def test_bootstrap_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        bootstrap_ci([], mean_rows, confidence=0.95, resamples=200, seed=1)


def test_paired_mean_delta_ci():
    baseline = [0.5, 0.6, 0.7, 0.8] * 10
    candidate = [b + 0.1 for b in baseline]
    delta, low, high = paired_mean_delta_ci(candidate, baseline, confidence=0.95, resamples=500, seed=1)
    # Every pair improves by exactly 0.1: pairing removes the between-case spread entirely.
    assert delta == pytest.approx(0.1)
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)

    mixed = [1.0, 0.0] * 20
    delta, low, high = paired_mean_delta_ci(mixed, [0.5] * 40, confidence=0.95, resamples=500, seed=1)
    assert delta == pytest.approx(0.0)
    assert low < 0 < high
    assert paired_mean_delta_ci(mixed, [0.5] * 40, confidence=0.95, resamples=500, seed=1) == (delta, low, high)


def test_paired_samples_must_pair():
    with pytest.raises(ValueError, match="same length"):
        paired_mean_delta_ci([1.0, 0.0], [1.0], confidence=0.95, resamples=200, seed=1)


# ---------------------------------------------------------------------------- the gate

GATE = GateConfig(min_cases=30, bootstrap_resamples=500, quality_margin=0.02, seed=11)
SLOS = SloConfig(latency_p95_ms=3000, cost_per_request_usd=0.01)
DECIDED_AT = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _row(i: int, *, pass_share: float = 1.0, critical: bool = False, **overrides) -> dict:
    row = {
        "case_id": f"case-{i:03d}",
        "pass_share": pass_share,
        "is_case_passed": pass_share == 1.0,
        "is_critical": critical,
        "output_status": "completed",
        "latency_ms": 800.0 + 10 * (i % 20),
        "cost_usd": 0.002,
    }
    return row | overrides


def _rows(n: int = 40, **overrides) -> list[dict]:
    return [_row(i, **overrides) for i in range(n)]


def _outputs(rows) -> dict:
    """Diverse outputs, one per case (the degenerate-output guard has nothing to object to)."""
    return {r["case_id"]: f"answer about {r['case_id']}" for r in rows}


def _decide(candidate_rows, baseline_rows, gate=GATE, slos=SLOS, candidate_outputs=None, **extra):
    return decide(
        candidate_id="cand",
        baseline_id="base",
        dataset_version="ds-1",
        candidate_rows=candidate_rows,
        baseline_rows=baseline_rows,
        gate=gate,
        slos=slos,
        candidate_outputs=candidate_outputs if candidate_outputs is not None else _outputs(candidate_rows),
        baseline_outputs=_outputs(baseline_rows),
        decided_at=DECIDED_AT,
        **extra,
    )


def _gates(decision) -> dict:
    return {g.gate: g for g in decision.gates}


def test_clearly_better_candidate_is_approved():
    baseline = [_row(i, pass_share=0.5 if i % 2 else 1.0) for i in range(40)]
    candidate = _rows(40)
    decision, traces = _decide(candidate, baseline)
    assert decision.verdict == "approved", decision.reasons
    assert {g.gate: g.status for g in decision.gates} == {
        "evidence": "pass",
        "quality": "pass",
        "critical_cases": "pass",
        "output_diversity": "pass",
        "latency_p95": "pass",
        "cost_per_request": "pass",
    }
    quality = _gates(decision)["quality"]
    assert quality.observed == pytest.approx(0.25)
    assert quality.ci_low > 0 and quality.ci_low <= quality.observed <= quality.ci_high
    assert quality.n == 40
    assert decision.reasons == ["all 6 gates passed on 40 paired cases"]
    assert (decision.candidate_id, decision.baseline_id, decision.dataset_version) == ("cand", "base", "ds-1")
    assert decision.decided_at == DECIDED_AT
    assert traces["paired_cases"] == [f"case-{i:03d}" for i in range(40)]
    assert traces["regressed_cases"] == []
    assert traces["improved_cases"] == [f"case-{i:03d}" for i in range(1, 40, 2)]
    assert traces["critical_regressions"] == []


def test_clearly_worse_candidate_is_rejected_on_quality():
    baseline = _rows(40)
    candidate = [_row(i, pass_share=0.5 if i % 4 == 0 else 1.0) for i in range(40)]
    decision, traces = _decide(candidate, baseline)
    assert decision.verdict == "rejected"
    quality = _gates(decision)["quality"]
    assert quality.status == "fail"
    assert quality.observed == pytest.approx(-0.125)
    assert quality.ci_high < 0 and quality.threshold == pytest.approx(-0.02)
    assert any(r.startswith("quality: worse than baseline") for r in decision.reasons)
    assert traces["regressed_cases"] == [f"case-{i:03d}" for i in range(0, 40, 4)]


def test_small_loss_within_the_margin_is_non_inferior():
    baseline = _rows(100)
    candidate = [_row(i, pass_share=0.9 if i == 5 else 1.0) for i in range(100)]
    decision, _ = _decide(candidate, baseline)
    assert _gates(decision)["quality"].status == "pass"


def test_one_critical_regression_rejects_at_equal_quality():
    baseline = _rows(40)
    baseline[7] = _row(7, critical=True)
    candidate = _rows(40)
    # The candidate fails one of ten checks on the critical case only: quality is
    # non-inferior on the mean, but a critical case regressed.
    candidate[7] = _row(7, pass_share=0.9, critical=True)
    decision, traces = _decide(candidate, baseline)
    gates = _gates(decision)
    assert gates["quality"].status == "pass"
    assert gates["critical_cases"].status == "fail"
    assert gates["critical_cases"].observed == 1 and gates["critical_cases"].n == 1
    assert decision.verdict == "rejected"
    assert [r.split(":")[0] for r in decision.reasons] == ["critical_cases"]
    assert traces["critical_regressions"] == ["case-007"]
    assert traces["regressed_cases"] == ["case-007"]


def test_regression_on_a_non_critical_case_is_not_a_critical_regression():
    baseline = _rows(40)
    candidate = _rows(40)
    candidate[3] = _row(3, pass_share=0.9)
    decision, traces = _decide(candidate, baseline)
    assert _gates(decision)["critical_cases"].status == "pass"
    assert traces["critical_regressions"] == []
    assert decision.verdict == "approved"


def test_critical_gate_reports_mcnemar_on_all_cases():
    baseline = [_row(i, pass_share=0.5 if i < 5 else 1.0) for i in range(40)]
    candidate = _rows(40)
    decision, _ = _decide(candidate, baseline)
    detail = _gates(decision)["critical_cases"].detail
    assert "McNemar exact p=0.0625" in detail
    assert "0 baseline-only passes, 5 candidate-only" in detail


def test_too_few_cases_is_insufficient_evidence_never_approved():
    baseline = [_row(i, pass_share=0.0) for i in range(10)]
    candidate = _rows(10)  # better on every case, but only 10 of the 30 needed
    decision, _ = _decide(candidate, baseline)
    gates = _gates(decision)
    assert decision.verdict == "insufficient_evidence"
    assert gates["evidence"].status == "unavailable"
    assert gates["evidence"].observed == 10 and gates["evidence"].threshold == 30
    assert gates["quality"].status == "unavailable"
    assert any(r.startswith("evidence:") for r in decision.reasons)


def test_only_cases_scored_for_both_count_as_evidence():
    baseline = _rows(40)
    candidate = _rows(40)
    for row in candidate[:15]:
        row["pass_share"] = None  # not scored (e.g. replay errored)
    decision, traces = _decide(candidate, baseline[:35])
    assert len(traces["paired_cases"]) == 20
    assert decision.verdict == "insufficient_evidence"


def _evaluations(case_ids, evaluator, *, judged=False, outcome="completed", outcome_type=None, passed=True) -> list[dict]:
    """Per-evaluation rows (`candidate_case_metrics`) of one evaluator on these cases."""
    completed = outcome == "completed"
    return [
        {"case_id": c, "evaluator": evaluator, "outcome": outcome, "outcome_type": outcome_type,
         "pass_share": (1.0 if passed else 0.0) if completed else None, "is_passed": completed and passed,
         "is_judged": judged}
        for c in case_ids
    ]


def _ids(rows) -> list[str]:
    return [r["case_id"] for r in rows]


def test_judge_error_share_above_ceiling_is_insufficient_evidence():
    baseline, candidate = _rows(40), _rows(40)
    ids = _ids(candidate)
    # Ten of 40 judge evaluations errored (25%); thirty cheap checks completed beside them
    # would dilute that to 12.5% of all evaluations: judges are counted on their own.
    cand_metrics = (_evaluations(ids[10:], "faithfulness", judged=True)
                    + _evaluations(ids[:10], "faithfulness", judged=True, outcome="error", outcome_type="bad_response")
                    + _evaluations(ids, "no_pii") + _evaluations(ids, "length"))
    base_metrics = _evaluations(ids, "faithfulness", judged=True) + _evaluations(ids, "no_pii") + _evaluations(ids, "length")
    decision, _ = _decide(candidate, baseline, candidate_metrics=cand_metrics, baseline_metrics=base_metrics,
                          judge_model="openai/judge-x")
    evidence = _gates(decision)["evidence"]
    assert evidence.status == "unavailable"
    assert evidence.observed == pytest.approx(0.25) and evidence.threshold == pytest.approx(0.1)
    assert decision.verdict == "insufficient_evidence"
    assert "cand lost 10 of 40 LLM-judge evaluations (25%): bad_response ×10 in faithfulness" in evidence.detail
    assert "openai/judge-x" in evidence.detail  # the fix hint names the judge
    assert evidence.breakdown["candidate"]["judges"] == {"total": 40, "lost": 10, "share": 0.25, "by_type": {"bad_response": 10}}


def test_error_share_at_ceiling_passes():
    candidate = _rows(40)
    ids = _ids(candidate)
    metrics = (_evaluations(ids[4:], "faithfulness", judged=True)
               + _evaluations(ids[:4], "faithfulness", judged=True, outcome="skipped", outcome_type="budget"))
    decision, _ = _decide(candidate, _rows(40), candidate_metrics=metrics,
                          baseline_metrics=_evaluations(ids, "faithfulness", judged=True))
    assert _gates(decision)["evidence"].status == "pass"  # exactly 10%: not above the ceiling
    assert decision.verdict == "approved"


def test_a_broken_provider_is_insufficient_evidence_whatever_else_fails():
    """Every replay refused with a 401: no quality verdict, no latency verdict; the reason names
    the cause and what to do, and the other gates' failures are not reported as the cause."""
    baseline = _rows(40)
    candidate = _rows(40, output_status="error", error_type="auth", pass_share=None, is_case_passed=False,
                      latency_ms=5.0, cost_usd=None)
    metrics = _evaluations(_ids(candidate), "no_pii", outcome="skipped", outcome_type="replay_failed")
    decision, traces = _decide(candidate, baseline, candidate_metrics=metrics,
                               baseline_metrics=_evaluations(_ids(baseline), "no_pii"),
                               candidate_model="openai/gpt-4o-mini", timeout_s=30)
    assert decision.verdict == "insufficient_evidence"
    assert decision.reasons == [f"evidence: {_gates(decision)['evidence'].detail}"]
    reason = decision.reasons[0]
    assert "candidate cand lost 40 of 40 replays (100%): auth ×40 (401 from openai: is OPENAI_API_KEY set?)" in reason
    assert "max_error_share" in reason
    assert traces["paired_cases"] == []
    # A failure that took 5 ms counts at the 30 s timeout: failing fast does not look fast.
    assert _gates(decision)["latency_p95"].status == "fail"


def test_a_missing_input_counts_only_where_the_other_side_completed():
    baseline, candidate = _rows(40), _rows(40)
    ids = _ids(candidate)
    # Both sides answered with tool calls on ten cases: a text check does not apply to either.
    both_skip = _evaluations(ids[:10], "no_pii", outcome="skipped", outcome_type="missing_input")
    base_metrics = both_skip + _evaluations(ids[10:], "no_pii")
    decision, _ = _decide(candidate, baseline, candidate_metrics=both_skip + _evaluations(ids[10:], "no_pii"),
                          baseline_metrics=base_metrics)
    evidence = _gates(decision)["evidence"]
    assert evidence.status == "pass" and evidence.breakdown["candidate"]["not_applicable_evaluations"] == 10
    # The candidate gave no text where the baseline did, on 10 of 40 cases: evidence lost.
    cand_metrics = _evaluations(ids[:10], "no_pii", outcome="skipped", outcome_type="missing_input") + _evaluations(ids[10:], "no_pii")
    decision, _ = _decide(candidate, baseline, candidate_metrics=cand_metrics,
                          baseline_metrics=_evaluations(ids, "no_pii"))
    evidence = _gates(decision)["evidence"]
    assert evidence.status == "unavailable" and "missing_input ×10 in no_pii" in evidence.detail


def test_a_candidate_without_replays_gets_its_own_decision_naming_why():
    decision, _ = _decide([], _rows(40), missing_reason="its recorded outputs file /x/outs.jsonl is missing")
    assert decision.verdict == "insufficient_evidence"
    assert decision.reasons == ["evidence: no replays of this dataset version for the candidate cand: "
                                "its recorded outputs file /x/outs.jsonl is missing"]
    assert decision.window == "dataset ds-1, 0 paired cases"


def test_cost_over_slo_is_rejected():
    decision, _ = _decide(_rows(40, cost_usd=0.05), _rows(40))
    cost = _gates(decision)["cost_per_request"]
    assert cost.status == "fail"
    assert cost.observed == pytest.approx(0.05) and cost.threshold == pytest.approx(0.01)
    assert decision.verdict == "rejected"
    assert [r.split(":")[0] for r in decision.reasons] == ["cost_per_request"]


def test_latency_p95_over_slo_is_rejected():
    # 10% of the cases are slow: the mean stays low, the p95 does not.
    candidate = [_row(i, latency_ms=9000.0 if i % 10 == 0 else 500.0) for i in range(40)]
    decision, _ = _decide(candidate, _rows(40))
    latency = _gates(decision)["latency_p95"]
    assert latency.status == "fail"
    assert latency.observed > 3000 and latency.threshold == 3000
    assert latency.n == 40
    assert decision.verdict == "rejected"
    assert [r.split(":")[0] for r in decision.reasons] == ["latency_p95"]


def test_failed_replays_count_in_latency_at_no_less_than_their_time_and_the_timeout():
    candidate = _rows(40)
    for row in candidate[:15]:
        row.update(output_status="error", error_type="timeout", latency_ms=60000.0, pass_share=None, cost_usd=None)
    decision, _ = _decide(candidate, _rows(40), timeout_s=30)
    latency = _gates(decision)["latency_p95"]
    assert latency.status == "fail" and latency.n == 40 and latency.observed == pytest.approx(60000.0)
    assert latency.breakdown["failed_counted"] == 15 and "15 failed replay(s) counted" in latency.detail
    # Cost is what a completed request costs: the failed ones are not in it.
    assert _gates(decision)["cost_per_request"].n == 25
    # A failure faster than the timeout counts at the timeout.
    fast = _rows(40)
    for row in fast[:3]:
        row.update(output_status="error", error_type="server_error", latency_ms=4.0, pass_share=None)
    latency = _gates(_decide(fast, _rows(40), timeout_s=30)[0])["latency_p95"]
    from assay.assets.candidate_outputs import latency_values

    values, _ = latency_values(sorted(fast, key=lambda r: r["case_id"]), 30)
    assert sorted(values)[-3:] == [30000.0] * 3
    assert latency.observed == pytest.approx(float(np.quantile(values, 0.95)))


def test_a_recorded_candidate_without_latency_is_unavailable_unless_the_gate_is_off():
    decision, _ = _decide(_rows(40, latency_ms=None), _rows(40))
    assert _gates(decision)["latency_p95"].status == "unavailable"
    assert "no latency" in _gates(decision)["latency_p95"].detail and decision.verdict == "insufficient_evidence"
    off = GATE.model_copy(update={"latency_p95_ms": None})
    decision, _ = _decide(_rows(40, latency_ms=None), _rows(40), gate=off)
    assert _gates(decision)["latency_p95"].status == "off" and decision.verdict == "approved"
    assert "latency_p95: turned off in config (gate.latency_p95_ms: null)" in " ".join(decision.reasons)


def test_a_batch_replayed_candidate_is_not_judged_on_queue_time():
    """replay_mode: batch answers carry no latency (their time is the provider's queue): the
    latency gate neither passes nor fails, is not part of the verdict, and every verdict's
    reasons say it was not measured."""
    decision, _ = _decide(_rows(40, latency_ms=None), _rows(40), replay_mode="batch")
    latency = _gates(decision)["latency_p95"]
    assert (latency.status, latency.observed, latency.breakdown["replay_mode"]) == ("off", None, "batch")
    assert latency.detail.startswith("not measured: replayed through the Batch API")
    assert decision.verdict == "approved"
    assert decision.reasons[0] == "all 5 gates passed on 40 paired cases"
    assert f"latency_p95: {latency.detail}" in decision.reasons
    # Queue time looks like a breach of any SLO: it is not one.
    queued = _decide(_rows(40, latency_ms=3_600_000.0), _rows(40), replay_mode="batch")[0]
    assert queued.verdict == "approved"
    # Rejected on quality: the reasons still say latency was not measured, once.
    worse = _decide([_row(i, pass_share=0.0) for i in range(40)], _rows(40), replay_mode="batch")[0]
    assert worse.verdict == "rejected"
    assert [r.split(":")[0] for r in worse.reasons].count("latency_p95") == 1
    assert any(r.startswith("latency_p95: not measured: replayed through the Batch API") for r in worse.reasons)


def test_unknown_cost_is_unavailable_and_the_gate_can_be_turned_off_visibly():
    decision, _ = _decide(_rows(40, cost_usd=None), _rows(40))
    cost = _gates(decision)["cost_per_request"]
    assert cost.status == "unavailable" and "never $0" in cost.detail
    assert decision.verdict == "insufficient_evidence"
    # One unknown among known costs is enough: the mean of the known ones would understate it.
    partly = _rows(40)
    partly[0]["cost_usd"] = None
    assert _gates(_decide(partly, _rows(40))[0])["cost_per_request"].status == "unavailable"
    off = GATE.model_copy(update={"cost_per_request_usd": None})
    decision, _ = _decide(_rows(40, cost_usd=None), _rows(40), gate=off)
    assert _gates(decision)["cost_per_request"].status == "off" and decision.verdict == "approved"
    assert decision.reasons[0] == "all 5 gates passed on 40 paired cases"
    # A gate's own limit, instead of the SLO's.
    strict = GATE.model_copy(update={"cost_per_request_usd": 0.001})
    assert _gates(_decide(_rows(40), _rows(40), gate=strict)[0])["cost_per_request"].status == "fail"


def test_a_failing_gate_wins_over_an_unavailable_one():
    candidate = [_row(i, pass_share=0.5 if i % 2 else 1.0, cost_usd=None) for i in range(40)]
    decision, _ = _decide(candidate, _rows(40))
    assert _gates(decision)["quality"].status == "fail"
    assert decision.verdict == "rejected"


def test_decision_is_reproducible_and_independent_of_row_order():
    baseline = [_row(i, pass_share=0.75 if i % 3 else 1.0) for i in range(40)]
    candidate = [
        _row(
            i,
            pass_share=1.0 if i % 5 else 0.75,
            latency_ms=200.0 + (i * 37 % 41) * 61.0,
            cost_usd=0.001 + (i * 13 % 17) * 0.0003,
        )
        for i in range(40)
    ]
    first, first_traces = _decide(candidate, baseline)
    assert _decide(candidate, baseline)[0].model_dump() == first.model_dump()
    # Same evidence read in another order: same numbers, intervals included.
    shuffled = candidate[:]
    random.Random(5).shuffle(shuffled)
    again, again_traces = _decide(shuffled, list(reversed(baseline)))
    assert again.model_dump() == first.model_dump()
    assert again_traces == first_traces
