"""`assay compare <candidate> --days N`: a shadow backfill over past days, resumable.

One run of `shadow_job` per (candidate, day) partition, recorded in the Dagster instance under
ASSAY_HOME (so the UI shows the backfill's partitions and runs), up to `parallel` at once in
worker processes. A partition counts as done when the instance has a `shadow_scores`
materialisation for it and its stored outputs were made by the candidate as configured now
(same fingerprint): a killed backfill run again does only the partitions it had not finished,
and the LLM cache answers every call a half-finished partition had already paid for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

SHADOW_JOB = "shadow_job"


@dataclass
class ShadowPlan:
    candidate_id: str
    days: list[str]
    """The window's days that have sampled calls, oldest first."""
    todo: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    no_calls: list[str] = field(default_factory=list)
    """Days in the window without a sampled_calls partition (nothing to replay)."""


def window_days(sampled_days: list[str], days: int, end_day: str | None) -> tuple[list[str], list[str]]:
    """(days of the window with sampled calls, days of it without), oldest first. The window
    ends at `end_day` or at the latest day with sampled calls."""
    if days < 1:
        raise ValueError("--days must be at least 1")
    if not sampled_days and end_day is None:
        return [], []
    end = date.fromisoformat(end_day) if end_day else date.fromisoformat(max(sampled_days))
    window = [(end - timedelta(days=i)).isoformat() for i in reversed(range(days))]
    have = set(sampled_days)
    return [d for d in window if d in have], [d for d in window if d not in have]


def plan_shadow(
    candidate_id: str,
    fingerprint: str,
    days: list[str],
    materialised: set[str],
    stored_fingerprint: Callable[[str], str | None],
) -> ShadowPlan:
    """Which of `days` still need a run (pure: tested without Dagster). `materialised` holds
    the `shadow_scores` partition keys (`<candidate>|<day>`) the instance has."""
    plan = ShadowPlan(candidate_id, days)
    for day in days:
        finished = f"{candidate_id}|{day}" in materialised and stored_fingerprint(day) == fingerprint
        (plan.done if finished else plan.todo).append(day)
    return plan


def stored_fingerprint_reader(lake, candidate_id: str) -> Callable[[str], str | None]:
    def read(day: str) -> str | None:
        table = lake.read_partition("shadow_outputs", {"candidate": candidate_id, "day": day})
        if table is None or table.num_rows == 0:
            return None
        return table.column("candidate_fingerprint")[0].as_py()

    return read


# --- running partitions ----------------------------------------------------------------------

_RUNNER: Any = None


def _runner():
    global _RUNNER
    if _RUNNER is None:
        from assay.orchestration.runner import Runner

        _RUNNER = Runner()
    return _RUNNER


def run_partition(candidate_id: str, day: str) -> dict[str, Any]:
    """Run `shadow_job` for one partition in this process; a summary for the progress line."""
    import contextlib
    import io

    from dagster import MultiPartitionKey

    runner = _runner()
    started = time.perf_counter()
    job = runner.defs.resolve_job_def(SHADOW_JOB)
    # Dagster's and dbt's own lines stay off the terminal: the progress line says how it went.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = job.execute_in_process(
            instance=runner.instance,
            partition_key=MultiPartitionKey({"candidate": candidate_id, "day": day}),
            run_config=runner.FILE_LOGS,
            raise_on_error=False,
        )
    return partition_summary(day, result.success, result.run_id, time.perf_counter() - started, result.all_events)


def partition_summary(day: str, ok: bool, run_id: str, seconds: float, events: list) -> dict[str, Any]:
    """A partition's progress line data from its run's Dagster events."""
    summary: dict[str, Any] = {"day": day, "ok": ok, "run_id": run_id, "seconds": seconds}
    for event in events:
        if event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
            name = materialization.asset_key.to_user_string()
            if name == "shadow_outputs":
                summary["llm_calls_paid"] = metadata.get("llm_attempts", 0)
                summary["calls"] = metadata.get("dagster/row_count", 0)
            elif name == "shadow_scores":
                summary["judge_calls_paid"] = metadata.get("judge_attempts", 0)
                summary["pass_rate"] = metadata.get("pass_rate")
                summary["production_pass_rate"] = metadata.get("production_pass_rate")
    if not ok:
        from assay.assets.run_failures import first_step_failure

        step, cause, _ = first_step_failure(events)
        summary["error"] = f"{step}: {cause}"
    return summary


def run_backfill_queued(plan: ShadowPlan, runner, on_progress: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """The plan's partitions as runs on the daemon's run queue (`assay compare --queue`, a
    `QueuedRunner`): all submitted at once; the queue runs at most two runs of the job at a
    time (its `assay/job` tag, assay.runtime.TEAM_RUN_QUEUE), their steps on the workers."""
    from dagster import DagsterRunStatus, MultiPartitionKey

    started = time.perf_counter()
    run_days = {
        runner.submit(SHADOW_JOB, partition_key=MultiPartitionKey({"candidate": plan.candidate_id, "day": day})): day
        for day in plan.todo
    }
    summaries: list[dict[str, Any]] = []

    def ended(run) -> None:
        summary = partition_summary(run_days[run.run_id], run.status == DagsterRunStatus.SUCCESS, run.run_id,
                                    time.perf_counter() - started, runner.events(run.run_id))
        on_progress(summary)
        summaries.append(summary)

    runner.wait(list(run_days), on_end=ended)
    return summaries


RESULT_PREFIX = "shadow-result "


def run_backfill(
    plan: ShadowPlan, *, parallel: int, on_progress: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Run the plan's partitions, `parallel` at once.

    More than one at once runs in worker processes (`python -m assay.orchestration.shadow_backfill`), each
    taking the next day from a shared queue as it finishes one. They are started as plain
    commands, not multiprocessing children: spawning would re-import the caller's main
    module, which is unsafe when `assay` is driven from a user's script.
    """
    summaries: list[dict[str, Any]] = []
    if parallel <= 1 or len(plan.todo) <= 1:
        for day in plan.todo:
            summary = run_partition(plan.candidate_id, day)
            on_progress(summary)
            summaries.append(summary)
        return summaries
    import os
    import subprocess
    import sys
    import threading

    from assay.runtime import AssayHome

    days = list(plan.todo)
    lock = threading.Lock()
    logs = AssayHome.from_env().root / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def next_day() -> str | None:
        with lock:
            return days.pop(0) if days else None

    def report(summary: dict[str, Any]) -> None:
        with lock:
            summaries.append(summary)
            on_progress(summary)

    def worker(index: int) -> None:
        log_path = logs / f"compare-{plan.candidate_id}-worker{index}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "assay.orchestration.shadow_backfill", plan.candidate_id],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=os.environ.copy(),
            )
            assert process.stdin is not None and process.stdout is not None
            day = next_day()
            while day is not None:
                process.stdin.write(day + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
                while line and not line.startswith(RESULT_PREFIX):  # skip anything else printed
                    line = process.stdout.readline()
                if line:
                    report(json.loads(line[len(RESULT_PREFIX) :]))
                else:  # end of output: the worker died
                    report({"day": day, "ok": False, "run_id": "-" * 8, "seconds": 0.0,
                            "error": f"worker exited with code {process.wait()}; see {log_path}"})
                    return
                day = next_day()
            process.stdin.close()
            process.wait()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(min(parallel, len(plan.todo)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summaries


def _serve_partitions(candidate_id: str) -> None:
    """Worker: run the partition of each day read from stdin, answer one result line each."""
    import sys

    for line in sys.stdin:
        day = line.strip()
        if day:
            print(RESULT_PREFIX + json.dumps(run_partition(candidate_id, day), default=str), flush=True)


def format_progress(summary: dict[str, Any], position: int, total: int) -> str:
    if not summary["ok"]:
        return f"  [{position}/{total}] {summary['day']}  FAILED ({summary.get('error', 'see the run')}) run {summary['run_id'][:8]}"
    production = summary.get("production_pass_rate")
    vs = f" vs production {production:.3f}" if isinstance(production, float) and production == production else ""
    return (
        f"  [{position}/{total}] {summary['day']}  ok  {summary['seconds']:5.1f}s  calls={summary.get('calls', 0)} "
        f"pass_rate={summary.get('pass_rate', 0.0):.3f}{vs}  paid llm={summary.get('llm_calls_paid', 0)} "
        f"judge={summary.get('judge_calls_paid', 0)}  run {summary['run_id'][:8]}"
    )


if __name__ == "__main__":
    import sys

    import assay  # noqa: F401  (no-telemetry defaults before Dagster loads)

    _serve_partitions(sys.argv[1])
