"""Regression dataset curation beyond exact dedupe: near-duplicate grouping, version diffs and
stored versions, golden and red-team cases, and human case labels (export, import, apply)."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from assay.assets.regression_dataset import (
    build_dataset,
    case_id_for,
    diff_cases,
    diff_markdown,
    diff_versions,
    materialise_dataset,
    read_cases,
)
from assay.evaluators.golden import (
    GoldenError,
    configured_cases,
    load_golden_dir,
    load_golden_file,
    redteam_cases,
)

from assay.calibration import LabelFileError
from assay.case_labels import (
    CASE_LABELS_TABLE,
    apply_case_labels,
    export_rows,
    import_case_label_file,
    is_case_label_file,
    latest_case_labels,
    neutralise_cell,
    read_case_label_file,
    write_export,
)
from assay.config import AssayConfig, DatasetConfig, load_config
from assay.contracts.case import Case
from assay.contracts.failure import FAILURE_ARROW_SCHEMA, FAILURE_JSON_COLUMNS
from assay.lake import Lake
from assay.near_duplicates import group_near_duplicates, jaccard, shingles
from tests.unit.curation_rows import T0, failure_row

ROOT = Path(__file__).resolve().parents[2]
DATASET = DatasetConfig(passing_samples_per_feature=0, smoke_min_occurrences=3, redteam_pack=None, golden_dir=None)

# ---------------------------------------------------------------------------- near-duplicates


def test_near_identical_texts_group_under_the_earliest():
    texts = [
        "How long do refunds take to arrive on my card?",
        "How long does standard shipping take?",
        "Hi, how long do refunds take to arrive on my card? Thanks",
        "how long do refunds take to arrive on my card",
    ]
    assert group_near_duplicates(texts, 0.8) == [0, 1, 0, 0]
    # Greeting + thanks keep 8 of the 10 shingles: Jaccard 0.8, apart at a stricter threshold.
    assert jaccard(shingles(texts[0]), shingles(texts[2])) == pytest.approx(0.8)
    assert group_near_duplicates(texts, 0.9) == [0, 1, 2, 0]


def test_near_duplicate_grouping_respects_keys_and_the_exact_threshold():
    texts = ["cancel my order 12345 please right now", "cancel my order 12345 please right now"]
    assert group_near_duplicates(texts, 0.8, keys=["rag_answer", "tool_router"]) == [0, 1]
    with pytest.raises(ValueError, match="threshold"):
        group_near_duplicates(texts, 0.0)
    # One changed token in a short templated ticket changes 3 of 9 shingles: J = 0.5, not merged.
    a = "I was charged twice for order 418203. Please fix this immediately."
    b = "I was charged twice for order 551207. Please fix this immediately."
    assert jaccard(shingles(a), shingles(b)) == pytest.approx(0.5)
    assert group_near_duplicates([a, b], 0.8) == [0, 1]


def test_near_duplicate_grouping_is_deterministic_and_checks_every_candidate_exactly():
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choices(vocabulary, k=20)) for _ in range(200)]
    texts = base + [" ".join([*t.split()[:-1], "tail"]) for t in base]  # the last word changed: J = 17/19
    first = group_near_duplicates(texts, 0.8)
    assert group_near_duplicates(texts, 0.8) == first
    for index, rep in enumerate(first):
        if rep != index:
            assert rep < index
            assert jaccard(shingles(texts[index]), shingles(texts[rep])) >= 0.8
    merged = sum(1 for i, r in enumerate(first) if r != i)
    assert merged == 200  # every edited copy finds its original


def test_near_duplicate_failures_merge_into_one_case():
    failures = [
        failure_row("call-b", "Hi there, how long do refunds take to reach my card?", ts=T0 + timedelta(hours=2)),
        failure_row("call-a", "How long do refunds take to reach my card?", ts=T0),
        failure_row("call-c", "how long do refunds take to reach my card? thanks", ts=T0 + timedelta(hours=5),
                 category="refusal", evaluator="no_refusal"),
        failure_row("call-d", "Where is my parcel with the blue jacket?", ts=T0 + timedelta(hours=1)),
    ]
    config = DATASET.model_copy(update={"near_duplicate_threshold": 0.6})
    version, cases, stats = build_dataset(failures, [], config)
    assert stats.exact_cases == 4 and stats.failure_cases == 2
    assert (stats.merged_by_exact_hash, stats.merged_by_near_duplicate) == (0, 2)
    (refund,) = [c for c in cases if c["occurrences"] == 3]
    assert refund["case_id"] == case_id_for(failures[1]["messages"], None, None)  # the earliest
    assert refund["input"][-1]["content"] == "How long do refunds take to reach my card?"
    assert refund["source_call_ids"] == ["call-a", "call-b", "call-c"]
    assert refund["first_seen"] == T0 and refund["last_seen"] == T0 + timedelta(hours=5)
    assert refund["near_duplicates"] == sorted(
        case_id_for(failures[i]["messages"], None, None) for i in (0, 2)
    )
    assert refund["assertions"] == ["faithfulness", "no_refusal"]
    assert refund["tier"] == "smoke"  # 3 occurrences together reach smoke_min_occurrences
    # Same result whatever the read order; threshold 1.0 keeps the phrasings apart.
    assert build_dataset(failures[::-1], [], config)[:2] == (version, cases)
    strict = DATASET.model_copy(update={"near_duplicate_threshold": 1.0})
    assert build_dataset(failures, [], strict)[2].failure_cases == 4


def test_output_checks_on_a_call_the_provider_failed_are_not_promoted_its_error_is():
    failures = [
        failure_row("err", "Refund order 123", feature="tool_router", category="provider_error", evaluator="provider_ok"),
        failure_row("err", "Refund order 123", feature="tool_router", category="tool_misuse", evaluator="tool_call_shape"),
        failure_row("ok", "Cancel order 456", feature="tool_router", category="tool_misuse", evaluator="tool_call_shape"),
    ]
    _, cases, stats = build_dataset(failures, [], DATASET)
    by_call = {tuple(c["source_call_ids"]): c for c in cases}
    assert set(by_call) == {("err",), ("ok",)} and stats.promoted_calls == 2
    assert by_call[("err",)]["failure_category"] == "provider_error"
    assert by_call[("err",)]["assertions"] == ["provider_ok"]  # not the tool check's artefact


def test_system_prompt_does_not_make_different_questions_near_duplicates():
    long_context = "Context: " + " ".join(f"policy sentence {i} about refunds and returns." for i in range(40))
    failures = [
        failure_row("a", "How long do refunds take?", system=long_context),
        failure_row("b", "Can I return an opened item?", system=long_context),
    ]
    assert build_dataset(failures, [], DATASET)[2].failure_cases == 2


def test_grouping_5k_failures_with_near_duplicates_keeps_every_case():
    rng = random.Random(1)
    words = [f"word{i}" for i in range(2000)]
    failures = []
    for i in range(5000):
        question = " ".join(rng.choices(words, k=12))
        failures.append(failure_row(f"c{i}", question, ts=T0 + timedelta(seconds=i)))
        if i % 5 == 0:  # a near-duplicate phrasing of the same question
            failures.append(failure_row(f"c{i}-x", question + " thanks a lot", ts=T0 + timedelta(seconds=i, milliseconds=1)))
    _, _, stats = build_dataset(failures, [], DATASET.model_copy(update={"near_duplicate_threshold": 0.7}))
    assert stats.exact_cases == 6000 and stats.failure_cases == 5000


# ---------------------------------------------------------------------------- versions and diffs


def test_diff_names_added_removed_and_changed_cases_with_the_changed_fields():
    _, old, _ = build_dataset([failure_row("a", "q1"), failure_row("b", "q2")], [], DATASET)
    _, new, _ = build_dataset(
        [failure_row("a", "q1"), failure_row("a2", "q1", ts=T0 + timedelta(hours=1)), failure_row("c", "q3")], [], DATASET
    )
    diff = diff_cases(old, new)
    q1, q2, q3 = (case_id_for(failure_row("x", q)["messages"], None, None) for q in ("q1", "q2", "q3"))
    assert diff["added"] == [q3] and diff["removed"] == [q2]
    assert diff["changed"] == {q1: {"tier": ("edge", "core"), "occurrences": (1, 2)}}
    assert diff_versions(old, new) == {"added": 1, "removed": 1, "changed": 1}
    md = diff_markdown(diff, new, old)
    assert md.startswith("**1 added, 1 removed, 1 changed**")
    assert f"| changed | {q1} | production | rag_answer | core | False | 2 | tier: edge → core; occurrences: 1 → 2 |" in md
    assert f"| removed | {q2} |" in md and f"| added | {q3} |" in md
    assert "(none)" in diff_markdown(diff_cases(new, new), new, new)
    # A label is a change too.
    labelled = [c | {"human_label": "correct"} if c["case_id"] == q3 else c for c in new]
    assert diff_cases(new, labelled)["changed"] == {q3: {"human_label": (None, "correct")}}


def _write_failures(lake: Lake, day: str, rows: list[dict]) -> None:
    lake.write_partition("failures", rows, partition={"day": day}, schema=FAILURE_ARROW_SCHEMA,
                         json_columns=FAILURE_JSON_COLUMNS)


def _config(tmp_path: Path, **dataset) -> tuple[AssayConfig, Path]:
    config = AssayConfig(dataset=DatasetConfig(passing_samples_per_feature=0, golden_dir="golden", **dataset))
    return config, tmp_path / "assay.yaml"


def test_materialising_twice_gives_the_same_version_and_old_versions_stay_readable(tmp_path):
    lake = Lake(tmp_path / "lake")
    config, config_file = _config(tmp_path, redteam_pack=None)
    _write_failures(lake, "2026-11-20", [failure_row("a", "Where is my order?"), failure_row("b", "Cancel it")])
    first = materialise_dataset(lake, config, config_file)
    again = materialise_dataset(lake, config, config_file)
    assert again.version == first.version and again.previous == first.version
    assert again.diff == {"added": [], "removed": [], "changed": {}}
    assert len(lake.partitions("regression_dataset", "version")) == 1

    _write_failures(lake, "2026-11-21", [failure_row("c", "Where is my order?", ts=T0 + timedelta(days=1))])
    second = materialise_dataset(lake, config, config_file)
    assert second.version != first.version and second.previous == first.version
    assert len(second.diff["changed"]) == 1
    assert sorted(lake.partitions("regression_dataset", "version")) == sorted([first.version, second.version])
    old = read_cases(lake, first.version)
    assert [c["case_id"] for c in old] == [c["case_id"] for c in first.cases]
    assert old == [dict(c) for c in first.cases]  # a stored version reads back exactly
    for case in old:
        Case.model_validate(case)


def test_a_version_written_before_the_new_case_fields_reads_with_defaults(tmp_path):
    lake = Lake(tmp_path / "lake")
    v1_schema = pa.schema([f for f in __import__("assay.contracts.case", fromlist=["x"]).CASE_ARROW_SCHEMA
                           if f.name not in ("source", "near_duplicates", "tags", "metadata")])
    row = {"case_id": "case-old", "dataset_version": "ds-old", "input": json.dumps([{"role": "user", "content": "hi"}]),
           "assertions": "[]", "source_call_ids": '["c1"]', "tier": "edge", "critical": False, "occurrences": 1}
    lake.write_partition("regression_dataset", [row], partition={"version": "ds-old"}, schema=v1_schema)
    (case,) = read_cases(lake, "ds-old")
    assert case["source"] == "production" and case["near_duplicates"] == [] and case["tags"] == []
    assert case["input"] == [{"role": "user", "content": "hi"}]
    Case.model_validate(case)


# ---------------------------------------------------------------------------- golden and red-team cases

GOOD_GOLDEN = """
cases:
  - id: g-refunds
    feature: rag_answer
    input: How long do refunds take?
    system: Answer from the context.
    context: [Refunds are issued within 5 business days.]
    reference_output: Refunds take 5 business days.
    assertions: [faithfulness]
    tier: smoke
    critical: true
    tags: [refunds]
  - id: g-chat
    messages:
      - {role: user, content: hello}
      - {role: assistant, content: "Hi! How can I help?"}
      - {role: user, content: "Where is my order?"}
    reference_output: Asks for the order number.
"""


def _golden(tmp_path: Path, text: str, name: str = "cases.yaml") -> Path:
    folder = tmp_path / "golden"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_golden_file_loads_as_cases_with_source_golden(tmp_path):
    folder = _golden(tmp_path, GOOD_GOLDEN)
    refunds, chat = load_golden_dir(folder, known_assertions={"faithfulness"})
    assert refunds["case_id"] == "g-refunds" and refunds["source"] == "golden"
    assert refunds["input"] == [{"role": "system", "content": "Answer from the context."},
                                {"role": "user", "content": "How long do refunds take?"}]
    assert refunds["reference_output"] == "Refunds take 5 business days."
    assert (refunds["tier"], refunds["critical"], refunds["tags"]) == ("smoke", True, ["golden", "refunds"])
    assert refunds["context"] == ["Refunds are issued within 5 business days."]
    assert chat["input"][-1] == {"role": "user", "content": "Where is my order?"}
    assert (chat["tier"], chat["critical"], chat["occurrences"]) == ("core", False, 0)
    assert load_golden_dir(tmp_path / "absent") == []


@pytest.mark.parametrize(
    ("edit", "case", "key"),
    [
        (("    reference_output: Refunds take 5 business days.\n", ""), "g-refunds", "reference_output"),
        (("tier: smoke", "tier: urgent"), "g-refunds", "tier"),
        (("critical: true", "critical: maybe"), "g-refunds", "critical"),
        (("assertions: [faithfulness]", "assertions: [no_such_evaluator]"), "g-refunds", "assertions"),
        (("tags: [refunds]", "tags: [refunds]\n    colour: blue"), "g-refunds", "colour"),
        (("    input: How long do refunds take?\n", "    input: How long?\n    messages: [{role: user, content: x}]\n"),
         "g-refunds", "input"),
        (("{role: user, content: hello}", "{role: robot, content: hello}"), "g-chat", "messages"),
        (("context: [Refunds are issued within 5 business days.]", "context: Refunds"), "g-refunds", "context"),
    ],
)
def test_bad_golden_case_names_file_case_and_key(tmp_path, edit, case, key):
    old, new = edit
    assert old in GOOD_GOLDEN
    folder = _golden(tmp_path, GOOD_GOLDEN.replace(old, new))
    with pytest.raises(GoldenError) as error:
        load_golden_dir(folder, known_assertions={"faithfulness"})
    message = str(error.value)
    assert str(folder / "cases.yaml") in message and f"case {case}" in message and f"key {key!r}" in message


def test_golden_ids_are_unique_across_files_and_files_must_have_cases(tmp_path):
    folder = _golden(tmp_path, GOOD_GOLDEN, "a.yaml")
    _golden(tmp_path, GOOD_GOLDEN, "b.yaml")
    with pytest.raises(GoldenError, match=r"b.yaml: case g-refunds: key 'id': also used in a.yaml"):
        load_golden_dir(folder)
    (folder / "b.yaml").write_text("- just a list\n")
    with pytest.raises(GoldenError, match="must be a mapping with a `cases` list"):
        load_golden_dir(folder)
    (folder / "b.yaml").write_text("cases: [\n")
    with pytest.raises(GoldenError, match="not valid YAML"):
        load_golden_file(folder / "b.yaml")


def test_repo_golden_cases_and_redteam_pack_validate_against_assay_yaml():
    config = load_config(ROOT / "assay.yaml")
    cases = configured_cases(config, ROOT / "assay.yaml")
    golden = [c for c in cases if c["source"] == "golden"]
    redteam = [c for c in cases if c["source"] == "redteam"]
    assert len(golden) >= 8 and len(redteam) == len(redteam_cases("v1")) > 0
    assert {c["feature"] for c in golden} == {"rag_answer", "classify_ticket", "tool_router"}
    assert all(c["reference_output"] for c in cases)
    assert all(c["metadata"]["canary"] for c in redteam)
    for case in cases:
        Case.model_validate(case | {"dataset_version": "ds-x"})
    # The demo's own answers are the references: the RAG references come from the context.
    from assay.demo import domain

    for case in golden:
        if case["feature"] == "rag_answer":
            assert domain.faithfulness(case["reference_output"], case["context"])[0] == 1.0


def test_golden_and_redteam_cases_join_the_dataset_by_config(tmp_path):
    lake = Lake(tmp_path / "lake")
    _golden(tmp_path, GOOD_GOLDEN)
    _write_failures(lake, "2026-11-20", [failure_row("a", "Where is my order?")])
    config, config_file = _config(tmp_path)  # redteam_pack defaults to v1
    assert config.dataset.redteam_pack == "v1"
    m = materialise_dataset(lake, config.model_copy(update={"evaluators": []}), config_file)
    sources = {c["source"] for c in m.cases}
    assert sources == {"production", "golden", "redteam"}
    assert (m.stats.golden_cases, m.stats.redteam_cases) == (2, len(redteam_cases("v1")))
    stored = {c["case_id"]: c for c in read_cases(lake, m.version)}
    assert stored["g-refunds"]["reference_output"] == "Refunds take 5 business days."
    assert stored["rt1-override-01"]["metadata"]["canary"] == "CNRY-OVR-01-Q7M2"
    off = config.model_copy(update={"dataset": config.dataset.model_copy(update={"redteam_pack": None, "golden_dir": None})})
    assert {c["source"] for c in materialise_dataset(lake, off, config_file).cases} == {"production"}


def test_a_golden_id_clashing_with_a_redteam_id_is_refused():
    golden = redteam_cases("v1")[:1]
    with pytest.raises(ValueError, match="rt1-override-01.*unique"):
        build_dataset([], [], DATASET, golden=golden + [dict(golden[0], source="golden")])


# ---------------------------------------------------------------------------- case labels


def _label(case_id, label, *, at, line=2):
    return {"case_id": case_id, "label": label, "labeled_at": at, "imported_at": at, "source_line": line, "note": None}


def test_labels_drop_wrong_cases_force_critical_and_follow_near_duplicates():
    failures = [
        failure_row("a", "How long do refunds take to reach my card?"),
        failure_row("b", "how long do refunds take to reach my card? thanks", ts=T0 + timedelta(hours=1)),
        failure_row("c", "Where is my order?"),
        failure_row("d", "Cancel my order"),
    ]
    config = DATASET.model_copy(update={"near_duplicate_threshold": 0.6})
    _, cases, _ = build_dataset(failures, [], config)
    ids = {c["input"][-1]["content"]: c["case_id"] for c in cases}
    merged_away = case_id_for(failures[1]["messages"], None, None)
    labels = {
        merged_away: _label(merged_away, "critical", at=T0),  # labelled before it was merged
        ids["Where is my order?"]: _label(ids["Where is my order?"], "wrong", at=T0),
        ids["Cancel my order"]: _label(ids["Cancel my order"], "correct", at=T0),
    }
    version, labelled, stats = build_dataset(failures, [], config, case_labels=labels)
    by_id = {c["case_id"]: c for c in labelled}
    assert ids["Where is my order?"] not in by_id
    refund = by_id[ids["How long do refunds take to reach my card?"]]
    assert (refund["critical"], refund["tier"], refund["human_label"]) == (True, "smoke", "critical")
    assert by_id[ids["Cancel my order"]]["human_label"] == "correct"
    assert stats.label_effects == {"wrong_removed": 1, "critical_forced": 1, "correct": 1}
    assert version != build_dataset(failures, [], config)[0]


def test_latest_case_label_wins():
    rows = [_label("c1", "wrong", at=T0), _label("c1", "correct", at=T0 + timedelta(minutes=1)),
            _label("c2", "critical", at=T0, line=3), _label("c2", "wrong", at=T0, line=2)]
    latest = latest_case_labels(rows)
    assert latest["c1"]["label"] == "correct" and latest["c2"]["label"] == "critical"
    kept, effects = apply_case_labels([{"case_id": "c1", "near_duplicates": []}], latest)
    assert kept[0]["human_label"] == "correct" and effects["correct"] == 1


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+1+2", "-3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value):
    assert neutralise_cell(value) == "'" + value
    rows = [{"case_id": "c1", "input_text": value, "note": None}]
    (parsed,) = list(csv.DictReader(io.StringIO(write_export(rows, "csv"))))
    assert parsed["input_text"] == "'" + value
    assert json.loads(write_export(rows, "jsonl"))["input_text"] == value  # JSONL keeps the text as it is


def test_plain_cells_and_numbers_are_left_alone():
    assert neutralise_cell("How long?") == "How long?" and neutralise_cell(-3) == -3 and neutralise_cell(None) is None
    with pytest.raises(ValueError, match="valid: csv, jsonl"):
        write_export([], "xlsx")


def test_export_then_import_case_labels_round_trip(tmp_path):
    lake = Lake(tmp_path / "lake")
    _, cases, _ = build_dataset([failure_row("a", "=cmd|' /C calc'!A0"), failure_row("b", "Where is my order?")], [], DATASET)
    scores = [{"subject_id": cases[0]["case_id"], "evaluator": "faithfulness", "status": "completed", "passed": False}]
    rows = export_rows(cases, scores, {cases[0]["case_id"]: "an answer"})
    assert rows[0]["baseline_failed_evaluators"] == "faithfulness" and rows[0]["baseline_output"] == "an answer"
    path = tmp_path / "cases.csv"
    path.write_text(write_export(rows, "csv"))
    exported = list(csv.DictReader(path.open()))
    assert {r["input_text"] for r in exported} == {"'=cmd|' /C calc'!A0", "Where is my order?"}
    assert is_case_label_file(path)
    with pytest.raises(LabelFileError, match="no labelled cases"):
        read_case_label_file(path)
    exported[0]["label"], exported[0]["note"] = "wrong", "judge was right to flag? no: context lacked it"
    exported[1]["label"] = "Critical"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    batch, count = import_case_label_file(lake, path, known_case_ids=[c["case_id"] for c in cases])
    assert count == 2
    stored = latest_case_labels(lake.read_table(CASE_LABELS_TABLE).to_pylist())
    assert {k: v["label"] for k, v in stored.items()} == {exported[0]["case_id"]: "wrong", exported[1]["case_id"]: "critical"}
    # Importing the same file again replaces its own batch.
    assert import_case_label_file(lake, path)[0] == batch
    assert lake.read_table(CASE_LABELS_TABLE).num_rows == 2


def test_bad_case_label_files_name_the_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"case_id": "c1", "label": "maybe"}) + "\n")
    with pytest.raises(LabelFileError, match=r"labels.jsonl:1: label 'maybe' is not a case label; valid: correct, wrong, critical"):
        read_case_label_file(path)
    path.write_text(json.dumps({"case_id": "c9", "label": "wrong"}) + "\n")
    with pytest.raises(LabelFileError, match=r"labels.jsonl:1: case_id 'c9' is in no dataset version"):
        read_case_label_file(path, known_case_ids=["c1"])
    path.write_text(json.dumps({"label": "wrong"}) + "\n")
    with pytest.raises(LabelFileError, match="no case_id"):
        read_case_label_file(path)
    judge = tmp_path / "judge.csv"
    judge.write_text("subject_id,evaluator,label\nc1,faithfulness,pass\n")
    assert not is_case_label_file(judge)


def test_case_labels_in_the_lake_apply_at_the_next_materialisation(tmp_path):
    lake = Lake(tmp_path / "lake")
    config, config_file = _config(tmp_path, redteam_pack=None)
    _write_failures(lake, "2026-11-20", [failure_row("a", "Where is my order?"), failure_row("b", "Cancel it")])
    first = materialise_dataset(lake, config, config_file)
    wrong = next(c for c in first.cases if c["input"][-1]["content"] == "Cancel it")["case_id"]
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"case_id": wrong, "label": "wrong", "note": "not a failure"}) + "\n")
    import_case_label_file(lake, path)
    second = materialise_dataset(lake, config, config_file)
    assert wrong not in {c["case_id"] for c in second.cases}
    assert second.diff["removed"] == [wrong] and second.stats.label_effects["wrong_removed"] == 1


def test_cli_exports_cases_and_imports_case_and_judge_labels(tmp_path, monkeypatch, capsys):
    from assay.orchestration.cli import main

    from assay.runtime import AssayHome

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("ASSAY_CONFIG", str(ROOT / "assay.yaml"))
    lake = Lake(AssayHome.from_env().lake)
    assert main(["labels", "export"]) == 1  # no dataset yet
    assert "no regression dataset yet" in capsys.readouterr().err
    _write_failures(lake, "2026-11-20", [failure_row("a", "+SUM(1,2) where is my order?"), failure_row("b", "Cancel it")])
    config = load_config(ROOT / "assay.yaml")
    first = materialise_dataset(lake, config, ROOT / "assay.yaml")

    out = tmp_path / "cases.csv"
    assert main(["labels", "export", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(first.cases) and {"label", "note", "source"} <= set(rows[0])
    assert "'+SUM(1,2) where is my order?" in {r["input_text"] for r in rows}
    assert main(["labels", "export", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(first.cases) and json.loads(lines[0])["case_id"]

    wrong = next(r for r in rows if r["input_text"] == "Cancel it")["case_id"]
    for row in rows:
        row["label"] = "wrong" if row["case_id"] == wrong else ""
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["labels", "import", str(out)]) == 0
    assert "case labels=1" in capsys.readouterr().out
    assert wrong not in {c["case_id"] for c in materialise_dataset(lake, config, ROOT / "assay.yaml").cases}

    judge = tmp_path / "judge.csv"
    judge.write_text("subject_id,evaluator,label\ncall-1,faithfulness,fail\n")
    assert main(["labels", "import", str(judge)]) == 0
    assert "labels=1 batch=" in capsys.readouterr().out
    assert lake.read_table("human_labels").num_rows == 1
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"case_id": "case-nope", "label": "critical"}) + "\n")
    assert main(["labels", "import", str(unknown)]) == 1
    assert "case_id 'case-nope' is in no dataset version" in capsys.readouterr().err


def test_asset_metadata_shows_the_diff_table_and_curation_counts(tmp_path):
    import dagster as dg
    from assay.assets.assay_resource import AssayResource
    from assay.assets.regression_dataset import regression_dataset

    (tmp_path / "assay.yaml").write_text((ROOT / "assay.yaml").read_text())
    _golden(tmp_path, GOOD_GOLDEN.replace("assertions: [faithfulness]", "assertions: [faithfulness, exact_match]"))
    lake = Lake(tmp_path / "lake")
    resource = AssayResource(home_dir=str(tmp_path), config_file=str(tmp_path / "assay.yaml"))
    _write_failures(lake, "2026-11-20", [failure_row("a", "Where is my order?"), failure_row("b", "Where is my order? thanks!")])

    def materialise():
        result = dg.materialize([regression_dataset], resources={"assay": resource}, raise_on_error=False)
        return result, (result.asset_materializations_for_node("regression_dataset") or [None])[0]

    _, first = materialise()
    assert first.metadata["merged_by_near_duplicate"].value == 0  # "where is my order" is 4 words: J = 2/3
    assert first.metadata["curation"].value["golden_cases"] == 2
    _write_failures(lake, "2026-11-21", [failure_row("c", "Where is my order?", ts=T0 + timedelta(days=1))])
    _, second = materialise()
    assert second.metadata["previous_version"].value == first.metadata["dataset_version"].value
    assert second.metadata["diff_vs_previous"].value == {"added": 0, "removed": 0, "changed": 1}
    table = second.metadata["diff_table"].value
    assert table.startswith("**0 added, 0 removed, 1 changed**") and "occurrences: 1 → 2" in table

    (tmp_path / "golden" / "cases.yaml").write_text(GOOD_GOLDEN.replace("tier: smoke", "tier: urgent"))
    result, _ = materialise()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "cases.yaml: case g-refunds: key 'tier'" in str(failure.step_failure_data.error.message)
