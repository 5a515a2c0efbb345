"""Candidates from the CLI, recorded candidates, imported scores, samples, shadow planning and
incremental call scoring: the plain functions behind issue 6's commands and assets."""

import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from assay.orchestration.shadow_backfill import plan_shadow, window_days

from assay.candidate_config import CandidateEditError, add_candidate, insert_candidate, parse_params
from assay.config import load_config
from assay.consistency import case_verdicts, self_consistency, text_similarity
from assay.contracts.candidate import Candidate, strict_candidate_id
from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.imported_scores import (
    ScoreFileError,
    import_score_file,
    imported_candidate_scores,
    read_score_file,
)
from assay.lake import Lake
from assay.recorded_outputs import RecordedFileError, read_recorded_outputs

ROOT = Path(__file__).resolve().parents[2]


# --- candidates add ----------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "assay.yaml"
    path.write_text((ROOT / "assay.yaml").read_text())
    return path


def test_add_keeps_every_other_line_and_comment(config_file, tmp_path):
    before = config_file.read_text()
    template = tmp_path / "system.txt"
    template.write_text("You are Acme's support agent.\nFeature: {feature}\n")
    candidate = add_candidate(
        config_file, "GPT-4o Mini_v2", model="openai/gpt-4o-mini", prompt_template_file=template,
        prompt_version="v3", params=parse_params(["temperature=0.2", "max_tokens=300", "stop=END"]),
    )
    after = config_file.read_text()
    assert candidate.candidate_id == "gpt-4o-mini-v2"
    # Only lines were added, all of them in one block inside the candidates list.
    import difflib

    old_lines, new_lines = before.splitlines(), after.splitlines()
    changes = [op for op in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert len(changes) == 1 and changes[0][0] == "insert"
    assert new_lines[changes[0][3]] == "  - candidate_id: gpt-4o-mini-v2"
    assert "# what production runs today (seen in the logs)" in after
    config = load_config(config_file)
    assert [c.candidate_id for c in config.candidates][-1] == "gpt-4o-mini-v2"
    got = config.candidates[-1]
    assert got.params == {"temperature": 0.2, "max_tokens": 300, "stop": "END"}
    assert got.prompt_template == template.read_text()
    assert got.prompt_version == "v3" and not got.is_baseline
    # The gate section that follows the list is untouched and still after it.
    assert after.index("candidate_id: gpt-4o-mini-v2") < after.index("\ngate:")
    assert yaml.safe_load(after)["gate"] == yaml.safe_load(before)["gate"]


def test_id_clash_is_a_clear_error_and_writes_nothing(config_file):
    before = config_file.read_bytes()
    with pytest.raises(CandidateEditError, match="'support-v2'.*already in"):
        add_candidate(config_file, "Support V2", model="sim/support-v2")
    assert config_file.read_bytes() == before


def test_ids_are_sanitised_stably():
    assert strict_candidate_id("  GPT-4o Mini_v2 ") == "gpt-4o-mini-v2"
    assert strict_candidate_id("a.b/c") == "a-b-c"
    assert strict_candidate_id("a.b/c") == strict_candidate_id("a.b/c")
    assert strict_candidate_id("!!!") == ""


def test_unusable_id_and_params_are_refused(config_file):
    with pytest.raises(CandidateEditError, match="no letters or digits"):
        add_candidate(config_file, "???", model="m")
    with pytest.raises(CandidateEditError, match="expected key=value"):
        parse_params(["temperature"])
    with pytest.raises(CandidateEditError, match="api_key"):
        add_candidate(config_file, "x", model="m", params={"api_key": "sk-nope"})


@pytest.mark.parametrize("section", ["candidates: []  # none yet\n", ""])
def test_first_candidate_goes_into_an_empty_or_missing_list_as_baseline(tmp_path, section):
    path = tmp_path / "assay.yaml"
    path.write_text("# top comment\njudge:\n  model: sim/judge   # the judge\n" + section)
    candidate = add_candidate(path, "prod", model="sim/support-v1")
    assert candidate.is_baseline
    text = path.read_text()
    assert text.startswith("# top comment\njudge:\n  model: sim/judge   # the judge\n")
    assert load_config(path).candidates[0].candidate_id == "prod"


def test_insert_after_the_last_item_not_after_the_next_sections_comment():
    text = "candidates:\n- candidate_id: a\n  model: m\n  is_baseline: true\n\n# the gate\ngate:\n  seed: 1\n"
    out = insert_candidate(text, {"candidate_id": "b", "model": "n"})
    assert out == (
        "candidates:\n- candidate_id: a\n  model: m\n  is_baseline: true\n- candidate_id: b\n  model: n\n"
        "\n# the gate\ngate:\n  seed: 1\n"
    )


def test_existing_fingerprints_do_not_change_with_the_new_fields():
    plain = Candidate(candidate_id="a", model="m")
    assert plain.fingerprint == Candidate(candidate_id="a", model="m", samples=1).fingerprint
    assert Candidate(candidate_id="a", model="m", samples=3).fingerprint != plain.fingerprint


# --- recorded candidates --------------------------------------------------------------------


def test_recorded_outputs_by_id_or_input_and_missing(tmp_path):
    path = tmp_path / "outs.jsonl"
    path.write_text(
        json.dumps({"case_id": "c1", "output": "hello", "latency_ms": 120, "cost_usd": 0.001}) + "\n\n"
        + json.dumps({"input": "  Where is   my order? ", "output": "on its way", "input_tokens": "12"}) + "\n"
    )
    recorded = read_recorded_outputs(path)
    one = recorded.result_for("c1", None)
    assert (one.status, one.text, one.latency_ms, one.cost_usd) == ("completed", "hello", 120.0, 0.001)
    two = recorded.result_for("c2", "Where is my order?")
    assert (two.text, two.input_tokens) == ("on its way", 12)
    missing = recorded.result_for("c3", "something else")
    assert (missing.status, missing.error_type) == ("skipped", "missing_output")
    assert "outs.jsonl" in missing.error_message


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"case_id": "c1"}\n', ".jsonl", r"outs.jsonl:1: no output"),
        ('{"output": "x"}\n', ".jsonl", r"outs.jsonl:1: no subject"),
        ('{"case_id": "c1", "output": "x", "latency_ms": "fast"}\n', ".jsonl", r"outs.jsonl:1: key `latency_ms`"),
        ("case_id,output,cost_usd\nc1,x,0.1\nc2,y,-1\n", ".csv", r"outs.csv:3: key `cost_usd`: must be >= 0"),
        ('{"case_id": "c1", "output": "x"}\nnot json\n', ".jsonl", r"outs.jsonl:2: not valid JSON"),
        ("case_id,output\nc1,x\nc1,y\n", ".csv", r"outs.csv:3: subject 'c1' appears twice"),
    ],
)
def test_bad_recorded_rows_name_file_line_and_key(tmp_path, content, suffix, message):
    path = tmp_path / f"outs{suffix}"
    path.write_text(content)
    with pytest.raises(RecordedFileError, match=message):
        read_recorded_outputs(path)


def test_a_recorded_candidate_needs_no_model_and_has_one_sample():
    candidate = Candidate(candidate_id="vendor", recorded="data/vendor.csv")
    assert candidate.model == "recorded:vendor.csv"
    with pytest.raises(ValueError, match="needs `model`"):
        Candidate(candidate_id="x")
    with pytest.raises(ValueError, match="recorded"):
        Candidate(candidate_id="x", recorded="a.csv", samples=2)


# --- imported scores ------------------------------------------------------------------------


def test_imported_scores_are_scores_of_an_imported_evaluator(tmp_path):
    path = tmp_path / "raters.csv"
    path.write_text(
        "subject_id,metric,value,passed,candidate_id\n"
        "c1,helpful,4,true,cand\n"
        "c2,helpful,2,,cand\n"
        "c3,helpful,,fail,cand\n"
        "call-9,helpful,5,pass,\n"
    )
    rows = read_score_file(path, source="Human Raters", pass_threshold=3)
    assert {r["evaluator"] for r in rows} == {"imported:human-raters"}
    by_subject = {r["subject_id"]: r for r in rows}
    assert by_subject["c1"]["passed"] is True and by_subject["c1"]["value"] == 4.0
    assert by_subject["c2"]["passed"] is False  # 2 < threshold 3
    assert by_subject["c3"]["value"] is None and by_subject["c3"]["passed"] is False
    assert by_subject["call-9"]["candidate_id"] is None
    no_threshold = {r["subject_id"]: r for r in read_score_file(path)}
    assert no_threshold["c2"]["status"] == "unavailable" and "verdict" in no_threshold["c2"]["explanation"]
    assert no_threshold["c1"]["evaluator"] == "imported:raters"

    lake = Lake(tmp_path / "lake")
    import_score_file(lake, path, source="human")
    import_score_file(lake, path, source="human")  # same file again: replaced, not doubled
    got = imported_candidate_scores(lake, "cand", {"c1", "c2", "c3"})
    assert sorted(r["subject_id"] for r in got) == ["c1", "c2", "c3"]
    assert set(got[0]) == set(SCORE_ARROW_SCHEMA.names)
    assert imported_candidate_scores(lake, "other", {"c1"}) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"metric": "m", "value": 1}\n', r"s.jsonl:1: key `subject_id`"),
        ('{"subject_id": "a", "metric": "m"}\n', r"s.jsonl:1: give `value`"),
        ('{"subject_id": "a", "metric": "m", "value": "high"}\n', r"s.jsonl:1: key `value`"),
        ('{"subject_id": "a", "metric": "m", "passed": "maybe"}\n', r"s.jsonl:1: key `passed`"),
        ('{"subject_id": "a", "metric": "m", "passed": false, "failure_category": "oops"}\n', r"key `failure_category`"),
        ('{"subject_id": "a", "metric": "m", "value": 1}\n{"subject_id": "a", "metric": "m", "value": 2}\n', r"s.jsonl:2: .*line 1"),
    ],
)
def test_bad_score_rows_name_file_line_and_key(tmp_path, content, message):
    path = tmp_path / "s.jsonl"
    path.write_text(content)
    with pytest.raises(ScoreFileError, match=message):
        read_score_file(path)


# --- self-consistency -------------------------------------------------------------------------


def test_self_consistency_counts_agreeing_cases_and_output_similarity():
    def score(case, passed, status="completed"):
        return {"subject_id": case, "status": status, "passed": passed}

    first = case_verdicts([score("a", True), score("a", True), score("b", True), score("c", None, "error")])
    second = case_verdicts([score("a", True), score("b", False)])
    assert first == {"a": True, "b": True}
    result = self_consistency([first, second], [{"a": "same words here", "b": "x"}, {"a": "same words here", "b": "y"}])
    assert result["verdict_agreement_share"] == 0.5
    assert result["mean_pairwise_similarity"] == pytest.approx(0.5)
    assert text_similarity(None, "") == 1.0
    assert text_similarity("a b c d", "a b c e") == pytest.approx(0.75)


# --- shadow planning --------------------------------------------------------------------------


def test_window_days_end_at_the_latest_sampled_day():
    sampled = ["2026-11-10", "2026-11-12", "2026-11-13"]
    assert window_days(sampled, 3, None) == (["2026-11-12", "2026-11-13"], ["2026-11-11"])
    assert window_days(sampled, 2, "2026-11-12") == (["2026-11-12"], ["2026-11-11"])
    with pytest.raises(ValueError, match="at least 1"):
        window_days(sampled, 0, None)


def test_plan_skips_materialised_partitions_of_the_same_candidate_version():
    days = ["2026-11-12", "2026-11-13", "2026-11-14"]
    stored = {"2026-11-12": "fp1", "2026-11-13": "old", "2026-11-14": None}
    plan = plan_shadow("cand", "fp1", days, {"cand|2026-11-12", "cand|2026-11-13"}, stored.get)
    assert plan.done == ["2026-11-12"]
    assert plan.todo == ["2026-11-13", "2026-11-14"]  # changed candidate: replayed again


# --- incremental call_scores --------------------------------------------------------------------


def test_reusable_scores_keep_unchanged_series_on_still_sampled_calls():
    from assay.assets.scoring import reusable_scores

    rows = [
        {"subject_id": "c1", "evaluator": "a", "evaluator_version": "1", "metric": "a", "status": "completed", "passed": True},
        {"subject_id": "c2", "evaluator": "a", "evaluator_version": "1", "metric": "a", "status": "completed", "passed": True},
        {"subject_id": "c1", "evaluator": "b", "evaluator_version": "1", "metric": "b", "status": "completed", "passed": True},
        {"subject_id": "c1", "evaluator": "gone", "evaluator_version": "1", "metric": "x", "status": "completed", "passed": True},
    ]
    for row in rows:
        row["label"] = None
    existing = pa.Table.from_pylist(rows, schema=pa.schema([SCORE_ARROW_SCHEMA.field(n) for n in rows[0]]))
    kept = reusable_scores(
        existing, subject_ids={"c1"}, stored_series={"a": "s-a", "b": "s-b-old"},
        series={"a": "s-a", "b": "s-b-new"}, versions={"a": "1", "b": "1"},
    )
    assert kept.to_pylist() == [rows[0]]  # c2 no longer sampled, b changed, gone removed
    legacy = reusable_scores(existing, subject_ids={"c1", "c2"}, stored_series=None, series={"a": "s", "b": "t"}, versions={"a": "1", "b": "2"})
    assert legacy.to_pylist() == rows[:2]  # no stored series: matched by evaluator_version


def test_reusable_scores_retry_errors_and_budget_skips_but_keep_final_skips():
    from assay.assets.scoring import reusable_scores

    def row(subject, status, label=None):
        return {"subject_id": subject, "evaluator": "j", "evaluator_version": "1", "status": status, "label": label}

    rows = [row("a", "completed"), row("b", "error", "InternalServerError"), row("c", "skipped", "budget"),
            row("d", "skipped", "deadline"), row("e", "skipped"), row("f", "unavailable")]
    existing = pa.Table.from_pylist(rows, schema=pa.schema([SCORE_ARROW_SCHEMA.field(n) for n in rows[0]]))
    kept = reusable_scores(existing, subject_ids=set("abcdef"), stored_series={"j": "s"}, series={"j": "s"}, versions={"j": "1"})
    assert [r["subject_id"] for r in kept.to_pylist()] == ["a", "e", "f"]


def test_score_call_partition_skips_done_pairs_in_sql_and_python_paths(tmp_path):
    import pyarrow.parquet as pq
    from assay.assets.scoring import score_call_partition

    from assay.config import AssayConfig

    calls = [
        {"call_id": f"c{i}", "feature": "rag_answer", "status": "success", "output_text": text, "latency_ms": 10.0}
        for i, text in enumerate(["a refund is on its way", "I cannot help with that", "INTERNAL ONLY notes"])
    ]
    parquet = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pylist(calls), parquet)
    config = AssayConfig.model_validate(
        {"evaluators": [
            {"name": "markers", "type": "contains", "params": {"value": ["INTERNAL ONLY"], "mode": "none"}},
            {"name": "no_refusal", "type": "refusal"},
        ]}
    )
    full = pa.concat_tables(list(score_call_partition(parquet, config, engine=None))).to_pylist()  # type: ignore[arg-type]
    assert sorted((r["evaluator"], r["subject_id"]) for r in full) == sorted(
        (e, f"c{i}") for e in ("markers", "no_refusal") for i in range(3)
    )
    done = {("markers", "c0"), ("markers", "c1"), ("no_refusal", "c2")}
    rest = pa.concat_tables(list(score_call_partition(parquet, config, engine=None, done=done))).to_pylist()  # type: ignore[arg-type]
    assert sorted((r["evaluator"], r["subject_id"]) for r in rest) == [
        ("markers", "c2"), ("no_refusal", "c0"), ("no_refusal", "c1"),
    ]


def test_cli_adds_and_lists_candidates(config_file, monkeypatch, capsys):
    from assay.orchestration.cli import main

    monkeypatch.setenv("ASSAY_CONFIG", str(config_file))
    assert main(["candidates", "add", "New One", "--model", "openai/gpt-4o-mini", "--param", "temperature=0", "--samples", "3"]) == 0
    assert "added candidate new-one (from 'New One')" in capsys.readouterr().out
    assert main(["candidates", "add", "new-one", "--model", "x"]) == 1
    assert "already in" in capsys.readouterr().err
    assert main(["candidates", "add", "nothing"]) == 1
    assert "give --model" in capsys.readouterr().err
    assert main(["candidates", "list", "--format", "json"]) == 0
    listed = {c["candidate_id"]: c for c in json.loads(capsys.readouterr().out)}
    assert listed["new-one"]["samples"] == 3 and listed["prod-v1"]["baseline"] is True
    assert main(["candidates", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["candidate_id", "model"] and any(line.startswith("new-one ") for line in table)


def test_the_same_request_twice_in_one_batch_is_paid_once(tmp_path):
    from assay.llm.engine import LLMEngine, LLMRequest
    from assay.testing.llm_server import LLMTestServer

    with LLMTestServer() as server:
        engine = LLMEngine(cache_dir=tmp_path / "cache", max_retries=0, timeout_s=10)

        def ask(text):
            return LLMRequest("openai/replay", [{"role": "user", "content": text}], server.completion_params(), "candidate:x:v1")

        results = engine.run([ask("where is my order?"), ask("refund?"), ask("where is my order?")])
        assert server.stats["requests"] == 2
        assert [r.status for r in results] == ["completed"] * 3
        assert results[2].text == results[0].text and results[2].is_cache_hit and results[2].paid_usd == 0
        assert not results[0].is_cache_hit and engine.stats.cache_hits == 1
