"""Issue 19, item 6: the decision trusts a judge only as far as its calibration goes — a kappa
interval reaching below `gate.min_judge_kappa`, or a pairwise judge whose position consistency
is below `gate.min_position_consistency`, makes the verdict insufficient_evidence, with the
figure in the reasons."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from assay.assets.deploy_decisions import judges_trust

from assay.calibration import calibration_rows
from assay.config import load_config
from assay.contracts.calibration import CALIBRATION_ARROW_SCHEMA
from assay.contracts.score import Score
from assay.lake import Lake
from tests.unit.test_calibrate_any_scorer import write_pairwise_candidate_scores
from tests.unit.test_gate_policy import POLICY, _rows, _verdict

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _evidence(decision) -> str:
    return next(g for g in decision.gates if g.gate == "evidence").detail


def test_a_kappa_interval_reaching_below_the_minimum_is_insufficient_evidence():
    cand, base = _rows([1.0] * 60), _rows([0.9] * 60)
    strict = POLICY.model_copy(update={"require_judge_calibration": True, "min_judge_kappa": 0.4})
    loose = {"series": "faithfulness|v1|sim/judge", "kind": "binary", "n": 40, "cohen_kappa": 0.55,
             "cohen_kappa_low": 0.31, "cohen_kappa_high": 0.74}
    decision = _verdict(cand, base, gate=strict, judge_calibration={"faithfulness": loose})
    assert decision.verdict == "insufficient_evidence"
    assert ("faithfulness|v1|sim/judge: kappa 0.55 [0.31, 0.74] on 40 labels reaches below gate.min_judge_kappa 0.4"
            in _evidence(decision))
    assert next(g for g in decision.gates if g.gate == "evidence").observed == 0.31
    tight = loose | {"cohen_kappa_low": 0.45}
    assert _verdict(cand, base, gate=strict, judge_calibration={"faithfulness": tight}).verdict == "approved"


def test_a_pairwise_judge_below_the_position_consistency_floor_is_insufficient_evidence():
    cand, base = _rows([1.0] * 60), _rows([0.9] * 60)
    flips = {"kind": "pairwise", "series": None, "n": None, "cohen_kappa": None, "position_consistency": 0.55,
             "pairs_both_orders": 60, "position_source": "its verdicts on cand"}
    floor = POLICY.model_copy(update={"min_position_consistency": 0.7})
    decision = _verdict(cand, base, gate=floor, judge_calibration={"vs_baseline": flips})
    assert decision.verdict == "insufficient_evidence"
    assert ("vs_baseline: position consistency 0.55 on 60 pairs (its verdicts on cand) below "
            "gate.min_position_consistency 0.7") in _evidence(decision)
    assert _verdict(cand, base, judge_calibration={"vs_baseline": flips}).verdict == "approved"  # no floor set
    steady = flips | {"position_consistency": 0.8}
    assert _verdict(cand, base, gate=floor, judge_calibration={"vs_baseline": steady}).verdict == "approved"


CONFIG = """\
project: {app: shop}
judge: {model: openai/judge-1, params: {api_base: "http://127.0.0.1:9/v1"}}
evaluators:
  - name: helpful
    type: llm_judge
    params: {rubric: answers_query}
    applies_to: {subjects: [cases]}
  - name: vs_baseline
    type: pairwise
    applies_to: {subjects: [cases]}
candidates:
  - candidate_id: current
    model: openai/model-a
    is_baseline: true
  - candidate_id: cand
    model: openai/model-b
"""


def _judge_score(subject: str, passed: bool, model: str) -> dict:
    return Score(subject_id=subject, evaluator="helpful", evaluator_version="helpful.v1", metric="helpful", passed=passed,
                 status="completed", judge_model=model, scored_at=NOW).model_dump()


def test_the_decision_reads_each_judges_series_and_its_position_consistency_on_the_candidate(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    (tmp_path / "assay.yaml").write_text(textwrap.dedent(CONFIG))
    config = load_config(tmp_path / "assay.yaml")
    lake = Lake(tmp_path / "lake")
    # Labels on 30 calls: the configured judge model agrees with people on 24 of them; an
    # older judge model, judged before, agreed on all (a series of its own, not the one used).
    labels = {(f"c{i}", "helpful"): i % 2 == 0 for i in range(30)}
    scores = [_judge_score(f"c{i}", (i % 2 == 0) != (i % 5 == 0), "openai/judge-1") for i in range(30)]
    scores += [_judge_score(f"c{i}", i % 2 == 0, "openai/judge-0") for i in range(30)]
    rows = calibration_rows(labels, scores, computed_at=NOW, resamples=500)
    lake.write_partition("judge_calibration", rows, partition={"day": "2026-11-25"}, schema=CALIBRATION_ARROW_SCHEMA)
    # The pairwise judge on cand's cases: it flips with the order on 3 of 4 cases.
    write_pairwise_candidate_scores(lake, [(0.9, 0.8), (0.9, 0.2), (0.8, 0.1), (0.7, 0.3)], evaluator="vs_baseline",
                                    model="openai/judge-1")
    trust = judges_trust(lake, config, "cand", "v1")
    assert trust["helpful"]["series"] == "helpful|helpful.v1|openai/judge-1"
    assert trust["helpful"]["cohen_kappa"] < 1.0 and trust["helpful"]["n"] == 30
    assert trust["vs_baseline"]["position_consistency"] == 0.25 and trust["vs_baseline"]["pairs_both_orders"] == 4
    gate = POLICY.model_copy(update={"require_judge_calibration": True, "min_judge_kappa": 0.4,
                                     "min_position_consistency": 0.6})
    decision = _verdict(_rows([1.0] * 60), _rows([0.9] * 60), gate=gate, judge_calibration=trust)
    assert decision.verdict == "insufficient_evidence"
    detail = _evidence(decision)
    # kappa 0.60 on 30 labels, but its interval reaches down to 0.31: not shown to be above 0.4.
    assert "helpful|helpful.v1|openai/judge-1: kappa 0.60 [0.31, 0.86] on 30 labels reaches below" in detail
    assert "no human labels for vs_baseline" in detail
    assert "vs_baseline: position consistency 0.25 on 4 pairs (its verdicts on cand)" in detail
