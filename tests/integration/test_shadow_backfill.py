"""Issue 6 through Dagster on a temp ASSAY_HOME, every LLM call (judge and candidates) sent
over litellm's real HTTP path to the local test server, so what is paid is counted:

- a new evaluator backfilled over scored days adds exactly its rows and asks no judge again;
- `assay compare` replays past days through a candidate as day x candidate partitions; a
  compare killed midway and run again runs only the missing partitions and pays nothing again
  for the finished ones;
- recorded candidates, n-sample regression runs and imported scores run through candidate_job.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from assay.lake import Lake
from assay.testing.llm_server import LLMTestServer
from tests.integration.homes import generated_home
from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAYS = 4
END_DAY = date(2026, 11, 20)
CANDIDATE = "shadow-cand"
HEADER = "# test config: comments must survive `assay candidates add`\n"


def _config(api_base: str) -> dict:
    return {
        "judge": {"model": "openai/judge", "params": {"api_base": api_base}, "max_retries": 1, "budget_usd": 5.0},
        "evaluators": [
            {"name": "provider_ok", "type": "provider_status"},
            {"name": "no_refusal", "type": "refusal"},
            {"name": "answer_length", "type": "length", "params": {"min_chars": 20}, "applies_to": {"features": ["rag_answer"]}},
            {"name": "faithfulness", "type": "llm_judge", "params": {"rubric": "faithfulness"},
             "applies_to": {"features": ["rag_answer"]}, "failure_category": "hallucination"},
        ],
        "candidates": [{"candidate_id": "prod-v1", "model": "sim/support-v1", "is_baseline": True}],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home_dir = tmp_path_factory.mktemp("assay_home")
    with LLMTestServer() as server:
        config_file = home_dir / "assay.yaml"
        config_file.write_text(HEADER + yaml.safe_dump(_config(server.api_base), sort_keys=False))
        # OPENAI_API_KEY: the test server's; keys never go in the config.
        with generated_home(
            home_dir, config=config_file, days=DAYS, calls_per_day=24, end_day=END_DAY, seed=11,
            env={"OPENAI_API_KEY": "test"},
            # Backfills of calls: the demo's agent runs and chat sessions (40 calls a day, more
            # than the 24 here) would only add runs' worth of work to each backfilled day.
            agents=False,
        ) as (home, days):
            from assay.orchestration.runner import Runner

            Runner().run_days(days)
            yield {"home": home, "lake": Lake(home.lake), "days": days, "server": server, "config": config_file}


IN_FLIGHT_LIMIT = 2 * 8
"""The most calls a kill can catch in flight: candidate replays and judge calls, each at the
config's default concurrency (8)."""


def _served(server: LLMTestServer):
    """The in-process server's counters, per prompt included (`stats` gives only totals)."""
    return server._app.stats


def _rows(lake: Lake, table: str, partition: dict) -> list[dict]:
    return sorted(lake.read_partition(table, partition).to_pylist(), key=lambda r: (r["subject_id"], r["evaluator"], r["metric"]))


def test_backfilling_a_new_evaluator_adds_only_its_scores(env):
    from assay.orchestration.runner import Runner

    lake, server, days = env["lake"], env["server"], env["days"][:3]
    before = {day: _rows(lake, "call_scores", {"day": day}) for day in days}
    assert all(any(r["evaluator"] == "faithfulness" and r["status"] == "completed" for r in rows) for rows in before.values())
    requests = _served(server).requests

    config = yaml.safe_load(env["config"].read_text())
    config["evaluators"].append({"name": "no_markers", "type": "contains", "params": {"value": ["INTERNAL ONLY"], "mode": "none"}})
    env["config"].write_text(HEADER + yaml.safe_dump(config, sort_keys=False))
    runner = Runner()
    for day in days:
        runner.run("daily_job", partition_key=day)

    for day in days:
        after = _rows(lake, "call_scores", {"day": day})
        added = [r for r in after if r["evaluator"] == "no_markers"]
        kept = [r for r in after if r["evaluator"] != "no_markers"]
        assert kept == before[day]  # every old row as it was: same values, run ids, timestamps
        sampled = lake.read_partition("sampled_calls", {"day": day}).column("call_id").to_pylist()
        assert sorted(r["subject_id"] for r in added) == sorted(sampled)
    assert _served(server).requests == requests  # no judge asked again, not even answered from cache


def _compare(*args: str) -> tuple[int, str]:
    from assay.orchestration.cli import main

    return main(["compare", CANDIDATE, *args]), ""


def _materialised(home) -> set[str]:
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(home.dagster_home))
    try:
        return set(instance.get_materialized_partitions(AssetKey("shadow_scores")))
    finally:
        instance.dispose()


def test_compare_killed_midway_resumes_only_the_missing_days(env, capsys):
    from assay.orchestration.cli import main

    home, lake, server, days = env["home"], env["lake"], env["server"], env["days"]
    assert main(["candidates", "add", "Shadow Cand", "--model", "openai/shadow-model", "--param", f"api_base={server.api_base}"]) == 0
    assert env["config"].read_text().startswith("# test config: comments must survive")

    # 0. the bill first (issue 18): no request made; the candidate has no price, so a cost
    # ceiling cannot be checked and the compare refuses to start.
    requests = _served(server).requests
    capsys.readouterr()
    assert main(["compare", CANDIDATE, "--days", "1", "--estimate", "json"]) == 0
    estimate = json.loads(capsys.readouterr().out)
    assert _served(server).requests == requests
    stages = {row["stage"]: row for row in estimate["rows"]}
    sampled = lake.read_partition("sampled_calls", {"day": days[-1]}).num_rows
    assert stages["shadow_outputs"]["requests"] == sampled  # one replay per sampled call (repeats asked once)
    assert main(["compare", CANDIDATE, "--days", "1", "--max-cost", "1"]) == 1
    refusal = capsys.readouterr().err.strip().splitlines()[-1]
    assert refusal.startswith("assay: --max-cost $1: the cost cannot be estimated, no price is known for openai/judge, openai/shadow-model")
    assert _served(server).requests == requests

    # 1. the latest day alone: exactly the calls estimated.
    assert main(["compare", CANDIDATE, "--days", "1", "--parallel", "1"]) == 0
    captured = capsys.readouterr()
    assert "ran=1 skipped=0 days=1" in captured.out
    assert "Estimate for assay compare shadow-cand over 1 day(s):" in captured.err
    assert _served(server).requests - requests == estimate["total"]["calls"]
    first_day_prompts = dict(_served(server).answered_per_prompt)
    assert first_day_prompts

    # 2. all four days in another process, killed once the oldest day is materialised.
    process = launcher.popen(
        [sys.executable, "-m", "assay.orchestration.cli", "compare", CANDIDATE, "--days", "4", "--parallel", "1"],
        cwd=ROOT, env=os.environ.copy(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    try:
        while f"{CANDIDATE}|{days[0]}" not in _materialised(home):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the oldest day was never materialised"
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the group of the process this test started
        process.wait()
    done_before_resume = {key.split("|")[1] for key in _materialised(home)}
    assert {days[0], days[-1]} <= done_before_resume
    assert done_before_resume != set(days), "killed too late: nothing left to resume"
    after_kill = dict(_served(server).answered_per_prompt)
    requests_after_kill = _served(server).requests

    # 3. run again: only the missing days run, in two worker processes.
    assert main(["compare", CANDIDATE, "--days", "4", "--parallel", "2"]) == 0
    captured = capsys.readouterr()
    missing = sorted(set(days) - done_before_resume)
    assert f"ran={len(missing)} skipped={len(done_before_resume)} days=4" in captured.out
    for day in done_before_resume:
        assert f"skip {day}" in captured.err
    for day in missing:
        assert f"] {day}  ok" in captured.err
    assert {key.split("|")[1] for key in _materialised(home)} == set(days)
    # Finished days cost nothing more, and the calls a killed partition had made come from the
    # cache. The one exception a SIGKILL allows: a call answered in the instant before the kill,
    # whose answer had not reached the cache yet, is asked once more. At most the calls in
    # flight (the engine's concurrency) can be, and never twice.
    served = _served(server).answered_per_prompt
    asked_again = {p: served[p] - n for p, n in after_kill.items() if served[p] != n}
    assert all(extra == 1 for extra in asked_again.values()), asked_again
    assert len(asked_again) <= IN_FLIGHT_LIMIT, f"{len(asked_again)} paid calls asked again"
    assert all(served[p] == n for p, n in first_day_prompts.items())  # a day finished before
    assert _served(server).requests >= requests_after_kill

    # Each partition: the candidate's answers to that day's sampled calls, scored by the same
    # evaluators as production's answers.
    for day in days:
        partition = {"candidate": CANDIDATE, "day": day}
        outputs = lake.read_partition("shadow_outputs", partition).to_pylist()
        sampled = lake.read_partition("sampled_calls", {"day": day}).column("call_id").to_pylist()
        assert sorted(o["call_id"] for o in outputs) == sorted(sampled)
        assert {o["model"] for o in outputs} == {"openai/shadow-model"}
        scores = lake.read_partition("shadow_scores", partition).to_pylist()
        production = lake.read_partition("call_scores", {"day": day}).to_pylist()
        assert {(s["subject_id"], s["evaluator"]) for s in scores} <= {(s["subject_id"], s["evaluator"]) for s in production}
        assert {s["evaluator"] for s in scores} == {s["evaluator"] for s in production}
        assert {"provider_ok", "faithfulness"} <= {s["evaluator"] for s in scores}
    assert "no_markers" not in {s["evaluator"] for s in lake.read_partition("shadow_scores", {"candidate": CANDIDATE, "day": days[-1]}).to_pylist()}

    # 4. once more: nothing to run, nothing asked.
    requests = _served(server).requests
    assert main(["compare", CANDIDATE, "--days", "4"]) == 0
    assert "ran=0 skipped=4 days=4" in capsys.readouterr().out
    assert _served(server).requests == requests


def _write_cases(lake: Lake, n: int) -> list[dict]:
    from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS

    version = "v-test"
    cases = [
        {"case_id": f"case-{i}", "dataset_version": version, "feature": "rag_answer",
         "input": [{"role": "user", "content": f"How long does refund {i} take?"}],
         "context": [f"Refunds for order {i} take {i % 5 + 1} business days."]}
        for i in range(n)
    ]
    lake.write_partition("regression_dataset", cases, partition={"version": version}, schema=CASE_ARROW_SCHEMA, json_columns=CASE_JSON_COLUMNS)
    (lake.table_dir("regression_dataset") / "CURRENT").write_text(version)
    return cases


def _metadata(home, asset: str, partition: str) -> dict:
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    instance = DagsterInstance.from_config(str(home.dagster_home))
    try:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
        ).records
        return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}
    finally:
        instance.dispose()


def test_recorded_candidate_samples_and_imported_scores_through_candidate_job(env, tmp_path):
    from assay.orchestration.cli import main
    from assay.orchestration.runner import JobFailed, Runner

    home, lake, server = env["home"], env["lake"], env["server"]
    cases = _write_cases(lake, 6)
    recorded = tmp_path / "vendor.jsonl"
    recorded.write_text(
        "\n".join(json.dumps({"case_id": c["case_id"], "output": f"Refund {i} takes a few business days.", "latency_ms": 900})
                  for i, c in enumerate(cases[:5]))
        + "\n" + json.dumps({"input": "How long does refund 5 take?", "output": "I cannot help with that."}) + "\n"
    )
    assert main(["candidates", "add", "vendor", "--recorded", str(recorded)]) == 0
    assert main(["candidates", "add", "sampler", "--model", "openai/sampler", "--param", f"api_base={server.api_base}",
                 "--samples", "3"]) == 0
    scores_file = tmp_path / "raters.csv"
    scores_file.write_text("subject_id,metric,value,passed,candidate_id\ncase-0,helpful,4,true,vendor\ncase-1,helpful,1,false,vendor\n")
    assert main(["scores", "import", str(scores_file), "--source", "human"]) == 0

    runner = Runner()
    runner.register_candidates(["vendor", "sampler"])
    runner.run("candidate_job", partition_key="vendor")
    outputs = {o["case_id"]: o for o in lake.read_partition("candidate_outputs", {"candidate": "vendor"}).to_pylist()}
    assert outputs["case-5"]["output_text"] == "I cannot help with that."  # matched by input text
    assert outputs["case-0"]["latency_ms"] == 900 and outputs["case-0"]["model"] == "recorded:vendor.jsonl"
    vendor_scores = lake.read_partition("candidate_scores", {"candidate": "vendor"}).to_pylist()
    imported = sorted((s["subject_id"], s["passed"]) for s in vendor_scores if s["evaluator"] == "imported:human")
    assert imported == [("case-0", True), ("case-1", False)]
    assert any(s["evaluator"] == "no_refusal" and s["subject_id"] == "case-5" and s["passed"] is False for s in vendor_scores)
    assert _metadata(home, "candidate_outputs", "vendor")["llm_requests"] == 0  # read, not replayed

    # A recording without some case: reported as a missing output, not dropped.
    recorded.write_text("\n".join(recorded.read_text().splitlines()[:4]) + "\n")
    runner.run("candidate_job", partition_key="vendor")
    missing = [o for o in lake.read_partition("candidate_outputs", {"candidate": "vendor"}).to_pylist() if o["status"] != "completed"]
    assert sorted(o["case_id"] for o in missing) == ["case-4", "case-5"]
    assert {o["error_type"] for o in missing} == {"missing_output"}
    assert _metadata(home, "candidate_outputs", "vendor")["missing_outputs"] == 2
    # A bad row fails the run with the file, line and key.
    recorded.write_text(recorded.read_text() + '{"case_id": "case-4", "output": "x", "cost_usd": "cheap"}\n')
    with pytest.raises(JobFailed, match=r"vendor.jsonl:5: key `cost_usd`"):
        runner.run("candidate_job", partition_key="vendor")

    # Three samples per case: three distinct requests per case, then self-consistency.
    before = dict(_served(server).answered_per_prompt)
    runner.run("candidate_job", partition_key="sampler")
    extra = lake.read_partition("candidate_output_samples", {"candidate": "sampler"}).to_pylist()
    assert sorted((o["case_id"], o["sample"]) for o in extra) == sorted((c["case_id"], k) for c in cases for k in (1, 2))
    first = lake.read_partition("candidate_outputs", {"candidate": "sampler"}).to_pylist()
    assert len(first) == len(cases)
    assert sum(1 for o in first + extra if not o["is_cache_hit"]) == 3 * len(cases)
    meta = _metadata(home, "candidate_scores", "sampler")
    assert meta["self_consistency_samples"] == 3
    assert 0.0 <= meta["self_consistency_verdict_agreement_share"] <= 1.0
    assert 0.0 <= meta["self_consistency_mean_pairwise_similarity"] <= 1.0
    sample_scores = lake.read_partition("candidate_sample_scores", {"candidate": "sampler"}).to_pylist()
    assert {s["sample"] for s in sample_scores} == {1, 2}
    # The same messages three times: the server answers identical prompts, so the samples
    # differ only in their cache keys (the test server is deterministic per prompt).
    assert sum(_served(server).answered_per_prompt.values()) - sum(before.values()) >= 3 * len(cases)
    assert len(pq.read_table(lake.partition_dir("candidate_scores", {"candidate": "sampler"}) / "part.parquet")) > 0
