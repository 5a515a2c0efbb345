"""The instance's SQLite storage keeps each database's engine open, and is otherwise Dagster's:
same files, events readable by a stock instance, a bounded number of open databases, and a
forked child that never shares its parent's connections."""

from __future__ import annotations

import os
import time

from assay.orchestration import sqlite_storage
from assay.orchestration.sqlite_storage import (
    ReusedEngineSqliteEventLogStorage,
    ReusedEngineSqliteRunStorage,
    ReusedEngineSqliteStorage,
)
from dagster import DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from assay.runtime import AssayHome, ensure_home


def _event(run_id: str, message: str) -> EventLogEntry:
    event = DagsterEvent(event_type_value=DagsterEventType.ENGINE_EVENT.value, job_name="job",
                         message=message, event_specific_data=EngineEventData())
    return EventLogEntry(error_info=None, level=20, user_message=message, run_id=run_id,
                         timestamp=time.time(), dagster_event=event)


def _messages(storage, run_id: str) -> list[str]:
    return [record.event_log_entry.user_message for record in storage.get_records_for_run(run_id).records]


def test_an_assay_home_uses_it_and_a_stock_storage_reads_what_it_wrote(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ensure_home(AssayHome(tmp_path / "home"))
    instance = DagsterInstance.get()
    assert isinstance(instance.event_log_storage, ReusedEngineSqliteEventLogStorage)
    assert isinstance(instance.run_storage, ReusedEngineSqliteRunStorage)
    assert instance.event_log_storage.supports_global_concurrency_limits  # pools still work
    # Found by the folder, not by DAGSTER_HOME: a home loaded from elsewhere stores where it lies.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    with DagsterInstance.from_config(str(home.dagster_home)) as by_folder:
        assert isinstance(by_folder.event_log_storage, ReusedEngineSqliteEventLogStorage)
        by_folder.event_log_storage.store_event(_event("run-b", "by folder"))

    for n in range(3):
        instance.event_log_storage.store_event(_event("run-a", f"event {n}"))
    instance.dispose()
    # Dagster's own layout: history/runs/<run_id>.db, readable without assay.
    stock = SqliteEventLogStorage(str(home.dagster_home / "history" / "runs"))
    assert _messages(stock, "run-a") == ["event 0", "event 1", "event 2"]
    assert _messages(stock, "run-b") == ["by folder"]


def test_every_database_is_in_wal_mode_and_synced_at_checkpoints(tmp_path):
    storage = ReusedEngineSqliteStorage(str(tmp_path))
    storage.event_log_storage.store_event(_event("run-a", "one"))
    connections = [storage.event_log_storage._connect("run-a"), storage.event_log_storage.index_connection(),
                   storage.run_storage.connect()]
    for connection in connections:
        with connection as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (FULL is 2)
    storage.dispose()


def test_open_databases_are_bounded(tmp_path, monkeypatch):
    # A smaller bound than the real one: each new run database costs Dagster's migrations.
    monkeypatch.setattr(sqlite_storage, "MAX_OPEN_SHARDS", 2)
    storage = ReusedEngineSqliteEventLogStorage(str(tmp_path))
    for n in range(4):
        storage.store_event(_event(f"run-{n}", "hello"))
    assert len(storage._engines._engines) == 2 + 1  # the runs used last + the index
    assert _messages(storage, "run-0") == ["hello"]  # an evicted database opens again
    storage.dispose()


def test_a_forked_child_opens_its_own_connections(tmp_path):
    storage = ReusedEngineSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_event("run-a", "parent"))
    pid = os.fork()
    if pid == 0:  # the child: no engine of the parent's is left to use; it writes on its own
        code = 1
        try:
            if not storage._engines._engines:
                storage.store_event(_event("run-a", "child"))
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    storage.store_event(_event("run-a", "parent again"))  # the parent's engine still works
    assert _messages(storage, "run-a") == ["parent", "child", "parent again"]
    storage.dispose()


def _open_storage_at_once(barrier, base_dir: str) -> None:
    barrier.wait()
    ReusedEngineSqliteStorage(base_dir).dispose()


def test_processes_starting_together_on_a_fresh_home_create_it_once(tmp_path):
    """Two services started together (the daemon and the webserver under systemd) on a fresh
    home: each opens the instance, and the run database gets one schema version, not two (with
    two, every later start fails)."""
    import multiprocessing
    import sqlite3

    context = multiprocessing.get_context("fork")  # dagster is imported: the start is the race
    barrier = context.Barrier(4)
    processes = [context.Process(target=_open_storage_at_once, args=(barrier, str(tmp_path))) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0] * 4
    with sqlite3.connect(tmp_path / "history" / "runs.db") as db:
        assert db.execute("select count(*) from alembic_version").fetchone() == (1,)
    ReusedEngineSqliteStorage(str(tmp_path)).dispose()  # and it opens again
