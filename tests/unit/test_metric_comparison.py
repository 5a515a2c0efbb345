"""Every metric with its interval: Holm's step-down on a hand-worked example, the paired
bootstrap interval against an independent computation, the per-metric comparison of two
candidates (only cases both completed), and confirming critical regressions."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from assay.assets.decision_gates import decide
from assay.assets.regression_confirmation import Confirmation, confirm_cases

from assay.config import GateConfig, SloConfig
from assay.metric_comparison import compare_candidates
from assay.stats import holm_adjust, paired_mean_delta_ci

GATE = GateConfig(min_cases=30, bootstrap_resamples=4000, seed=3)


def test_holm_step_down_hand_worked():
    # m = 4. Sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04, raised to
    # 0.06 by the step-down (an adjusted p never falls below the one before it).
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1; a single test is unadjusted; ties keep their order.
    assert holm_adjust([0.5, 0.4]) == pytest.approx([0.8, 0.8])
    assert holm_adjust([0.2]) == [0.2]
    assert holm_adjust([0.02, 0.02, 0.9]) == pytest.approx([0.06, 0.06, 0.9])


def _independent_percentile_interval(deltas: list[float], resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """A plain-Python paired bootstrap (another RNG, no numpy): resample cases with their
    delta, take the mean, read the percentiles."""
    rng = random.Random(seed)
    n = len(deltas)
    means = sorted(sum(deltas[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    return means[int(alpha * resamples)], means[int((1 - alpha) * resamples) - 1]


def test_paired_interval_agrees_with_an_independent_computation():
    rng = random.Random(11)
    baseline = [rng.choice([0.0, 0.5, 1.0]) for _ in range(200)]
    candidate = [min(1.0, b + rng.choice([-0.5, 0.0, 0.0, 0.5])) for b in baseline]
    delta, low, high = paired_mean_delta_ci(candidate, baseline, confidence=0.95, resamples=4000, seed=3)
    deltas = [c - b for c, b in zip(candidate, baseline, strict=True)]
    assert delta == pytest.approx(sum(deltas) / len(deltas))
    ind_low, ind_high = _independent_percentile_interval(deltas, 4000, 0.95, seed=5)
    # Two Monte Carlo estimates of the same percentiles: within a few of their standard errors
    # (about 0.002 here), nowhere near the interval's width (about 0.1).
    assert low == pytest.approx(ind_low, abs=0.01) and high == pytest.approx(ind_high, abs=0.01)
    assert high - low > 0.05


def _cases(shares: dict[str, float]) -> list[dict]:
    return [{"case_id": c, "pass_share": s, "is_case_passed": s == 1.0} for c, s in shares.items()]


def _evals(evaluator: str, passed: dict[str, bool | None]) -> list[dict]:
    return [
        {"case_id": c, "evaluator": evaluator, "outcome": "completed" if p is not None else "error",
         "pass_share": (1.0 if p else 0.0) if p is not None else None, "is_passed": bool(p)}
        for c, p in passed.items()
    ]


def test_each_metric_is_compared_on_the_cases_both_completed_with_holm_across_metrics():
    ids = [f"c{i:02d}" for i in range(40)]
    # truthfulness: the candidate fails 12 cases the baseline passes (a real difference);
    # informativeness: 2 against 1 (no clear difference); the candidate errored on 5 cases.
    cand_truth = {c: i >= 12 for i, c in enumerate(ids)}
    base_truth = dict.fromkeys(ids, True)
    cand_info = {c: (None if i < 5 else i not in (6, 7)) for i, c in enumerate(ids)}
    base_info = {c: i != 30 for i, c in enumerate(ids)}
    rows = compare_candidates(
        "cand", "base", "ds-1",
        candidate_cases=_cases({c: (0.5 if i < 12 else 1.0) for i, c in enumerate(ids)}),
        baseline_cases=_cases(dict.fromkeys(ids, 1.0)),
        candidate_metrics=_evals("truthfulness", cand_truth) + _evals("informativeness", cand_info),
        baseline_metrics=_evals("truthfulness", base_truth) + _evals("informativeness", base_info),
        stats=GATE,
    )
    by_metric = {r.metric: r for r in rows}
    assert [r.metric for r in rows] == ["case_pass_share", "informativeness", "truthfulness"]
    truth, info = by_metric["truthfulness"], by_metric["informativeness"]
    assert (truth.paired_cases, truth.baseline_only_passes, truth.candidate_only_passes) == (40, 12, 0)
    assert truth.mean_delta == pytest.approx(-0.3) and truth.ci_high < 0
    assert truth.mcnemar_p == pytest.approx(2 / 2**12)
    assert (info.paired_cases, info.candidate_cases, info.baseline_cases) == (35, 35, 40)
    assert (info.baseline_only_passes, info.candidate_only_passes) == (2, 1)
    # Holm across the three metrics of this comparison, by hand from the raw p-values.
    raw = sorted((r.mcnemar_p, r.metric) for r in rows)
    expected = {}
    running = 0.0
    for rank, (p, metric) in enumerate(raw):
        running = max(running, min(1.0, (3 - rank) * p))
        expected[metric] = running
    assert {r.metric: r.holm_p for r in rows} == pytest.approx(expected)
    assert truth.significant and not info.significant
    assert {r.metric: r.direction for r in rows}["truthfulness"] == "worse"
    assert by_metric["informativeness"].direction == "no clear difference"
    assert all(r.significant == (r.holm_p < 0.05) for r in rows)


def test_a_metric_only_the_candidate_has_is_shown_unpaired_and_not_tested():
    ids = [f"c{i:02d}" for i in range(10)]
    rows = compare_candidates(
        "cand", "base", "ds", candidate_cases=_cases(dict.fromkeys(ids, 1.0)), baseline_cases=_cases(dict.fromkeys(ids, 1.0)),
        candidate_metrics=_evals("vs_baseline", {c: i < 7 for i, c in enumerate(ids)}), baseline_metrics=[], stats=GATE,
    )
    pairwise = next(r for r in rows if r.metric == "vs_baseline")
    assert (pairwise.paired_cases, pairwise.candidate_cases, pairwise.candidate_mean) == (0, 10, pytest.approx(0.7))
    assert pairwise.mcnemar_p is None and pairwise.holm_p is None and pairwise.direction == "not compared"


def test_a_stored_comparison_without_pairs_still_decides():
    rows = [{"case_id": f"c{i}", "pass_share": 1.0, "is_case_passed": True, "is_critical": False,
             "output_status": "completed", "latency_ms": 1.0, "cost_usd": 0.0} for i in range(40)]
    stored = compare_candidates("cand", "base", "ds", candidate_cases=[], baseline_cases=rows, candidate_metrics=[],
                                baseline_metrics=[], stats=GATE)
    decision, _ = decide(candidate_id="cand", baseline_id="base", dataset_version="ds", candidate_rows=[],
                         baseline_rows=rows, gate=GATE, slos=SloConfig(), metric_rows=[r.model_dump() for r in stored],
                         missing_reason="its candidate_job failed")
    assert decision.verdict == "insufficient_evidence"
    assert "McNemar: no paired cases" in next(g for g in decision.gates if g.gate == "critical_cases").detail


def test_the_quality_gate_reads_the_stored_comparison_row():
    ids = [f"c{i:02d}" for i in range(40)]
    cand = [{"case_id": c, "pass_share": 1.0, "is_case_passed": True, "is_critical": False, "output_status": "completed",
             "latency_ms": 100.0, "cost_usd": 0.001} for c in ids]
    stored = compare_candidates("cand", "base", "ds", candidate_cases=cand, baseline_cases=cand,
                                candidate_metrics=[], baseline_metrics=[], stats=GATE)
    row = stored[0].model_dump() | {"mean_delta": 0.1, "ci_low": 0.05, "ci_high": 0.15}
    decision, _ = decide(candidate_id="cand", baseline_id="base", dataset_version="ds", candidate_rows=cand,
                         baseline_rows=cand, gate=GATE, slos=SloConfig(), metric_rows=[row],
                         decided_at=datetime(2026, 11, 22, tzinfo=UTC))
    quality = next(g for g in decision.gates if g.gate == "quality")
    assert (quality.observed, quality.ci_low, quality.ci_high) == (0.1, 0.05, 0.15)


# --- confirming critical regressions -----------------------------------------------------------


def test_confirmation_stops_at_the_first_run_that_does_not_regress():
    seen = []

    def rerun(case_ids, k):
        seen.append((k, list(case_ids)))
        # "flaky" passes on its first re-run; "real" fails every time; "broken" errors once.
        return {
            "flaky": (True, True),
            "real": (True, False),
            "broken": (None, False) if k == 1 else (True, False),
        }

    results = confirm_cases(["flaky", "real", "broken"], max_reruns=2, rerun=rerun)
    assert seen == [(1, ["flaky", "real", "broken"]), (2, ["real", "broken"])]
    assert not results["flaky"].is_confirmed and (results["flaky"].runs, results["flaky"].regressed_runs) == (2, 1)
    assert results["real"].is_confirmed and results["real"].runs == 3
    assert results["broken"].is_confirmed and results["broken"].inconclusive_runs == 1 and results["broken"].runs == 2


def test_a_flaky_critical_regression_does_not_reject_and_a_real_one_does():
    ids = [f"c{i:02d}" for i in range(40)]

    def rows(failing: set[str]) -> list[dict]:
        return [{"case_id": c, "pass_share": 0.5 if c in failing else 1.0, "is_case_passed": c not in failing,
                 "is_critical": c in ("c01", "c02"), "output_status": "completed", "latency_ms": 100.0,
                 "cost_usd": 0.001} for c in ids]

    outputs = {c: f"answer {c}" for c in ids}

    def verdict(confirmations):
        decision, traces = decide(
            candidate_id="cand", baseline_id="base", dataset_version="ds", candidate_rows=rows({"c01"}),
            baseline_rows=rows(set()), gate=GATE.model_copy(update={"quality_margin": 0.1}), slos=SloConfig(),
            candidate_outputs=outputs, baseline_outputs=outputs,
            confirm=(lambda case_ids: {c: confirmations[c] for c in case_ids}) if confirmations else None,
        )
        return decision, traces

    decision, traces = verdict({"c01": Confirmation("c01", runs=2, regressed_runs=1)})
    critical = next(g for g in decision.gates if g.gate == "critical_cases")
    assert critical.status == "pass" and decision.verdict == "approved"
    assert traces["flaky_critical_cases"] == ["c01"] and traces["critical_regressions"] == []
    assert "1 flaky regression(s) not counted (c01 regressed in 1 of 2 runs)" in critical.detail
    decision, traces = verdict({"c01": Confirmation("c01", runs=3, regressed_runs=3)})
    assert decision.verdict == "rejected" and traces["critical_regressions"] == ["c01"]
    assert "(1 reproduced in every re-run)" in next(g for g in decision.gates if g.gate == "critical_cases").detail
    # Without confirmation (N = 0): today's behaviour, the first run decides.
    assert verdict(None)[0].verdict == "rejected"


def test_nothing_is_rerun_when_a_rerun_cannot_differ():
    from assay.assets.regression_confirmation import not_rerun_reason

    from assay.contracts.candidate import Candidate

    base = Candidate(candidate_id="base", model="m", is_baseline=True)
    cand = Candidate(candidate_id="cand", model="m")
    assert not_rerun_reason(cand, base, 2) is None
    assert not_rerun_reason(cand, base, 0) == "gate.confirm_regressions is 0"
    cold = {"params": {"temperature": 0}}
    assert "temperature 0" in not_rerun_reason(cand.model_copy(update=cold), base.model_copy(update=cold), 2)
    # One side still samples: its draw may differ, so the case is re-run.
    assert not_rerun_reason(cand.model_copy(update=cold), base, 2) is None
    recorded = Candidate(candidate_id="rec", recorded="outs.jsonl")
    assert "recorded outputs cannot be re-run (rec)" in not_rerun_reason(recorded, base, 2)
