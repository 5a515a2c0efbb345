"""Issue 19, item 3: a jury — an evaluator judged by several models with a reducer — against
the local OpenAI-compatible server: the verdict follows the reducer, each juror's verdict is
kept, every juror is a calibration series of its own, and the jurors' agreement (Fleiss'
kappa) is reported beside the jury's figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from assay.evaluators.llm_judge import LLMJudge, judge_plans

from assay.calibration import calibration_rows, fleiss_kappa
from assay.llm.engine import LLMEngine
from assay.testing.llm_server import Faults, LLMTestServer

FAIL = '{"passed": false, "score": 0.1, "label": "fail", "reason": "strict juror"}'
JURY = ["openai/juror-a", "openai/juror-b", "openai/juror-strict"]


def _fleiss_by_hand(ratings: list[list[bool]]) -> float:
    n_raters, subjects = len(ratings[0]), len(ratings)
    p_pass = sum(sum(r) for r in ratings) / (subjects * n_raters)
    agreement = [(sum(r) * (sum(r) - 1) + (n_raters - sum(r)) * (n_raters - sum(r) - 1)) / (n_raters * (n_raters - 1))
                 for r in ratings]
    p_bar, p_e = sum(agreement) / subjects, p_pass**2 + (1 - p_pass) ** 2
    return (p_bar - p_e) / (1 - p_e)


def test_fleiss_kappa_matches_a_worked_example():
    # Wikipedia-style check on two categories: 4 subjects, 3 raters.
    ratings = [[True, True, True], [True, True, False], [False, False, False], [True, False, False]]
    assert fleiss_kappa(ratings) == pytest.approx(_fleiss_by_hand(ratings))
    assert fleiss_kappa([[True, True], [False, False]]) == 1.0
    assert fleiss_kappa([[True, True]]) is None


@pytest.mark.parametrize(("reducer", "expected"), [("majority", "a"), ("unanimous", "never"), ("mean", "mean")])
def test_a_jury_against_the_server_reduces_keeps_each_juror_and_measures_their_agreement(tmp_path, reducer, expected):
    subjects = [{"subject_id": f"call-{i}", "input_text": f"where is order {i}?", "output_text": f"order {i} ships today"}
                for i in range(12)]
    with LLMTestServer(Faults(), answers={"juror-strict": FAIL}) as server:
        judge = LLMJudge(name="helpful", rubric="answers_query", jury=JURY, jury_reducer=reducer,
                         completion_params=server.completion_params())
        scores = judge_plans([judge.plan(s, default_model="unused") for s in subjects], LLMEngine(cache_dir=tmp_path))
        assert server.stats["requests"] == 12 * 3  # each juror asked once per subject
    assert all(s.status == "completed" and s.judge_model == "jury:" + "+".join(JURY) for s in scores)
    assert all(s.evaluator_version.endswith(f".jury-{reducer}") for s in scores)
    jurors = [s.details["jurors"] for s in scores]
    # juror-a and juror-b read the same prompt from the same server: they agree; the strict one fails all.
    assert all(j["openai/juror-a"]["passed"] == j["openai/juror-b"]["passed"] for j in jurors)
    assert all(j["openai/juror-strict"]["passed"] is False for j in jurors)
    for score, juror in zip(scores, jurors, strict=True):
        if expected == "a":
            assert score.passed is juror["openai/juror-a"]["passed"]
        elif expected == "never":
            assert score.passed is False
        else:
            assert score.value == pytest.approx(sum(v["score"] for v in juror.values()) / 3)
    # Calibration: labels say the calls pass; every juror is a series, the jury reports Fleiss' kappa.
    rows = [s.model_dump() | {"scored_at": datetime(2026, 11, 24, tzinfo=UTC)} for s in scores]
    labels = {(s.subject_id, "helpful"): True for s in scores}
    calibration = [r for r in calibration_rows(labels, rows, computed_at=datetime(2026, 11, 25, tzinfo=UTC),
                                               resamples=200) if r["period"] == "all"]
    by_model = {r["judge_model"]: r for r in calibration}
    assert set(by_model) == {*JURY, "jury:" + "+".join(JURY)}
    assert by_model["openai/juror-strict"]["accuracy"] == 0.0 and by_model["openai/juror-strict"]["n"] == 12
    jury_row = by_model["jury:" + "+".join(JURY)]
    ratings = [[j[m]["passed"] for m in JURY] for j in jurors]
    assert (jury_row["jurors"], jury_row["jury_subjects"]) == (3, 12)
    assert jury_row["jury_fleiss_kappa"] == pytest.approx(_fleiss_by_hand(ratings))


def test_a_jury_needs_two_models_and_a_known_reducer():
    with pytest.raises(ValueError, match="jury must list two or more different judge models"):
        LLMJudge(name="x", rubric="faithfulness", jury=["openai/a"])
    with pytest.raises(ValueError, match="jury_reducer 'vote' is not one of majority, mean, unanimous"):
        LLMJudge(name="x", rubric="faithfulness", jury=["openai/a", "openai/b"], jury_reducer="vote")
