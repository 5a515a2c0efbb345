"""judge.mode: batch through Dagster: call_scores submits the day's judge requests and is not
materialised while the batch is open; a re-run submits nothing; judge_batch_sensor collects the
batch and requests the day's scores; the re-run writes every score with judge_mode and the
cost actually charged. The judge is a real HTTP provider: the local server's Batch API."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pyarrow.parquet as pq
import pytest
from assay.assets.assay_resource import AssayResource
from assay.assets.call_scores import call_scores
from assay.assets.sampled_calls import SAMPLED_SCHEMA
from assay.orchestration.batch_sensor import judge_batch_sensor, plan_batch_runs

from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.lake import Lake
from assay.llm.batch import BatchLedger
from assay.testing.llm_server import Faults, LLMTestServer

DAY = "2026-03-01"
CALLS = 12


def _call(i: int) -> dict:
    return {
        "call_id": f"c{i}", "ts": datetime(2026, 3, 1, 12, tzinfo=UTC), "app": "a", "feature": "rag_answer",
        "model": "m", "messages": [{"role": "user", "content": f"How do I reset password {i}?"}],
        "input_text": f"How do I reset password {i}?",
        "output_text": f"Open settings and choose reset ({i}).", "status": "success", "latency_ms": 100.0,
        "metadata": {}, "source_file": "f.jsonl", "source_offset": i * 100, "sample_reason": "rate",
    }


def batch_judge_config(api_base: str) -> str:
    """assay.yaml's judge in batch mode behind the local server, with one judged evaluator."""
    return (
        "judge:\n"
        "  model: openai/judge\n"
        "  mode: batch\n"
        f"  params: {{api_base: '{api_base}'}}\n"
        "pricing:\n"
        "  openai/judge: {input_cost_per_token: 0.000002, output_cost_per_token: 0.000008}\n"
        "evaluators:\n"
        "  - name: relevance\n"
        "    type: llm_judge\n"
        "    params: {rubric: answer_relevance}\n"
    )


def _home(tmp_path, api_base: str):
    config = tmp_path / "assay.yaml"
    config.write_text(batch_judge_config(api_base), encoding="utf-8")
    lake = Lake(tmp_path / "lake")
    rows = rows_to_table([_call(i) for i in range(CALLS)], SAMPLED_SCHEMA, frozenset(CALL_JSON_COLUMNS))
    lake.write_partition("sampled_calls", rows, partition={"day": DAY}, schema=SAMPLED_SCHEMA)
    return config, lake


@pytest.mark.integration  # three real Dagster materialisations
def test_batch_mode_submits_then_the_sensor_collects_and_the_day_is_scored(tmp_path, monkeypatch):
    with LLMTestServer(Faults(batch_delay_s=0.0)) as server:
        config, lake = _home(tmp_path, server.api_base)
        monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
        monkeypatch.setenv("ASSAY_CONFIG", str(config))
        monkeypatch.setenv("OPENAI_API_KEY", "local-test-server")
        resource = AssayResource(home_dir=str(tmp_path), config_file=str(config))
        instance = dg.DagsterInstance.ephemeral()

        def run() -> dg.ExecuteInProcessResult:
            return dg.materialize([call_scores], partition_key=DAY, instance=instance,
                                  resources={"assay": resource}, selection=[call_scores])

        first = run()
        assert first.success
        assert not first.asset_materializations_for_node("call_scores")  # not written while open
        assert lake.read_partition("call_scores", {"day": DAY}) is None
        (check,) = first.get_asset_check_evaluations()
        assert check.metadata["batch_pending"].value == CALLS and "open provider batches" in check.description
        assert "batch_000001" in check.metadata["open_batches"].value
        assert server.stats["batches_created"] == 1 and server.stats["requests"] == 0  # no sync call

        assert run().success  # a re-run while the batch is open submits nothing
        assert server.stats["batches_created"] == 1

        for _tick in range(5):  # validating -> in_progress -> completed: one step per poll
            result = judge_batch_sensor(dg.build_sensor_context(instance=instance))
            if result.run_requests:
                break
        (request,) = result.run_requests
        assert (request.job_name, request.partition_key) == ("daily_job", DAY)
        assert request.asset_selection == [dg.AssetKey("call_scores"), dg.AssetKey("failures")]
        (observation,) = result.asset_events
        assert observation.metadata["open_judge_batches_count"].value == 0

        done = run()
        assert done.success and done.asset_materializations_for_node("call_scores")
        scores = pq.read_table(lake.partition_dir("call_scores", {"day": DAY}) / "part.parquet").to_pylist()
        judged = [s for s in scores if s["evaluator"] == "relevance"]
        assert len(judged) == CALLS and {s["status"] for s in judged} == {"completed"}
        # pricing: has the sync price only: the batch price is judge.batch_discount (0.5) of it
        assert {(s["judge_mode"], s["judge_cost_source"]) for s in judged} == {("batch", "batch_discount")}
        for s in judged:
            expected = 0.5 * (s["judge_input_tokens"] * 0.000002 + s["judge_output_tokens"] * 0.000008)
            assert abs(s["judge_cost_usd"] - expected) < 1e-12 and not s["judge_is_cache_hit"]
        assert server.stats["batches_created"] == 1 and server.stats["batch_lines_submitted_twice"] == 0
        assert BatchLedger.of_lake(tmp_path / "lake").open_batches() == []


def test_plan_batch_runs_maps_scopes_to_their_partitions():
    requests = plan_batch_runs(
        ["call_scores/day=2026-03-01", "candidate_scores/candidate=v2/version=abc", "candidate_outputs/candidate=xl/version=abc"],
        {"call_scores/day=2026-03-01": "t1"},
    )
    assert [(r.job_name, r.partition_key) for r in requests] == [
        ("daily_job", "2026-03-01"), ("candidate_job", "v2"), ("candidate_job", "xl"),
    ]
    assert requests[0].run_key == "judge-batches:call_scores/day=2026-03-01:t1"
