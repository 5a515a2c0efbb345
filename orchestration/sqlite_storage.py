"""Dagster's SQLite instance storage, with each database's engine opened once per process.

Dagster's stock SQLite storages build a new SQLAlchemy engine, open the database file, and
dispose of both for every statement: `SqliteEventLogStorage` does it for every event a run
writes (and twice for an asset event, which is mirrored into the index shard). A day's run
writes hundreds of events; on the reference machine that costs 2.6 ms of CPU an event against
0.6 ms with the engine kept (300 engine events, tmpfs, one process, measured while writing
this module). The same files, schema, migrations and locking (SQLite's own, with Dagster's
busy timeout); each event is still its own committed transaction.

One setting differs: `PRAGMA synchronous=NORMAL` on every connection. Dagster puts these
databases in WAL mode, where SQLite's default (FULL) syncs the log to disk at every commit:
about 0.4 ms of wall time an event on the reference machine's disk, and a day's run writes
hundreds. With NORMAL the log is synced at checkpoints. A commit survives the process being
killed (`kill -9` at any point: the crash tests do it), because the operating system has it;
only a power loss or kernel crash can roll back the last commits, never corrupt the database
(SQLite's documentation on WAL). What such a loss can cost here is Dagster's record of the last
events of a run, not data: the lake is assay's record, and a run is repeatable.

What keeping engines needs:
- a bound on open files: a process that reads many runs (the UI, the daemon) keeps the engines
  of the `MAX_OPEN_SHARDS` run databases it used last and disposes of the rest;
- thread safety: the event log serialises every use of a connection under its own lock (as
  Dagster's does); run storage calls check out a pooled connection of their own, so the SQLite
  connections are created with `check_same_thread=False`;
- fork safety: a child process must not use its parent's open connections, so after a fork
  every cached engine is dropped (not closed: the parent still uses them);
- files that go away: `wipe()` disposes of the engines before Dagster deletes the files.

`assay.runtime.DAGSTER_YAML` names `AssayInstance` as the instance class: Dagster's instance
whose default storage (no `storage:` key in dagster.yaml) is `ReusedEngineSqliteStorage` in the
folder of that dagster.yaml, found as Dagster finds its own default, so a home that is copied or
moved, or loaded with `DagsterInstance.from_config(folder)`, stores where it lies. A `storage:`
key (Postgres, see docs/deploy.md) replaces it as it replaces Dagster's default.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils import mkdir_p
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

INIT_LOCK_FILE = ".storage-init.lock"
"""Beside Dagster's files: held while a process opens (and on a fresh home creates) them."""

MAX_OPEN_SHARDS = 16
"""Run databases whose engines a process keeps open (besides the index)."""

_CONNECT_ARGS = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}


def _sync_at_checkpoints(dbapi_connection, _connection_record) -> None:
    """`synchronous` is a setting of the connection, not of the file: set on each (see above)."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _Engines:
    """Engines by database URL, least recently used first, at most `limit` (0: no limit)."""

    def __init__(self, limit: int):
        self._limit = limit
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        _LIVE.add(self)

    def get(self, url: str) -> Engine:
        with self._lock:
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
            engine = create_engine(url, connect_args=_CONNECT_ARGS)
            event.listen(engine, "connect", _sync_at_checkpoints)
            self._engines[url] = engine
            while self._limit and len(self._engines) > self._limit:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def forget_after_fork(self) -> None:
        for engine in self._engines.values():
            engine.dispose(close=False)  # the parent's connections stay open for the parent
        self._engines.clear()
        self._lock = threading.Lock()


_LIVE: weakref.WeakSet[_Engines] = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [engines.forget_after_fork() for engines in list(_LIVE)])


class ReusedEngineSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, each shard's engine kept open."""

    def __init__(self, base_dir: str, inst_data=None):
        # Before Dagster's __init__: it already connects (index shard migrations).
        self._engines = _Engines(limit=MAX_OPEN_SHARDS + 1)  # + the index shard
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's `_connect` minus the engine's creation and disposal around each use.
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        self._engines.dispose()
        super().wipe()

    def dispose(self) -> None:
        self._engines.dispose()
        super().dispose()


class ReusedEngineSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage (`runs.db`), its engine kept open."""

    def __init__(self, conn_string: str, inst_data=None):
        self._engines = _Engines(limit=1)
        super().__init__(conn_string, inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine = self._engines.get(self._conn_string)
        with engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self._engines.dispose()
        super().dispose()


class ReusedEngineSqliteStorage(DagsterSqliteStorage):
    """The instance's storage: Dagster's SQLite layout under `base_dir` (DAGSTER_HOME), with
    the run and event-log databases' engines kept open."""

    def __init__(self, base_dir: str, inst_data=None):
        # DagsterSqliteStorage.__init__ builds the stock storages; build ours instead, one
        # process at a time: on a fresh home, Dagster's SQLite run storage creates `runs.db` and
        # stamps its schema version without any guard, so two processes starting together
        # (`assay daemon` and `assay webserver` under systemd) each stamp it, and every later
        # start fails ("alembic_version has more than one head"). Once the files exist, the
        # lock is held for the few milliseconds it takes to open them.
        self.base_dir = base_dir
        mkdir_p(base_dir)
        with open(os.path.join(base_dir, INIT_LOCK_FILE), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._run_storage = ReusedEngineSqliteRunStorage.from_local(_runs_directory(base_dir))
            self._event_log_storage = ReusedEngineSqliteEventLogStorage(_event_logs_directory(base_dir))
            self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(config_value["base_dir"], inst_data=inst_data)


class AssayInstance(DagsterInstance):
    """Dagster's instance, its default storage `ReusedEngineSqliteStorage`."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}  # no settings of its own: dagster.yaml's keys are Dagster's

    @staticmethod
    def config_defaults(base_dir: str):
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = ConfigurableClassData(
            __name__, ReusedEngineSqliteStorage.__name__, yaml.dump({"base_dir": base_dir}, default_flow_style=False),
        )
        return defaults
