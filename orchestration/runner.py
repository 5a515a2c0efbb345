"""Running assay's jobs in this process (`Runner`), and keeping a killed run from blocking the
next one: dead runs, pool waits, signals.

A run killed with `kill -9` (out of memory, a deploy, a reboot) stays STARTED in Dagster's
instance and keeps its concurrency-pool slots, so the next run that needs the pool waits
forever, silently. Three things prevent that:

- dead runs are noticed. `reap_dead_runs` (at the start of every `assay` command that runs
  jobs) marks a run whose process is gone as failed and frees its slots, and frees the slots
  finished runs still hold. A run's process is known from its tags (`runner_tags`, set by
  the in-process runner) or, for a run the daemon launched, from Dagster's own "Started
  process for run (pid: N)" event; a pid that now belongs to a younger process is a dead run
  too. In the daemon, `LocalRunLauncher` gives Dagster's run monitoring the same check;
- a step waiting for a pool says so (`PoolWaiter`): which pool, held by which run and step,
  since when; and gives up after `runner.pool_wait_timeout_s` with that in the error;
- `assay run` stops on SIGINT/SIGTERM (`SignalStop`), marking its run canceled, even while a
  step waits for a pool (where Dagster itself never looks at a signal).

`Runner` wires these around each job it runs; the loop (`assay.orchestration.loop`), the shadow
backfill (`assay.orchestration.shadow_backfill`) and the `assay` command drive it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRun, RunRecord

from assay.lake import Lake, process_is_alive, process_stat, sweep_partial_files
from assay.runtime import POOL_LIMITS, AssayHome

PID_TAG = "assay/runner_pid"
HOST_TAG = "assay/runner_host"
START_TAG = "assay/runner_start_ticks"
"""The process's start in clock ticks after boot (/proc), which tells it from a later process
given the same pid without a wall clock: comparing a start time in epoch seconds (boot time +
ticks) with the run's creation time breaks whenever the clock is stepped between the two (NTP
after a VM resumes), and once called a live run dead in CI."""
IN_FLIGHT_STATUSES = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
WORKER_STARTED_MESSAGES = ("Started process for run (pid:", "Executing steps in process (pid:")
"""Dagster's engine events naming a run's process: the run worker a launcher started, and the
process an in-process run executes in."""
CLOCK_SLACK_S = 2.0
"""Process start times are read from /proc in clock ticks after a boot time kept in seconds."""


class PoolWaitTimeout(Exception):
    """A step waited for a pool longer than `runner.pool_wait_timeout_s`; the message says
    which pool and who holds it."""


class Interrupted(KeyboardInterrupt):
    """`assay run` was stopped by SIGINT or SIGTERM. A KeyboardInterrupt, so no `except
    Exception` on the way up swallows it, and the CLI needs no import to catch it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


# --- whose process is a run's ----------------------------------------------------------------


def runner_tags(pid: int | None = None) -> dict[str, str]:
    """Tags of a run executed in process `pid` (this one by default): which process to check
    when the run looks stuck."""
    pid = os.getpid() if pid is None else pid
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname()}
    ticks = process_start_ticks(pid)
    return tags if ticks is None else tags | {START_TAG: str(ticks)}


@dataclass(frozen=True)
class RunProcess:
    pid: int
    started_by: float
    """Epoch seconds by which the process had started (a pid whose process started later was
    reused by another process after the run's died)."""
    start_ticks: int | None = None
    """The process's start in clock ticks after boot, where its run recorded it (`START_TAG`):
    an exact identity that `started_by` only approximates."""


def run_process(instance: DagsterInstance, record: RunRecord) -> RunProcess | None:
    """The process executing a run on this machine, when known."""
    run = record.dagster_run
    if PID_TAG in run.tags:
        if run.tags.get(HOST_TAG) != socket.gethostname() or not run.tags[PID_TAG].isdigit():
            return None
        ticks = run.tags.get(START_TAG, "")
        return RunProcess(int(run.tags[PID_TAG]), record.create_timestamp.timestamp(),
                          int(ticks) if ticks.isdigit() else None)
    if not isinstance(instance.run_launcher, LocalRunLauncher) or not _is_one_machine(instance):
        # Dagster's events name a pid but not a machine: trusted only where every run worker
        # is on this one (assay's own instance config in SQLite). On a Postgres instance the
        # daemon that launched the run may be on another machine.
        return None
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or not (event.message or "").startswith(WORKER_STARTED_MESSAGES):
            continue
        pid = event.engine_event_data.metadata.get("pid") if event.engine_event_data else None
        if pid is not None and str(pid.value).isdigit():
            return RunProcess(int(pid.value), entry.timestamp)
    return None


def _is_one_machine(instance: DagsterInstance) -> bool:
    from dagster._core.storage.runs import SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage)


def process_start_ticks(pid: int) -> int | None:
    """When a process started, in clock ticks after boot (/proc); None where there is no /proc."""
    fields = process_stat(pid)
    return None if fields is None else int(fields[22 - 3])  # proc(5) field 22, counted from field 3


def process_started_at(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where there is no /proc."""
    ticks = process_start_ticks(pid)
    try:
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    return None if ticks is None else int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")


def is_running(process: RunProcess) -> bool:
    if not process_is_alive(process.pid):
        return False
    if process.start_ticks is not None:
        ticks = process_start_ticks(process.pid)
        return ticks is None or ticks == process.start_ticks
    # Only Dagster's engine event names the process (a daemon-launched run): its time is all
    # there is to compare with.
    started = process_started_at(process.pid)
    return started is None or started <= process.started_by + CLOCK_SLACK_S


# --- at start: dead runs failed, their slots freed -----------------------------------------------


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark runs whose process is gone as failed (canceled, if they were being canceled) and
    free the pool slots they, and any finished run, still hold. Returns one line per run."""
    notes = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=IN_FLIGHT_STATUSES)):
        run = record.dagster_run
        process = run_process(instance, record)
        if process is None or is_running(process):
            continue
        message = (f"assay: the process of this run (pid {process.pid}) is gone (killed?): marked "
                   f"{'canceled' if run.status == DagsterRunStatus.CANCELING else 'failed'}, pool slots freed")
        if run.status == DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message)
        else:
            instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        notes.append(f"run {run.run_id[:8]} ({run.job_name}{_partition(run)}) had died: marked "
                     f"{'canceled' if run.status == DagsterRunStatus.CANCELING else 'failed'}, its pool slots freed")
    notes += free_slots_of_finished_runs(instance)
    return notes


def free_slots_of_finished_runs(instance: DagsterInstance) -> list[str]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = set(storage.get_concurrency_run_ids())
    for info in storage.get_concurrency_infos(list(storage.get_concurrency_keys())).values():
        holders.update(slot.run_id for slot in info.claimed_slots)
    notes = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED_STATUSES:
            storage.free_concurrency_slots_for_run(run_id)
            notes.append(f"run {run_id[:8]} had ended but still held pool slots: freed")
    return notes


def sweep_home(home: AssayHome) -> list[Path]:
    """What killed writers left under ASSAY_HOME: staged lake files, half-written reports and
    landing files (readers never see them; this keeps them from piling up)."""
    removed = Lake(home.lake).sweep()
    removed += sweep_partial_files(home.reports, depth=2)
    removed += sweep_partial_files(home.landing, depth=2)
    return removed


def start_clean(instance: DagsterInstance, home: AssayHome | None = None) -> list[str]:
    """Before running jobs: dead runs failed, stale slots freed, abandoned files deleted."""
    notes = reap_dead_runs(instance)
    removed = sweep_home(home or AssayHome.from_env())
    if removed:
        notes.append(f"removed {len(removed)} half-written file(s) a killed run left (no reader saw them)")
    return notes


def _partition(run: DagsterRun) -> str:
    key = run.tags.get("dagster/partition")
    return f" [{key}]" if key else ""


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a run worker process per run, on this machine), plus the
    worker health check Dagster's run monitoring needs to notice a run worker that died: the
    daemon then marks the run failed (and, with `free_slots_after_run_end_seconds`, frees its
    slots). Runs executed in `assay run`'s own process are checked the same way."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        record = next(iter(self._instance.get_run_records(filters=RunsFilter(run_ids=[run.run_id]))), None)
        process = run_process(self._instance, record) if record else None
        if process is None:
            # Not known yet (the worker is starting), or not on this machine: not a failure.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker process not known")
        if is_running(process):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {process.pid} is running")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process (pid {process.pid}) is gone")


# --- waiting for a pool ------------------------------------------------------------------------


POOL_POLL_S = 1.0
"""How often a waiting step asks for its slot again (and looks for a stop request)."""
POOL_REPORT_S = 30.0
"""How often a step still waiting says so again."""


class PoolWaiter:
    """While installed on an instance (`with PoolWaiter(...)`), a step of this process that
    asks a concurrency pool for a slot and has to wait says so through `say` at once (which
    pool, which run holds it and since when), again every `POOL_REPORT_S`, and gives up with
    `PoolWaitTimeout` after `timeout_s`; a stop request (`stop_requested`) ends the wait too.

    Dagster's in-process executor asks `claim_concurrency_slot` of the instance's event log
    storage in a loop that otherwise spins without sleeping (a core at 100% while blocked) and
    never looks at signals. The waiter wraps that method on this instance's storage only: it
    sleeps `POOL_POLL_S` between asks, and raises out of the loop when it is time to stop.
    """

    def __init__(
        self,
        instance: DagsterInstance,
        *,
        timeout_s: float,
        say: Callable[[str], None],
        stop_requested: Callable[[], int | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.instance = instance
        self.timeout_s = timeout_s
        self.say = say
        self.stop_requested = stop_requested
        self.clock = clock
        self.gave_up: str | None = None
        """The message of the timeout, once the waiter gave up."""
        self._waiting: dict[tuple[str, str], tuple[float, float]] = {}  # (run, step) -> (since, last said)

    def __enter__(self) -> PoolWaiter:
        storage = self.instance.event_log_storage
        self._claim = storage.claim_concurrency_slot
        storage.claim_concurrency_slot = self._claim_or_wait  # this instance's storage object only
        return self

    def __exit__(self, *exc: object) -> None:
        del self.instance.event_log_storage.claim_concurrency_slot  # the class's method again

    def _claim_or_wait(self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None):
        signum = self.stop_requested()
        if signum is not None:
            _cancel(self.instance, run_id, f"stopped by {signal.Signals(signum).name} while waiting for pool {concurrency_key}")
            raise DagsterExecutionInterruptedError(f"stopped by {signal.Signals(signum).name}")
        status = self._claim(concurrency_key, run_id, step_key, priority)
        now = self.clock()
        since, said = self._waiting.get((run_id, step_key), (None, None))
        if status.is_claimed:
            if since is not None:
                del self._waiting[(run_id, step_key)]
                self.say(f"  {step_key}: got a slot of pool {concurrency_key} after {now - since:.0f}s")
            return status
        if since is None:
            since = now
        waited = now - since
        if said is None or now - said >= POOL_REPORT_S or waited >= self.timeout_s:
            message = self.describe_wait(concurrency_key, run_id, step_key, waited)
            if waited >= self.timeout_s:
                self.gave_up = (f"{message}; gave up after {self.timeout_s:g}s (runner.pool_wait_timeout_s in the "
                                "config). Run again when the holders end; the slots of a run that was killed are freed "
                                "by the next `assay run` on this machine")
                raise PoolWaitTimeout(self.gave_up)
            self.say(message)
            said = now
        self._waiting[(run_id, step_key)] = (since, said)
        time.sleep(POOL_POLL_S)
        return status.with_sleep_interval(0.0)  # asked again at once: the sleep was here

    def describe_wait(self, pool: str, run_id: str, step_key: str, waited_s: float) -> str:
        """`step waits for pool P (limit N): held by run R (job, step S) since T [, ...]`."""
        info = self.instance.event_log_storage.get_concurrency_info(pool)
        held_since = {(p.run_id, p.step_key): p.assigned_timestamp for p in info.pending_steps if p.assigned_timestamp}
        holders = []
        for slot in info.claimed_slots:
            if slot.run_id == run_id:
                continue
            holder = self.instance.get_run_by_id(slot.run_id)
            since = held_since.get((slot.run_id, slot.step_key))
            since_text = f" since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if since else ""
            what = f"{holder.job_name}{_partition(holder)}, {holder.status.value}" if holder else "unknown run"
            holders.append(f"run {slot.run_id[:8]} ({what}, step {slot.step_key}){since_text}")
        held = "; ".join(holders) or "no run holds a slot (the pool's limit is 0?)"
        return (f"  {step_key}: waiting {waited_s:.0f}s for pool {pool} (limit {info.limit}): held by {held}")


def _cancel(instance: DagsterInstance, run_id: str, message: str) -> None:
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status not in FINISHED_STATUSES and run.status != DagsterRunStatus.CANCELING:
        instance.report_run_canceling(run, message)


# --- signals ------------------------------------------------------------------------------------


class SignalStop:
    """SIGINT/SIGTERM stop `assay run` cleanly: the run in progress is marked canceled, and no
    further job starts.

    Outside a job, the handlers raise `Interrupted` at once. Inside one, Dagster replaces the
    handlers with its own (it raises only inside a step's code, and only notes the signal
    otherwise); the signal still reaches the wakeup fd set here, which a thread watches: it
    marks the run canceling right away (so Dagster ends it canceled, not failed) and records
    the request, which `PoolWaiter` and the runner look at.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self.signum: int | None = None
        self.current_run_id: str | None = None
        self._installed = False

    def requested(self) -> int | None:
        return self.signum

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only; nothing to watch here
        self._previous = {signum: signal.getsignal(signum) for signum in self.SIGNALS}
        for signum in self.SIGNALS:
            signal.signal(signum, self._raise)
        self._reader, writer = socket.socketpair()
        writer.setblocking(False)
        self._writer = writer
        self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._watcher = threading.Thread(target=self._watch, name="assay-signal-watch", daemon=True)
        self._watcher.start()
        self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._installed:
            return
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._writer.close()  # ends the watcher's read
        self._watcher.join(5)
        self._reader.close()

    def _raise(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        raise Interrupted(f"stopped by {signal.Signals(signum).name}", signum)

    def _watch(self) -> None:
        while True:
            try:
                data = self._reader.recv(16)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in self.SIGNALS and self.signum is None:
                    self.signum = signum
                    if self.current_run_id:
                        try:
                            _cancel(self.instance, self.current_run_id, f"stopped by {signal.Signals(signum).name}")
                        except Exception:  # noqa: BLE001 - the runner marks it after the job returns
                            pass

    @contextmanager
    def running(self, run_id: str) -> Iterator[None]:
        """Around one job: the handlers installed, and a signal now cancels `run_id`."""
        self.signum = None
        with self:
            self.current_run_id = run_id
            try:
                yield
            finally:
                self.current_run_id = None

    def finish(self, run_id: str, job: str) -> None:
        """After a job returned: if a signal came, make sure its run ends canceled (Dagster
        records a run interrupted inside a step's code as failed when the cancel request
        came a moment too late) and raise `Interrupted`."""
        if self.signum is None:
            return
        name = signal.Signals(self.signum).name
        run = self.instance.get_run_by_id(run_id)
        if run is not None and run.status != DagsterRunStatus.SUCCESS and run.status != DagsterRunStatus.CANCELED:
            self.instance.report_run_canceled(run, f"stopped by {name}")
            self.instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        state = "canceled" if run is None or run.status != DagsterRunStatus.SUCCESS else "finished before the stop"
        raise Interrupted(f"stopped by {name}: {job} run {run_id[:8]} {state}; nothing further was started", self.signum)


# --- running jobs in this process ----------------------------------------------------------------


class JobFailed(Exception):
    """A Dagster run of one job failed: `str()` is the one line a user reads (job, step, the
    exception's own message, run id, log file); `trace` is what `--verbose` adds."""

    def __init__(self, line: str, trace: str = ""):
        super().__init__(line)
        self.trace = trace


def say(message: str) -> None:
    """Progress for the person at the terminal: stderr, so stdout stays the command's output."""
    print(message, file=sys.stderr, flush=True)


def configure_pools(instance: DagsterInstance) -> None:
    """Set the concurrency pool limits of ASSAY_HOME's Dagster instance (idempotent)."""
    for pool, limit in POOL_LIMITS.items():
        if instance.event_log_storage.get_concurrency_info(pool).slot_count != limit:
            instance.event_log_storage.set_concurrency_slots(pool, limit)


class Runner:
    """Runs assay's jobs in this process, recorded in the Dagster instance under ASSAY_HOME,
    so `assay ui` shows the same runs, partitions and metadata as a scheduled night."""

    # Dagster's own log lines (and dbt's on stdout) go to the run's log file, not the terminal:
    # the terminal gets one line per job, or one line naming the cause when a step fails.
    FILE_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

    def __init__(self) -> None:
        from assay.orchestration.definitions import build_definitions

        from assay.config import load_config

        # Built now, not at import, so ASSAY_HOME / ASSAY_CONFIG as set for this run apply.
        self.defs = build_definitions()
        self.instance = DagsterInstance.get()
        configure_pools(self.instance)
        self.pool_wait_timeout_s = load_config().runner.pool_wait_timeout_s
        self.signals = SignalStop(self.instance)
        for note in start_clean(self.instance):  # what a killed run left: dead runs, slots, files
            say(f"  {note}")

    def run(
        self, job_name: str, *, partition_key: str | None = None, label: str = "", tags: dict[str, str] | None = None
    ) -> None:
        from dagster._core.utils import make_new_run_id

        started = time.perf_counter()
        job = self.defs.resolve_job_def(job_name)
        log_path = AssayHome.from_env().root / "logs" / f"{job_name}{'-' + partition_key if partition_key else ''}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        run_id = make_new_run_id()
        where = f"{job_name}{f' [{partition_key}]' if partition_key else ''}"
        terminal = sys.stderr  # the pool waiter speaks to the user; the run's own output goes to its log
        waiter = PoolWaiter(self.instance, timeout_s=self.pool_wait_timeout_s,
                            say=lambda message: print(message, file=terminal, flush=True),
                            stop_requested=self.signals.requested)
        with (log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log),
              self.signals.running(run_id), waiter):
            result = job.execute_in_process(
                instance=self.instance, partition_key=partition_key, run_config=self.FILE_LOGS, raise_on_error=False,
                run_id=run_id, tags={**runner_tags(), **(tags or {})},
            )
        self.signals.finish(run_id, where)
        seconds = time.perf_counter() - started
        if waiter.gave_up or not result.success:
            from assay.assets.run_failures import first_step_failure

            step, cause, trace = ("pool wait", waiter.gave_up, "") if waiter.gave_up else \
                first_step_failure(result.all_events)
            if job_name == "daily_job":
                from assay.orchestration.alert_sensors import send_run_failure_alert

                send_run_failure_alert(
                    AssayHome.from_env(), job_name=job_name, run_id=run_id, partition_key=partition_key, error=cause,
                )
            raise JobFailed(f"{where} failed at {step}: {cause} (run {run_id[:8]}; full log: {log_path})", trace)
        say(f"  ok  {job_name:<14} {label or partition_key or '':<22} {seconds:5.1f}s  run {result.run_id[:8]}")

    def run_days(self, days: list[str]) -> None:
        for day in days:
            self.run("daily_job", partition_key=day)

    def run_each(self, job_name: str, partition_keys: list[str]) -> list[tuple[str, JobFailed | None]]:
        """One run per partition, in turn; (key, its failure or None) each: one failing does
        not stop the others."""
        outcomes: list[tuple[str, JobFailed | None]] = []
        for key in partition_keys:
            try:
                self.run(job_name, partition_key=key)
                outcomes.append((key, None))
            except JobFailed as exc:
                outcomes.append((key, exc))
        return outcomes

    def register_candidates(self, candidate_ids: list[str]) -> None:
        register_candidates(self.instance, candidate_ids)


def register_candidates(instance: DagsterInstance, candidate_ids: list[str]) -> None:
    """A candidate partition for each id the instance does not have yet."""
    from assay.assets.partitions import candidate_partitions

    existing = set(instance.get_dynamic_partitions(candidate_partitions.name))
    new = [cid for cid in candidate_ids if cid not in existing]
    if new:
        instance.add_dynamic_partitions(candidate_partitions.name, new)
