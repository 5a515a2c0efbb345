"""judge.mode: batch with the lake on object storage (`storage.lake: s3://...`): one machine
submits, another collects and writes the scores.

An S3 endpoint (moto_server on 127.0.0.1) holds the lake; the judge is the local server's Batch
API. Two processes with their own ASSAY_HOME (so their own response caches) share only the
config and the object store: "machine A" materialises call_scores (the batch is submitted, its
intent recorded in the bucket, nothing written), "machine B" runs the judge_batch_sensor as the
daemon does, which finds the batch through the bucket, collects it there and requests the day,
then writes the day's scores from what was collected, submitting nothing again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from assay.assets.sampled_calls import SAMPLED_SCHEMA

from assay.contracts.call import CALL_JSON_COLUMNS
from assay.lake import Lake
from assay.testing.llm_server import Faults, LLMTestServer
from assay.testing.object_store import ObjectStore
from tests.unit.test_judge_batch_flow import batch_judge_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-03-01"
CALLS = 8
BUCKET = "team-lake"


def _call(i: int) -> dict:
    return {
        "call_id": f"c{i}", "ts": datetime(2026, 3, 1, 12, tzinfo=UTC), "app": "helpdesk", "feature": "rag_answer",
        "model": "m", "messages": [{"role": "user", "content": f"How do I export invoice {i}?"}],
        "input_text": f"How do I export invoice {i}?", "output_text": f"Open Billing and choose Export ({i}).",
        "status": "success", "latency_ms": 100.0, "metadata": {}, "source_file": "f.jsonl",
        "source_offset": i * 100, "sample_reason": "rate",
    }


def _machine(tmp_path: Path, name: str, env: dict[str, str], *args: str) -> list[str]:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    child_env = {k: v for k, v in env.items() if k not in ("ASSAY_LAKE", "ASSAY_WAREHOUSE")}
    child_env |= {"ASSAY_HOME": str(folder / "home"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tests.support.batch_lake_child", *args], cwd=folder, env=child_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert not any(folder.rglob("_judge_batches")), "batch records written to local disk, not the lake"
    return done.stdout.strip().splitlines()


def test_one_machine_submits_and_another_collects_through_the_object_store(tmp_path, monkeypatch):
    with ObjectStore() as store, LLMTestServer(Faults(batch_delay_s=0.0)) as server:
        store.create_bucket(BUCKET)
        for key, value in store.environ().items():
            monkeypatch.setenv(key, value)
        config = tmp_path / "assay.yaml"
        config.write_text(f"project: {{app: helpdesk, start_day: '2026-02-01'}}\nstorage:\n  lake: s3://{BUCKET}/lake\n"
                          + batch_judge_config(server.api_base), encoding="utf-8")
        lake = Lake(f"s3://{BUCKET}/lake")
        lake.write_partition("sampled_calls", [_call(i) for i in range(CALLS)], partition={"day": DAY},
                             schema=SAMPLED_SCHEMA, json_columns=CALL_JSON_COLUMNS)
        env = dict(os.environ) | {"ASSAY_CONFIG": str(config), "OPENAI_API_KEY": "local-test-server",
                                  "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

        assert _machine(tmp_path, "machine-a", env, "submit", DAY) == [f"submitted {CALLS}"]
        ledger = [k for k in store.keys(BUCKET, "lake/_judge_batches/")]
        assert len(ledger) == 1 and ledger[0].startswith(f"lake/_judge_batches/call_scores__day={DAY}/")
        assert server.stats["batches_created"] == 1 and server.stats["requests"] == 0
        assert lake.read_partition("call_scores", {"day": DAY}) is None

        lines = _machine(tmp_path, "machine-b", env, "collect", DAY)
        assert lines == [f"requested daily_job {DAY}", f"scored {CALLS}"]
        results = store.keys(BUCKET, f"lake/_judge_batches/call_scores__day={DAY}/results/")
        assert len(results) == 1
        scores = lake.read_partition("call_scores", {"day": DAY}).to_pylist()
        judged = [s for s in scores if s["evaluator"] == "relevance"]
        assert len(judged) == CALLS and {(s["status"], s["judge_mode"]) for s in judged} == {("completed", "batch")}
        # Machine B's own cache was empty: every answer came through the bucket, none was asked twice.
        stats = server.stats
        assert stats["batches_created"] == 1 and stats["batch_lines_submitted_twice"] == 0
        assert stats["requests"] == 0
