"""A candidate replayed through the Batch API (`replay_mode: batch`), with the judge in batch mode
too (`judge.mode: batch`), end to end as a user runs it.

The travel-bot team's own config (tests/integration/user_world.py, not the demo's): its golden
set, its baseline replayed synchronously, and a challenger with `replay_mode: batch`, both served
by the local OpenAI-compatible server over litellm's real HTTP path, `assay` run as a subprocess:

1. `assay run` replays the baseline, submits its judge requests as one batch and stops (exit 0,
   nothing decided, nothing of the challenger written); no replay of the challenger goes out;
2. `assay run --wait-batches` re-runs the baseline while its batch is still open (nothing is
   submitted again), collects it, submits the challenger's replays as one batch, collects it,
   writes one output per case and decides: the latency gate says it was not measured (batch
   answers carry queue time, not latency), in the decision and in its report, and is not part
   of the verdict. Nothing goes synchronously but the baseline's replays, and stderr holds no
   traceback (collecting once left SDK clients that failed on the next event loop).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from assay.testing.llm_server import Faults, LLMTestServer
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY, lake_rows
from tests.support.cli import assay, user_env

pytestmark = pytest.mark.integration

NOT_MEASURED = "not measured: replayed through the Batch API"


def _project(folder: Path, api_base: str) -> Path:
    config_path = user_world.write_project(folder, api_base)
    config = yaml.safe_load(config_path.read_text())
    config["candidates"] = [
        {"candidate_id": "current", "model": "openai/model-current", "params": {"api_base": api_base},
         "is_baseline": True},
        {"candidate_id": "challenger", "model": "openai/model-challenger", "params": {"api_base": api_base},
         "replay_mode": "batch"},
    ]
    config["judge"]["mode"] = "batch"  # the judge too: every call but the baseline's replays goes in batches
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path


def test_a_batch_replayed_candidate_is_submitted_collected_and_decided_without_a_latency_verdict(tmp_path):
    cases = len(user_world.golden_cases())
    with LLMTestServer(Faults(batch_delay_s=0.0), answers=user_world.SCRIPTED_MODELS) as server:
        project = tmp_path / "travel-bot"
        config = _project(project, server.api_base)
        home = tmp_path / "assay-home"
        env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY)

        submitted = assay("run", cwd=project, env=env, timeout_s=1800)  # a guard against a hang, not a timing
        assert submitted.returncode == 0, submitted.stderr
        assert (f"submitted to the provider's Batch API: {cases} requests wait in 1 open provider batch(es)"
                in submitted.stderr), submitted.stderr
        stats = server.stats
        assert stats["batches_created"] == 1 and stats["batch_lines"] == cases
        assert stats["requests_by_model"].get("model-challenger", 0) == 0  # no replay of it went out synchronously
        assert stats["requests_by_model"]["model-current"] == cases  # the baseline replays synchronously
        assert not [r for r in lake_rows(home, "candidate_outputs") if r["candidate_id"] == "challenger"]
        assert not lake_rows(home, "deploy_decisions")

        finished = assay("run", "--wait-batches", cwd=project, env=env, timeout_s=1800)
        assert finished.returncode == 0, finished.stderr
        assert f"waiting for 1 provider batch(es), {cases} requests (candidate_job)" in finished.stderr
        # Collecting closes what it opened while its event loop still runs: no "Event loop is
        # closed" traceback from an SDK client collected later.
        assert "Traceback" not in finished.stderr and "Event loop is closed" not in finished.stderr, finished.stderr
        stats = server.stats
        # The re-run while the batches were open submitted nothing; every line went once: the
        # baseline's judge requests in one batch, the challenger's replays in another (its
        # answers are the baseline's, so their judge requests were answered from the cache).
        assert stats["batches_created"] == 2 and stats["batch_lines_submitted_twice"] == 0
        assert len(stats["batch_lines_by_custom_id"]) == 2 * cases
        assert set(stats["requests_by_model"]) == {"model-current"}  # neither the challenger nor the judge went sync
        assert stats["requests_by_model"]["model-current"] == cases  # the baseline's answers came from the cache

        outputs = [r for r in lake_rows(home, "candidate_outputs") if r["candidate_id"] == "challenger"]
        assert len(outputs) == cases and {r["status"] for r in outputs} == {"completed"}
        assert all(r["latency_ms"] is None and r["cost_usd"] > 0 for r in outputs)  # batch price, no latency

        report = assay("report", "--format", "json", cwd=project, env=env)
        assert report.returncode == 0, report.stderr
        (decision,) = [d for d in json.loads(report.stdout) if d["candidate_id"] == "challenger"]
        latency = next(g for g in decision["gates"] if g["gate"] == "latency_p95")
        assert latency["status"] == "off" and latency["observed"] is None
        assert latency["detail"].startswith(NOT_MEASURED)
        assert decision["verdict"] == "approved", decision["reasons"]  # it answers as the baseline does
        assert any(r.startswith(f"latency_p95: {NOT_MEASURED}") for r in decision["reasons"])
        report_md = Path(decision["reports"]["markdown"]).read_text(encoding="utf-8")
        assert f"- latency_p95: {NOT_MEASURED}" in report_md  # among the report's reasons
