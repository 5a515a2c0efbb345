"""The team stack on one machine: Dagster's instance in Postgres, the daemon with its run
queue, steps on two Celery workers (Redis broker), one provider limit for both.

Everything real, started and stopped by the test on 127.0.0.1: Postgres and redis-server
(Debian's), `dagster-daemon run`, two `assay worker` processes (Celery), the local
OpenAI-compatible server (200 ms a reply; it counts the requests it holds at once). The user's
config says `storage.instance: postgres`, `workers.executor: celery` and a provider limit of 6
with 8 per run. A file asks the daemon's sensor for a judge-bound day (4 steps); the daemon
queues the run, takes it off the queue and launches it; its steps run on the workers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from assay.testing.llm_server import Faults, LLMTestServer
from assay.testing.services import PostgresServer, ProcessGroup, RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CALLS_PER_SHARD = 24
PROVIDER_LIMIT = 6
"""Below one run's own 8: the cap the server sees is the shared one, with one worker busy or two."""


def test_a_queued_run_from_the_daemon_runs_its_steps_on_two_workers_within_one_provider_limit(tmp_path, monkeypatch):
    from assay.runtime import AssayHome, ensure_home

    with ExitStack() as stack:
        pg = stack.enter_context(PostgresServer(tmp_path / "pg"))
        # a session of its own: a Ctrl-C at a terminal reaches whoever started it, not the server
        assert os.getsid(pg.process.pid) == pg.process.pid
        redis = stack.enter_context(RedisServer(tmp_path / "redis"))
        server = stack.enter_context(LLMTestServer(Faults(latency_s=0.2), in_subprocess=True))
        config = tmp_path / "assay.yaml"
        config.write_text(
            "storage:\n  instance: postgres\n"
            "workers:\n  executor: celery\n"
            "judge:\n"
            "  model: openai/judge\n"
            "  max_concurrency: 8\n"
            f"  provider_max_concurrency: {PROVIDER_LIMIT}\n"
            f"  params: {{api_base: '{server.api_base}', api_key: test}}\n"
        )
        for key, value in {**pg.env(), **redis.env(), "ASSAY_CONFIG": str(config)}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
        home = ensure_home(AssayHome(tmp_path / "home"))
        dagster_yaml = (home.dagster_home / "dagster.yaml").read_text()
        assert "env: ASSAY_PG_URL" in dagster_yaml and pg.url not in dagster_yaml  # no address, no secret
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(
            f"load_from:\n  - python_file:\n      relative_path: {ROOT / 'bench' / 'scale_job.py'}\n"
            f"      working_directory: {ROOT}\n"
        )
        env = dict(os.environ)
        workers = [
            stack.enter_context(ProcessGroup([str(BIN / "assay"), "worker", "--name", f"w{i}", "--concurrency", "1"],
                                             env=env | {"ASSAY_WORKER_NAME": f"w{i}"}, log=tmp_path / f"worker{i}.log"))
            for i in range(2)
        ]
        daemon = stack.enter_context(
            ProcessGroup([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env, log=tmp_path / "daemon.log")
        )

        requests = home.root / "scale_requests"
        requests.mkdir()
        (requests / "day1.json").write_text(json.dumps({"calls_per_shard": CALLS_PER_SHARD, "label": "day1"}))

        from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

        instance = stack.enter_context(DagsterInstance.get())
        deadline = time.monotonic() + 180
        while True:
            runs = instance.get_runs(RunsFilter(tags={"assay/bench": "day1"}))
            if runs and runs[0].is_finished:
                break
            logs = {p.log.name: p.tail() for p in [*workers, daemon]}
            assert time.monotonic() < deadline, f"no finished run: {runs and runs[0].status}; {logs}"
            assert all(p.is_running for p in [*workers, daemon]), logs
            time.sleep(1)
        run = runs[0]
        records = instance.all_logs(run.run_id)
        assert run.status == DagsterRunStatus.SUCCESS, [r.message for r in records if r.is_dagster_event][-10:]
        stats = server.stats

    kinds = {r.dagster_event.event_type for r in records if r.is_dagster_event}
    # Queued by the sensor's request, launched by the daemon's queue (nothing else launches here).
    assert DagsterEventType.RUN_ENQUEUED in kinds and DagsterEventType.RUN_STARTING in kinds
    summaries = [
        json.loads(r.dagster_event.event_specific_data.metadata["summary"].value)
        for r in records
        if r.is_dagster_event and r.dagster_event.event_type == DagsterEventType.STEP_OUTPUT
    ]
    assert len(summaries) == 4
    assert {s["worker"] for s in summaries} == {"w0", "w1"}  # both workers ran steps
    assert [s["statuses"] for s in summaries] == [{"completed": CALLS_PER_SHARD}] * 4
    assert stats["requests"] == 4 * CALLS_PER_SHARD
    assert stats["max_in_flight"] <= PROVIDER_LIMIT, stats  # 2 workers x 8 per run, one limit of 6
