"""Human labels in, judge agreement out: reading label files, the agreement figures, and the
`judge_calibration` asset showing a judge-model change as a new series."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assay.calibration import (
    LabelFileError,
    agreement,
    calibration_rows,
    import_label_file,
    latest_labels,
    read_label_file,
)
from assay.contracts.calibration import CALIBRATION_ARROW_SCHEMA
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.lake import Lake

ROOT = Path(__file__).resolve().parents[2]


def test_agreement_matches_a_worked_example():
    # 50 labels: both pass 20, both fail 15, judge fails a human pass 5, judge passes a human fail 10.
    pairs = [(True, True)] * 20 + [(False, False)] * 15 + [(True, False)] * 5 + [(False, True)] * 10
    figures = agreement(pairs)
    assert figures["n"] == 50
    assert figures["accuracy"] == pytest.approx(0.7)
    # p(human fail)=0.5, p(judge fail)=0.4 -> chance agreement 0.5 -> kappa (0.7-0.5)/0.5
    assert figures["cohen_kappa"] == pytest.approx(0.4)
    assert figures["precision_fail"] == pytest.approx(0.75)
    assert figures["recall_fail"] == pytest.approx(0.6)
    assert figures["f1_fail"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert (figures["both_pass"], figures["both_fail"]) == (20, 15)
    assert (figures["judge_fail_human_pass"], figures["judge_pass_human_fail"]) == (5, 10)


def test_agreement_edge_cases():
    assert agreement([(True, True)] * 4)["cohen_kappa"] == 1.0  # perfect, one class only
    assert agreement([(True, False), (False, True)])["cohen_kappa"] < 0  # worse than chance
    assert agreement([])["accuracy"] is None


def test_read_csv_and_jsonl_labels(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("call_id,evaluator,label,labeler\nc1,faithfulness,pass,ann\nc2,faithfulness,FAIL,bob\n")
    jsonl_file = tmp_path / "labels.jsonl"
    jsonl_file.write_text(
        json.dumps({"subject_id": "c3", "evaluator": "faithfulness", "passed": False, "labeled_at": "2026-11-20T10:00:00Z"})
        + "\n\n"
    )
    labels = read_label_file(csv_file, known_evaluators=["faithfulness"]) + read_label_file(jsonl_file)
    assert [(label.subject_id, label.passed) for label in labels] == [("c1", True), ("c2", False), ("c3", False)]
    assert labels[0].labeler == "ann" and labels[0].source_line == 2
    assert labels[2].labeled_at == datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.csv", "call_id,evaluator,label\nc1,faithfulness,maybe\n", r"bad.csv:2: label: label 'maybe' is not a verdict; valid: .*pass"),
        ("bad.csv", "call_id,evaluator,verdict\nc1,faithfulness,pass\n", r"bad.csv:2: no verdict; give one of the columns label"),
        ("bad.csv", "evaluator,label\nfaithfulness,pass\n", r"bad.csv:2: no subject id"),
        ("bad.csv", "call_id,evaluator,label\nc1,faithfulnes,pass\n", r"bad.csv:2: evaluator 'faithfulnes' names no scorer assay knows; valid: faithfulness, or imported:<source>"),
        ("bad.jsonl", '{"call_id": "c1", "evaluator": "faithfulness", "label": "pass"}\n{oops\n', r"bad.jsonl:2: not valid JSON"),
        ("bad.txt", "x", r"unknown label file type '.txt'; valid: .csv, .jsonl"),
        ("empty.csv", "call_id,evaluator,label\n", r"empty.csv: no labels"),
    ],
)
def test_bad_label_files_name_file_line_and_what_is_valid(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LabelFileError, match=message):
        read_label_file(path, known_evaluators=["faithfulness"])


def test_reimporting_a_file_replaces_its_labels_and_latest_label_wins(tmp_path):
    lake = Lake(tmp_path / "lake")
    first = tmp_path / "a.csv"
    first.write_text("call_id,evaluator,label,labeled_at\nc1,faithfulness,pass,2026-11-01T00:00:00Z\n")
    later = tmp_path / "b.csv"
    later.write_text("call_id,evaluator,label,labeled_at\nc1,faithfulness,fail,2026-11-02T00:00:00Z\n")
    import_label_file(lake, first)
    import_label_file(lake, first)
    assert lake.read_table("human_labels").num_rows == 1
    import_label_file(lake, later)
    assert latest_labels(lake.read_table("human_labels").to_pylist()) == {("c1", "faithfulness"): False}


def _score(subject: str, passed: bool, model: str, status: str = "completed") -> dict:
    return Score(
        subject_id=subject, evaluator="faithfulness", evaluator_version="faithfulness.v1", metric="faithfulness",
        passed=passed if status == "completed" else None, status=status, judge_model=model,
    ).model_dump()


def test_calibration_rows_one_per_series_and_ignore_unjudged_scores():
    labels = {("c1", "faithfulness"): True, ("c2", "faithfulness"): False, ("c3", "faithfulness"): False}
    scores = [
        _score("c1", True, "sim/judge"),
        _score("c2", False, "sim/judge"),
        _score("c2", False, "sim/judge"),  # the same call scored again: counted once
        _score("c3", False, "sim/judge", status="error"),
        _score("c1", False, "openai/gpt-4o-mini"),
        _score("c9", True, "openai/gpt-4o-mini"),  # no label
    ]
    rows = calibration_rows(labels, scores, computed_at=datetime(2026, 11, 21, tzinfo=UTC))
    by_series = {row["series"]: row for row in rows}
    assert all(set(row) == set(CALIBRATION_ARROW_SCHEMA.names) for row in rows)  # the stored contract
    assert set(by_series) == {"faithfulness|faithfulness.v1|sim/judge", "faithfulness|faithfulness.v1|openai/gpt-4o-mini"}
    assert by_series["faithfulness|faithfulness.v1|sim/judge"]["n"] == 2
    assert by_series["faithfulness|faithfulness.v1|sim/judge"]["accuracy"] == 1.0
    assert by_series["faithfulness|faithfulness.v1|openai/gpt-4o-mini"]["accuracy"] == 0.0


def test_judge_model_change_is_a_new_calibration_series_in_asset_metadata(tmp_path):
    from assay.assets.assay_resource import AssayResource
    from assay.assets.judge_calibration import judge_calibration

    lake = Lake(tmp_path / "lake")
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,evaluator,label\nc1,faithfulness,pass\nc2,faithfulness,fail\nc3,faithfulness,fail\n")
    import_label_file(lake, labels)
    # Day 1 judged by sim/judge; day 2 (after a config change) by another judge model.
    for day, model in (("2026-11-19", "sim/judge"), ("2026-11-20", "openai/judge-v2")):
        rows = [_score("c1", True, model), _score("c2", False, model), _score("c3", model == "sim/judge" and False, model)]
        lake.write_partition("call_scores", rows, partition={"day": day}, schema=SCORE_ARROW_SCHEMA, json_columns=SCORE_JSON_COLUMNS)
    resource = AssayResource(home_dir=str(tmp_path), config_file=str(ROOT / "assay.yaml"))
    result = dg.materialize([judge_calibration], resources={"assay": resource})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("judge_calibration")
    metadata = materialization.metadata
    assert metadata["human_labels"].value == 3
    assert metadata["cohen_kappa[faithfulness|faithfulness.v1|sim/judge]"].value == pytest.approx(1.0)
    assert "cohen_kappa[faithfulness|faithfulness.v1|openai/judge-v2]" in metadata
    assert metadata["n[faithfulness|faithfulness.v1|openai/judge-v2]"].value == 3
    stored = lake.read_table("judge_calibration")
    assert sorted(stored.column("judge_model").to_pylist()) == ["openai/judge-v2", "sim/judge"]
