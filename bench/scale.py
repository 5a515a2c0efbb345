"""Benchmark: a judge-bound day on the team stack, with 1 and then 2 Celery workers, as a
ratio to the ideal; and the most requests the provider saw at once.

Everything runs on 127.0.0.1 and is stopped at the end: Postgres and redis-server (Debian's),
`dagster-daemon run` (the run queue and the sensors), `assay worker` processes (Celery), and
the local OpenAI-compatible server in its own process, answering after 200 ms and counting the
requests it holds at once. The config: `storage.instance: postgres`, `workers.executor:
celery`, `judge.max_concurrency: 32` (per worker: each worker runs one step at a time) and
`judge.provider_max_concurrency: 64` (all workers together, shared through Redis).

The day (`bench/scale_job.py`): `--calls` judge calls in 4 steps, asked for by a file the
daemon's sensor turns into a queued run. With 1 worker the steps run one after the other; with
2, two at a time. Judged calls/s = calls / (last step's end - first step's start), the steps'
own clocks around their LLM calls: the gaps between steps on a worker (taking the next task,
loading the step) count, the daemon's and the run's start do not.

Figures (`name=value`):
- `scale_ratio_w1`, `scale_ratio_w2`: judged calls/s over the ideal `min(workers x 32, 64) / 0.2 s`
  (160 and 320 calls/s);
- `scale_calls_per_s_w1`, `scale_calls_per_s_w2`;
- `provider_max_in_flight`: the most requests the server held at once over both runs (the
  shared limit is 64);
- `scale_workers_used_w2`: distinct workers that ran the 2-worker day's steps.

Usage: .venv/bin/python bench/scale.py [--calls N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LATENCY_S = 0.2
PER_WORKER = 32
PROVIDER_LIMIT = 64


def wait_for_run(instance, name: str, watched, timeout_s: float = 900):
    from dagster import RunsFilter

    deadline = time.monotonic() + timeout_s
    while True:
        runs = instance.get_runs(RunsFilter(tags={"assay/bench": name}))
        if runs and runs[0].is_finished:
            return runs[0]
        for process in watched:
            if not process.is_running:
                raise SystemExit(f"{process.log.name} exited: {process.tail()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"run {name} not finished after {timeout_s:.0f} s")
        time.sleep(0.5)


def step_summaries(instance, run_id: str) -> list[dict]:
    from dagster import DagsterEventType

    return [
        json.loads(r.dagster_event.event_specific_data.metadata["summary"].value)
        for r in instance.all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3200, help="judge calls in the day (4 steps)")
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="judge.worker_processes of each step (0: the step's own process)")
    args = parser.parse_args()
    from assay.testing.llm_server import Faults, LLMTestServer
    from assay.testing.services import PostgresServer, ProcessGroup, RedisServer

    with tempfile.TemporaryDirectory(prefix="assay-bench-scale-") as folder, ExitStack() as stack:
        tmp = Path(folder)
        pg = stack.enter_context(PostgresServer(tmp / "pg"))
        redis = stack.enter_context(RedisServer(tmp / "redis"))
        server = stack.enter_context(LLMTestServer(Faults(latency_s=LATENCY_S), in_subprocess=True))
        config = tmp / "assay.yaml"
        config.write_text(
            "storage:\n  instance: postgres\nworkers:\n  executor: celery\n"
            f"judge:\n  model: openai/judge\n  max_concurrency: {PER_WORKER}\n"
            f"  provider_max_concurrency: {PROVIDER_LIMIT}\n  worker_processes: {args.worker_processes}\n"
            f"  params: {{api_base: '{server.api_base}', api_key: test}}\n"
        )
        home_dir = tmp / "home"
        os.environ.update({**pg.env(), **redis.env(), "ASSAY_CONFIG": str(config), "ASSAY_HOME": str(home_dir)})
        from assay.runtime import AssayHome, ensure_home

        home = ensure_home(AssayHome(home_dir))
        workspace = tmp / "workspace.yaml"
        workspace.write_text(f"load_from:\n  - python_file:\n      relative_path: {REPO / 'bench' / 'scale_job.py'}\n"
                             f"      working_directory: {REPO}\n")
        env = dict(os.environ)
        daemon = stack.enter_context(
            ProcessGroup([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env, log=tmp / "daemon.log",
                         cwd=REPO))
        from dagster import DagsterInstance, DagsterRunStatus

        instance = stack.enter_context(DagsterInstance.get())
        requests = home.root / "scale_requests"
        requests.mkdir(parents=True, exist_ok=True)
        figures: dict[str, float | int] = {}
        for workers in (1, 2):
            with ExitStack() as pool:
                started = [
                    pool.enter_context(ProcessGroup(
                        [str(BIN / "assay"), "worker", "--name", f"w{i}", "--concurrency", "1"],
                        env=env | {"ASSAY_WORKER_NAME": f"w{i}"}, log=tmp / f"worker{workers}-{i}.log", cwd=REPO))
                    for i in range(workers)
                ]
                name = f"w{workers}"
                (requests / f"{name}.json").write_text(
                    json.dumps({"calls_per_shard": args.calls // 4, "label": f"day {name}"}))
                run = wait_for_run(instance, name, [daemon, *started])
                (requests / f"{name}.json").unlink()
                if run.status != DagsterRunStatus.SUCCESS:
                    raise SystemExit(f"run {name} ended {run.status.value}: see {tmp}/*.log")
                steps = step_summaries(instance, run.run_id)
            completed = sum(s["statuses"].get("completed", 0) for s in steps)
            span_s = max(s["ended"] for s in steps) - min(s["started"] for s in steps)
            rate = completed / span_s
            ideal = min(workers * PER_WORKER, PROVIDER_LIMIT) / LATENCY_S
            figures[f"scale_calls_per_s_w{workers}"] = round(rate, 1)
            figures[f"scale_ratio_w{workers}"] = round(rate / ideal, 3)
            figures[f"scale_judged_calls_w{workers}"] = completed
            if workers == 2:
                figures["scale_workers_used_w2"] = len({s["worker"] for s in steps})
        figures["provider_max_in_flight"] = server.stats["max_in_flight"]
    for key in ("scale_ratio_w1", "scale_ratio_w2", "provider_max_in_flight", "scale_calls_per_s_w1",
                "scale_calls_per_s_w2", "scale_judged_calls_w1", "scale_judged_calls_w2", "scale_workers_used_w2"):
        print(f"{key}={figures[key]}")


if __name__ == "__main__":
    main()
