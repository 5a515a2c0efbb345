"""A judge-bound day as a Dagster job for the team stack: `bench/scale.py` and the team-stack
test load it as a code location (`python_file: bench/scale_job.py`).

The day's judge calls are split in `SHARDS` steps (as a day's scoring would be split over
workers); each step judges its share through the engine assay.yaml configures (its own
`judge.max_concurrency`, the provider's limit shared through Redis) against whatever
`judge.params` points at. The job runs on the executor `workers.executor` names (Celery on the
team stack).

Runs are asked for by files, so the daemon's sensor starts them, through the run queue, as it
would any sensor's: a JSON file `ASSAY_HOME/scale_requests/<name>.json` holding
`{"calls_per_shard": N, "label": "..."}` becomes one run with run key `<name>`.

Each step's output (and metadata) says when its judging started and ended (epoch seconds, the
engine's calls only: not the step's process start), how its calls ended, and which Celery
worker (host name, pid) ran it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from pathlib import Path

import dagster as dg
from assay.orchestration.executors import configured_executor

from assay.config import load_config
from assay.llm.configured import configured_engine
from assay.llm.engine import LLMRequest
from assay.runtime import AssayHome, configured_executor_name

SHARDS = 4
REQUESTS_FOLDER = "scale_requests"


def judge_shard(index: int) -> dg.OpDefinition:
    @dg.op(name=f"judge_shard_{index}", config_schema={"calls_per_shard": int, "label": str})
    def _judge(context) -> dict:  # no annotation: Dagster compares it, and `annotations` makes it a string
        config = load_config()
        engine = configured_engine(config, AssayHome.from_env(), log=context.log.info)
        label, calls = context.op_config["label"], context.op_config["calls_per_shard"]
        requests = [
            LLMRequest(config.judge.model,
                       [{"role": "user", "content": f"{label} shard {index} call {i}: was the answer grounded?"}],
                       dict(config.judge.params))
            for i in range(calls)
        ]
        started = time.time()
        results = engine.run(requests)
        ended = time.time()
        summary = {
            "started": started, "ended": ended, "statuses": dict(Counter(r.status for r in results)),
            "host": socket.gethostname(), "pid": os.getpid(), "worker": os.environ.get("ASSAY_WORKER_NAME", ""),
        }
        context.add_output_metadata({"summary": json.dumps(summary)})
        return summary

    return _judge


@dg.job(executor_def=configured_executor(configured_executor_name()))
def judge_day_job():
    for index in range(SHARDS):
        judge_shard(index)()


def run_config(calls_per_shard: int, label: str) -> dict:
    op_config = {"calls_per_shard": calls_per_shard, "label": label}
    return {"ops": {f"judge_shard_{i}": {"config": op_config} for i in range(SHARDS)}}


@dg.sensor(job=judge_day_job, minimum_interval_seconds=2, default_status=dg.DefaultSensorStatus.RUNNING)
def scale_requests_sensor(context: dg.SensorEvaluationContext):
    folder = AssayHome.from_env().root / REQUESTS_FOLDER
    for path in sorted(Path(folder).glob("*.json")) if folder.exists() else []:
        request = json.loads(path.read_text())
        yield dg.RunRequest(run_key=path.stem, run_config=run_config(request["calls_per_shard"], request["label"]),
                            tags={"assay/bench": path.stem})


defs = dg.Definitions(jobs=[judge_day_job], sensors=[scale_requests_sensor])
