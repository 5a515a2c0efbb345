"""Running assay's jobs through the daemon's run queue (`assay run --queue`, `assay demo
--queue`, `assay compare --queue`): the team stack's way, where `Runner` runs them in this
process.

Each run is created in the shared instance from the code location the daemon loads
(`-m assay.orchestration.definitions`, the same location name), submitted to the run queue,
and waited for: the daemon takes it off the queue within its limits and launches it, and
`workers.executor: celery` puts its steps on the `assay worker` processes. The caller sees the
same one line per job as with `Runner`, and the same `JobFailed` naming the failed step.

Loading the code location starts one Dagster code server process for this runner (as `dagster
job launch` does); a `QueuedRunner` is meant to submit many runs, and `close()` stops it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

from assay.orchestration.runner import JobFailed, configure_pools, register_candidates, say
from dagster import DagsterInstance, DagsterRunStatus, MultiPartitionKey

DEFINITIONS_MODULE = "assay.orchestration.definitions"
"""The module the daemon loads (`assay daemon`): a run names its code location by it."""
POLL_S = 0.5


class QueueNotAvailable(Exception):
    """The instance has no run queue a daemon takes runs from (SQLite: runs there are executed
    by the process that asks)."""


class QueuedRunner:
    def __init__(self) -> None:
        from dagster._core.run_coordinator import QueuedRunCoordinator
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import ModuleTarget

        self.instance = DagsterInstance.get()
        if not isinstance(self.instance.run_coordinator, QueuedRunCoordinator) or self.instance.is_ephemeral:
            raise QueueNotAvailable("--queue needs the team stack's instance (storage.instance: postgres) and a "
                                    "running `assay daemon` to take runs off its queue")
        configure_pools(self.instance)
        self._stack = ExitStack()
        context = self._stack.enter_context(
            # The code server's own start/stop lines stay off the user's terminal.
            WorkspaceProcessContext(self.instance, ModuleTarget(DEFINITIONS_MODULE, None, None, None),
                                    code_server_log_level="WARNING")
        )
        self.workspace = context.create_request_context()
        (name,) = self.workspace.code_location_names
        error = self.workspace.get_code_location_error(name)
        if error is not None:
            raise JobFailed(f"assay's definitions did not load: {error.message.strip()}", error.to_string())
        self.location = self.workspace.get_code_location(name)
        (self.repository,) = self.location.get_repositories().values()

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> QueuedRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, job_name: str, *, partition_key: str | MultiPartitionKey | None = None,
               tags: dict[str, str] | None = None) -> str:
        """Create the run in the instance and put it on the run queue; its run id."""
        from dagster._cli.job import _create_run

        remote_job = self.repository.get_full_job(job_name)
        run_tags = dict(tags or {})
        if partition_key is not None:
            run_tags |= _partition_tags(job_name, partition_key)
        run = _create_run(instance=self.instance, code_location=self.location, remote_repo=self.repository,
                          remote_job=remote_job, run_config={}, tags=run_tags, op_selection=None, run_id=None)
        self.instance.submit_run(run.run_id, self.workspace)
        return run.run_id

    def wait(self, run_ids: Iterable[str], on_end: Callable[[Any], None] = lambda run: None) -> dict[str, Any]:
        """Wait until every run has ended (`on_end(run)` as each does); their final DagsterRun
        by id. Interrupted (Ctrl-C), the runs not ended are canceled (the daemon's launcher
        stops their workers)."""
        waiting, ended = set(run_ids), {}
        try:
            while waiting:
                for run_id in sorted(waiting):
                    run = self.instance.get_run_by_id(run_id)
                    if run is not None and run.is_finished:
                        ended[run_id] = run
                        waiting.discard(run_id)
                        on_end(run)
                if waiting:
                    time.sleep(POLL_S)
        except KeyboardInterrupt:
            for run_id in waiting:
                self.instance.run_coordinator.cancel_run(run_id)
            raise
        return ended

    def run(self, job_name: str, *, partition_key: str | None = None, label: str = "",
            tags: dict[str, str] | None = None) -> None:
        """As `Runner.run`: one line when the run succeeded, `JobFailed` naming its failed step."""
        started = time.perf_counter()
        run_id = self.submit(job_name, partition_key=partition_key, tags=tags)
        run = self.wait([run_id])[run_id]
        where = f"{job_name}{f' [{partition_key}]' if partition_key else ''}"
        if run.status != DagsterRunStatus.SUCCESS:
            step, cause, trace = self.failure(run_id)
            raise JobFailed(f"{where} failed at {step}: {cause} (run {run_id[:8]}, {run.status.value}; "
                            "its events are in the Dagster UI)", trace)
        say(f"  ok  {job_name:<14} {label or partition_key or '':<22} {time.perf_counter() - started:5.1f}s  "
            f"run {run_id[:8]} (queued)")

    def events(self, run_id: str) -> list:
        return [entry.dagster_event for entry in self.instance.all_logs(run_id) if entry.is_dagster_event]

    def failure(self, run_id: str) -> tuple[str, str, str]:
        from assay.assets.run_failures import first_step_failure

        return first_step_failure(self.events(run_id))

    def run_each(self, job_name: str, partition_keys: list[str]) -> list[tuple[str, JobFailed | None]]:
        """One run per partition, all on the queue at once (the queue's limits say how many run
        together, the workers share their steps); (key, its failure or None) each."""
        started = time.perf_counter()
        run_ids = {self.submit(job_name, partition_key=key): key for key in partition_keys}
        outcome: dict[str, JobFailed | None] = {}

        def ended(run) -> None:
            key = run_ids[run.run_id]
            if run.status == DagsterRunStatus.SUCCESS:
                outcome[key] = None
                say(f"  ok  {job_name:<14} {key:<22} {time.perf_counter() - started:5.1f}s  run {run.run_id[:8]} (queued)")
                return
            step, cause, trace = self.failure(run.run_id)
            outcome[key] = JobFailed(f"{job_name} [{key}] failed at {step}: {cause} (run {run.run_id[:8]}, "
                                     f"{run.status.value}; its events are in the Dagster UI)", trace)

        self.wait(list(run_ids), on_end=ended)
        return [(key, outcome[key]) for key in partition_keys]

    def run_days(self, days: list[str]) -> None:
        """Every day's daily_job on the queue at once; the first failure raised once all ended."""
        failure = next((exc for _, exc in self.run_each("daily_job", days) if exc is not None), None)
        if failure is not None:
            raise failure

    def register_candidates(self, candidate_ids: list[str]) -> None:
        register_candidates(self.instance, candidate_ids)


def _partition_tags(job_name: str, partition_key: str | MultiPartitionKey) -> dict[str, str]:
    """The tags Dagster gives a run of one partition (a multi-partition key's dimensions too)."""
    from assay.assets.partitions import shadow_partitions

    if isinstance(partition_key, MultiPartitionKey):
        return dict(shadow_partitions.get_tags_for_partition_key(partition_key))
    return {"dagster/partition": partition_key}
