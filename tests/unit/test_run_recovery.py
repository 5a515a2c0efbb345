"""Issue 23, item 2: a run whose process is gone is failed and its pool slots freed (by the next
`assay` command, and by Dagster's run monitoring through `LocalRunLauncher`); a step waiting
for a pool says who holds it and gives up at the limit; a stop request ends the wait."""

import logging
import socket
import subprocess
import sys

import pytest
from assay.orchestration.runner import (
    HOST_TAG,
    PID_TAG,
    START_TAG,
    LocalRunLauncher,
    PoolWaiter,
    PoolWaitTimeout,
    RunProcess,
    is_running,
    reap_dead_runs,
    runner_tags,
)
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id

from assay.runtime import AssayHome, ensure_home

DEAD_PID = 2**22 + 4321  # above Linux's default pid_max: no such process


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    home = ensure_home(AssayHome(tmp_path))  # assay's own dagster.yaml: LocalRunLauncher, run monitoring
    instance = DagsterInstance.from_config(str(home.dagster_home))
    instance.event_log_storage.set_concurrency_slots("warehouse", 1)
    instance.event_log_storage.set_concurrency_slots("llm", 2)
    yield instance
    instance.dispose()


@pytest.fixture
def live_process():
    """A process that outlives the test's runs (started before them, as a run's process is)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def _started_run(instance, tags: dict, job: str = "curate_job", status=DagsterRunStatus.STARTED) -> DagsterRun:
    run = DagsterRun(job_name=job, run_id=make_new_run_id(), status=status, tags=tags)
    instance.add_run(run)
    return run


def _holders(instance, pool: str) -> list[str]:
    return sorted(slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots)


def test_the_next_start_fails_dead_runs_and_frees_their_slots_and_leaves_live_ones(instance, live_process):
    host = socket.gethostname()
    dead = _started_run(instance, {PID_TAG: str(DEAD_PID), HOST_TAG: host})
    canceling = _started_run(instance, {PID_TAG: str(DEAD_PID), HOST_TAG: host}, status=DagsterRunStatus.CANCELING)
    alive = _started_run(instance, {PID_TAG: str(live_process.pid), HOST_TAG: host})
    elsewhere = _started_run(instance, {PID_TAG: str(DEAD_PID), HOST_TAG: "another-machine"})
    finished = _started_run(instance, {}, status=DagsterRunStatus.SUCCESS)
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("warehouse", dead.run_id, "slo_marts").is_claimed
    assert storage.claim_concurrency_slot("llm", alive.run_id, "call_scores").is_claimed
    assert storage.claim_concurrency_slot("llm", finished.run_id, "call_scores").is_claimed

    notes = reap_dead_runs(instance)

    status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, canceling, alive, elsewhere)}
    assert status == {dead.run_id: DagsterRunStatus.FAILURE, canceling.run_id: DagsterRunStatus.CANCELED,
                      alive.run_id: DagsterRunStatus.STARTED, elsewhere.run_id: DagsterRunStatus.STARTED}
    assert _holders(instance, "warehouse") == [] and _holders(instance, "llm") == [alive.run_id]
    assert len(notes) == 3 and any(dead.run_id[:8] in n and "marked failed" in n for n in notes)
    assert reap_dead_runs(instance) == []  # nothing left to do


def test_a_reused_pid_is_not_the_runs_process(live_process):
    # The pid exists, but its process started after the run's: the run's process is gone.
    assert is_running(RunProcess(live_process.pid, started_by=10**10))
    assert not is_running(RunProcess(live_process.pid, started_by=1_000_000))


def test_a_process_known_by_its_start_ticks_is_told_apart_without_the_clock(live_process):
    # The run's creation time says 1970 (as a clock stepped forward after the run started would
    # make it look): the recorded start ticks still name the live process, and only it.
    ticks = int(runner_tags(live_process.pid)[START_TAG])
    assert is_running(RunProcess(live_process.pid, started_by=1_000_000, start_ticks=ticks))
    assert not is_running(RunProcess(live_process.pid, started_by=10**10, start_ticks=ticks + 1))


def test_run_monitoring_marks_a_daemon_run_whose_worker_died_failed(instance, live_process):
    """A run a launcher started names its worker only in Dagster's engine event; Dagster's
    own monitoring loop asks the launcher, which checks that pid."""
    from dagster._core.events import EngineEventData
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    assert isinstance(instance.run_launcher, LocalRunLauncher)
    dead, alive = _started_run(instance, {}), _started_run(instance, {})
    for run, pid in ((dead, DEAD_PID), (alive, live_process.pid)):
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    for run in (dead, alive):
        record = instance.get_run_record_by_id(run.run_id)
        monitor_started_run(instance, None, record, logging.getLogger("test"))
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED
    unknown = _started_run(instance, {})  # no process recorded yet: not a failure
    assert instance.run_launcher.check_run_worker_health(unknown).status.value == "RUNNING"


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_step_waiting_for_a_pool_says_who_holds_it_and_gives_up_at_the_limit(instance, live_process, monkeypatch):
    import assay.orchestration.runner as runner

    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    holder = _started_run(instance, {**runner_tags(), "dagster/partition": "2026-11-20"}, job="decide_job")
    assert instance.event_log_storage.claim_concurrency_slot("warehouse", holder.run_id, "slo_marts").is_claimed
    waiting = _started_run(instance, runner_tags())
    said: list[str] = []
    clock = _Clock()
    with PoolWaiter(instance, timeout_s=60, say=said.append, clock=clock) as waiter:
        storage = instance.event_log_storage
        assert not storage.claim_concurrency_slot("warehouse", waiting.run_id, "slo_marts").is_claimed
        (first,) = said
        assert "slo_marts: waiting 0s for pool warehouse (limit 1)" in first
        assert f"held by run {holder.run_id[:8]} (decide_job [2026-11-20], STARTED, step slo_marts) since 20" in first
        clock.now = 59
        assert not storage.claim_concurrency_slot("warehouse", waiting.run_id, "slo_marts").is_claimed
        assert len(said) == 2 and "waiting 59s" in said[1]
        clock.now = 60
        with pytest.raises(PoolWaitTimeout, match="gave up after 60s"):
            storage.claim_concurrency_slot("warehouse", waiting.run_id, "slo_marts")
        assert waiter.gave_up and holder.run_id[:8] in waiter.gave_up
    # Uninstalled: the storage's own method again.
    assert "claim_concurrency_slot" not in vars(instance.event_log_storage)


def test_a_stop_request_ends_a_pool_wait_and_cancels_the_run(instance, monkeypatch):
    import signal

    import assay.orchestration.runner as runner

    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    holder = _started_run(instance, runner_tags())
    instance.event_log_storage.claim_concurrency_slot("warehouse", holder.run_id, "slo_marts")
    waiting = _started_run(instance, runner_tags())
    stop: list[int] = []
    with PoolWaiter(instance, timeout_s=600, say=lambda m: None, stop_requested=lambda: stop[0] if stop else None):
        instance.event_log_storage.claim_concurrency_slot("warehouse", waiting.run_id, "slo_marts")
        stop.append(signal.SIGTERM)
        with pytest.raises(DagsterExecutionInterruptedError):
            instance.event_log_storage.claim_concurrency_slot("warehouse", waiting.run_id, "slo_marts")
    assert instance.get_run_by_id(waiting.run_id).status == DagsterRunStatus.CANCELING
    assert instance.get_run_by_id(holder.run_id).status == DagsterRunStatus.STARTED
