"""Calibrate any scorer (issue 19): pass/fail labels for deterministic evaluators and imported
scores, bootstrap intervals and weekly periods, and pairwise verdicts with the order they were
judged in, measured through the `assay` command as a user runs it."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from assay.calibration import (
    LabelFileError,
    both_orders,
    calibration_rows,
    import_label_file,
    lake_calibration,
    read_label_file,
)
from assay.calibration_report import calibration_text
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.imported_scores import (
    ScoreFileError,
    import_score_file,
    imported_candidate_scores,
    read_score_file,
)
from assay.lake import Lake
from tests.support.cli import assay, one_line, user_env
from tests.unit.test_preflight import project

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _score(subject: str, passed: bool, *, evaluator: str = "no_refusal", model: str | None = None,
           day: int = 23) -> dict:
    return Score(subject_id=subject, evaluator=evaluator, evaluator_version=f"{evaluator}.v1", metric=evaluator,
                 passed=passed, status="completed", judge_model=model,
                 scored_at=datetime(2026, 11, day, tzinfo=UTC)).model_dump()


def test_a_deterministic_evaluator_is_calibrated_with_intervals_and_per_week():
    # 40 calls over two ISO weeks (W47 and W48); the scorer misses 1 failure in 5 of week 48.
    labels, scores = {}, []
    for i in range(40):
        human = i % 2 == 0
        week_two = i >= 20
        judged = human or (week_two and i % 10 == 1)
        labels[(f"c{i}", "no_refusal")] = human
        scores.append(_score(f"c{i}", judged, day=25 if week_two else 17))
    rows = calibration_rows(labels, scores, computed_at=NOW)
    by_period = {row["period"]: row for row in rows}
    assert set(by_period) == {"all", "2026-W47", "2026-W48"}
    whole = by_period["all"]
    assert (whole["series"], whole["kind"], whole["n"]) == ("no_refusal|no_refusal.v1|-", "binary", 40)
    assert whole["accuracy"] == pytest.approx(38 / 40)
    assert by_period["2026-W47"]["cohen_kappa"] == 1.0 and by_period["2026-W48"]["accuracy"] == pytest.approx(18 / 20)
    for name in ("accuracy", "cohen_kappa", "f1_fail"):
        assert whole[f"{name}_low"] <= whole[name] <= whole[f"{name}_high"]
    assert whole["cohen_kappa_high"] - whole["cohen_kappa_low"] > 0  # errors exist, so the interval is not a point
    assert json.loads(whole["confusion_matrix"]) == {"fail": {"fail": 18, "pass": 2}, "pass": {"fail": 0, "pass": 20}}
    # The confusion matrix with intervals too: each cell's share of the 40 verdicts.
    shares = json.loads(whole["confusion_shares"])
    for human, scorer, count in (("fail", "fail", 18), ("fail", "pass", 2), ("pass", "fail", 0), ("pass", "pass", 20)):
        share, low, high = shares[human][scorer]
        assert share == pytest.approx(count / 40) and low <= share <= high
    assert shares["fail"]["pass"][1] < shares["fail"]["pass"][2]  # a real interval, not a point
    assert "confusion shares: fail->fail 0.450 [" in calibration_text(rows, confidence=0.95)
    # Four times the evidence, same agreement: a narrower interval.
    more = calibration_rows({(f"{s}-{k}", e): v for (s, e), v in labels.items() for k in range(4)},
                            [s | {"subject_id": f"{s['subject_id']}-{k}"} for s in scores for k in range(4)],
                            computed_at=NOW)
    wide = whole["cohen_kappa_high"] - whole["cohen_kappa_low"]
    narrow = [r for r in more if r["period"] == "all"][0]
    assert narrow["cohen_kappa_high"] - narrow["cohen_kappa_low"] < wide


def test_labels_may_name_imported_scorers_and_any_scorer_assay_has(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("subject_id,evaluator,label\nx1,imported:vendor,pass\nx2,text_length,fail\n")
    labels = read_label_file(path, known_evaluators=["faithfulness", "text_length"])
    assert [label.evaluator for label in labels] == ["imported:vendor", "text_length"]
    path.write_text("subject_id,evaluator,label\nx1,vendr,pass\n")
    with pytest.raises(LabelFileError, match=r"labels.csv:2: evaluator 'vendr' names no scorer assay knows; valid: "
                                             r"faithfulness, text_length, or imported:<source>"):
        read_label_file(path, known_evaluators=["faithfulness", "text_length"])
    path.write_text("pair_id,evaluator,winner\np1,imported:vendor,left\n")
    with pytest.raises(LabelFileError, match=r"labels.csv:2: winner 'left' is not a pairwise verdict; valid: a, b, tie"):
        read_label_file(path)


def test_imported_binary_scores_are_a_calibration_series_with_their_judge_model(tmp_path):
    lake = Lake(tmp_path / "lake")
    scores = tmp_path / "vendor.jsonl"
    scores.write_text("".join(json.dumps({"subject_id": f"s{i}", "metric": "helpful", "passed": i % 3 != 0,
                                          "judge_model": "vendor-judge-2"}) + "\n" for i in range(30)))
    import_score_file(lake, scores)
    labels = tmp_path / "gold.csv"
    labels.write_text("subject_id,evaluator,label\n" + "".join(f"s{i},imported:vendor,{'fail' if i % 3 == 0 else 'pass'}\n"
                                                               for i in range(30)))
    import_label_file(lake, labels)
    _, rows = lake_calibration(lake, computed_at=NOW)
    (row,) = [r for r in rows if r["period"] == "all"]
    assert (row["series"], row["n"], row["cohen_kappa"]) == ("imported:vendor|1|vendor-judge-2", 30, 1.0)


# --------------------------------------------------------------------------- pairwise


def _mt_bench_like(pairs: int = 100, seed: int = 7) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Gold winners and a judge's verdicts in both orders: right most of the time, and when
    unsure it picks whichever output it read first (position bias)."""
    rng = random.Random(seed)
    gold, verdicts = {}, {}
    for i in range(pairs):
        pair = f"pair-{i:03d}"
        gold[pair] = rng.choice(["a", "a", "b", "b", "tie"])
        verdicts[pair] = {}
        for order in ("a", "b"):
            draw = rng.random()
            wrong = [w for w in ("a", "b", "tie") if w != gold[pair]]
            verdicts[pair][order] = gold[pair] if draw < 0.6 else order if draw < 0.85 else rng.choice(wrong)
    return gold, verdicts


def _independent_figures(gold: dict[str, str], verdicts: dict[str, dict[str, str]]) -> dict[str, float]:
    """The same figures, computed here from their definitions without assay's code."""
    acc = {o: sum(verdicts[p][o] == gold[p] for p in gold) / len(gold) for o in ("a", "b")}
    agree = [p for p in gold if verdicts[p]["a"] == verdicts[p]["b"]]
    pooled = [(gold[p], verdicts[p][o]) for p in gold for o in ("a", "b")]
    n = len(pooled)
    observed = sum(g == w for g, w in pooled) / n
    human, judge = Counter(g for g, _ in pooled), Counter(w for _, w in pooled)
    expected = sum(human[c] * judge[c] for c in ("a", "b", "tie")) / n**2
    decisive = [(o, verdicts[p][o]) for p in gold for o in ("a", "b") if verdicts[p][o] != "tie"]
    return {
        "accuracy": (acc["a"] + acc["b"]) / 2,
        "accuracy_a_first": acc["a"],
        "accuracy_b_first": acc["b"],
        "accuracy_both_orders_agree": sum(verdicts[p]["a"] == gold[p] for p in agree) / len(agree),
        "pairs_both_orders_agree": len(agree),
        "position_consistency": len(agree) / len(gold),
        "cohen_kappa": (observed - expected) / (1 - expected),
        "first_position_win_share": sum(o == w for o, w in decisive) / len(decisive),
    }


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_pairwise_judge_with_gold_labels_through_the_cli(tmp_path):
    """Acceptance: 100 pairs, gold labels, a judge's verdicts in both orders: assay's figures
    equal an independent computation."""
    gold, verdicts = _mt_bench_like()
    config = project(tmp_path)  # the user's own config: nothing in it names the imported judge
    env = user_env(tmp_path / "home", config, OPENAI_API_KEY="not-used")
    rows = [{"pair_id": p, "winner": verdicts[p][o], "order": {"a": "ab", "b": "ba"}[o], "judge_model": "judge-x"}
            for p in gold for o in ("a", "b")]
    (tmp_path / "judge-x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "gold.csv").write_text("pair_id,evaluator,winner\n" + "".join(f"{p},imported:mt,{w.upper()}\n"
                                                                           for p, w in gold.items()))
    imported = assay("scores", "import", "judge-x.jsonl", "--source", "mt", cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "scores=200 evaluator=imported:mt" in imported.stdout
    labelled = assay("labels", "import", "gold.csv", cwd=tmp_path, env=env)
    assert labelled.returncode == 0, labelled.stderr
    assert "labels=100" in labelled.stdout
    shown = assay("judge", "calibration", "--scorer", "imported:mt", "--format", "json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    (row,) = json.loads(shown.stdout)
    assert (row["series"], row["kind"], row["period"]) == ("imported:mt|1|judge-x", "pairwise", "all")
    assert (row["pairs"], row["pairs_both_orders"], row["n"]) == (100, 100, 200)
    for name, value in _independent_figures(gold, verdicts).items():
        assert row[name] == pytest.approx(value), name
    assert row["cohen_kappa_low"] < row["cohen_kappa"] < row["cohen_kappa_high"]
    assert row["position_consistency_low"] < row["position_consistency"] < row["position_consistency_high"]
    text = assay("judge", "calibration", cwd=tmp_path, env=env)
    assert text.returncode == 0 and "position consistency" in text.stdout and "imported:mt|1|judge-x" in text.stdout
    # A label naming nothing assay knows: one line, exit 1, nothing stored.
    (tmp_path / "typo.csv").write_text("pair_id,evaluator,winner\npair-000,mt,a\n")
    refused = assay("labels", "import", "typo.csv", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "typo.csv:2: evaluator 'mt' names no scorer assay knows" in one_line(refused.stderr)
    assert "imported:mt" in one_line(refused.stderr)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"subject_id": "p1", "winner": "left", "order": "a"}, r":1: key `winner`: winner 'left' is not a pairwise verdict; valid: a, b, tie"),
        ({"subject_id": "p1", "winner": "a", "order": "first"}, r":1: key `order`: 'first'; valid: a or b"),
        ({"subject_id": "p1", "winner": "a"}, r":1: key `order`: None; valid: a or b"),
    ],
)
def test_bad_pairwise_rows_name_file_line_key_and_what_is_valid(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ScoreFileError, match=message):
        read_score_file(path)


def test_the_same_order_twice_is_refused(tmp_path):
    path = tmp_path / "twice.jsonl"
    path.write_text('{"subject_id": "p1", "winner": "a", "order": "a"}\n{"subject_id": "p1", "winner": "b", "order": "ab"}\n')
    with pytest.raises(ScoreFileError, match=r"twice.jsonl:2: 'p1' / 'pairwise' shown a first already scored on line 1"):
        read_score_file(path)


def test_both_orders_consensus_reduces_a_candidates_imported_pairs(tmp_path):
    assert both_orders({"a": "a", "b": "a"}) == "a"
    assert both_orders({"a": "a", "b": "b"}) == "tie"
    assert both_orders({"a": "b"}) == "tie"  # one order alone is no agreement
    lake = Lake(tmp_path / "lake")
    path = tmp_path / "arena.jsonl"
    rows = [("c1", "a", "a"), ("c1", "b", "a"), ("c2", "a", "a"), ("c2", "b", "b"), ("c3", "a", "b"), ("c3", "b", "b")]
    path.write_text("".join(json.dumps({"subject_id": s, "order": o, "winner": w, "candidate_id": "cand"}) + "\n"
                            for s, o, w in rows))
    import_score_file(lake, path)
    reduced = {r["subject_id"]: r for r in imported_candidate_scores(lake, "cand", ["c1", "c2", "c3"])}
    assert {s: (r["value"], r["passed"]) for s, r in reduced.items()} == {
        "c1": (1.0, True), "c2": (0.5, True), "c3": (0.0, False)}
    assert reduced["c2"]["details"]["position_consistent"] is False


def write_pairwise_candidate_scores(lake: Lake, prefs: list[tuple[float, float]], *, evaluator: str, model: str,
                                    candidate: str = "cand", dataset_version: str = "v1") -> None:
    """Scores of assay's pairwise judge on a candidate's cases: (candidate's preference shown
    first, shown second) per case."""
    from assay.assets.candidate_scores import CANDIDATE_SCORE_SCHEMA

    rows = [Score(subject_id=f"case-{i}", evaluator=evaluator, evaluator_version=f"{evaluator}.v1", metric=evaluator,
                  value=(ab + ba) / 2, passed=True, status="completed", judge_model=model,
                  details={"candidate_preference_candidate_first": ab, "candidate_preference_baseline_first": ba},
                  scored_at=NOW).model_dump() | {"candidate_id": candidate, "dataset_version": dataset_version}
            for i, (ab, ba) in enumerate(prefs)]
    lake.write_partition("candidate_scores", rows, partition={"candidate": candidate}, schema=CANDIDATE_SCORE_SCHEMA,
                         json_columns=SCORE_JSON_COLUMNS)


def test_assays_own_pairwise_judge_scores_give_position_figures_without_labels(tmp_path):
    lake = Lake(tmp_path / "lake")
    # (candidate shown first, baseline shown first)
    write_pairwise_candidate_scores(lake, [(0.9, 0.8), (0.9, 0.2), (0.1, 0.2), (0.9, 0.1)], evaluator="pairwise_quality",
                                    model="sim/judge")
    lake.write_partition("call_scores", [_score("c1", True)], partition={"day": "2026-11-23"}, schema=SCORE_ARROW_SCHEMA,
                         json_columns=SCORE_JSON_COLUMNS)  # unlabelled: no binary row
    _, calibration = lake_calibration(lake, computed_at=NOW)
    (row,) = [r for r in calibration if r["period"] == "all"]
    assert (row["kind"], row["pairs"], row["n"], row["cohen_kappa"]) == ("pairwise", 4, 0, None)
    assert row["position_consistency"] == pytest.approx(2 / 4)
    # Decisive verdicts: a,a | a,b | b,b | a,b -> first shown won in (a first: a,a,b,a -> 3 of 4) + (b first: a,b,b,b -> 3 of 4).
    assert row["first_position_win_share"] == pytest.approx(6 / 8)


def test_the_pairwise_judge_can_reduce_its_two_orders_by_consensus():
    from assay.evaluators.llm_judge import JudgeCall, PairwiseJudge

    from assay.llm.engine import LLMRequest, LLMResult
    from assay.llm.judge_prompt import JudgeVerdict

    def call(score: float) -> JudgeCall:
        judged = JudgeCall(LLMRequest("sim/judge", []), [LLMResult(status="completed", attempts=1)])
        judged.verdict = JudgeVerdict(passed=score >= 0.5, score=score, label="", reason=f"r{score}")
        return judged

    subject = {"subject_id": "case-1", "output_text": "x", "baseline_output": "y"}
    mean, consensus = PairwiseJudge(name="vs"), PairwiseJudge(name="vs", order_reducer="both_orders")
    # Candidate slightly ahead shown first, clearly behind shown second: the mean says worse,
    # the orders disagree, so the consensus is a tie (not worse).
    calls = [call(0.6), call(0.7)]
    assert mean.score_from_calls(subject, calls).value == pytest.approx(0.45)
    tie = consensus.score_from_calls(subject, calls)
    assert (tie.value, tie.passed, tie.details["order_reducer"]) == (0.5, True, "both_orders")
    assert consensus.score_from_calls(subject, [call(0.2), call(0.9)]).value == 0.0  # baseline wins both orders
    assert consensus.score_from_calls(subject, [call(0.8), call(0.3)]).value == 1.0
    with pytest.raises(ValueError, match="order_reducer 'both' is not one of mean, both_orders"):
        PairwiseJudge(name="vs", order_reducer="both")
