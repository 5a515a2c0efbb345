"""dbt run inside the Dagster step's process, behind the interface dagster-dbt streams from.

dagster-dbt starts `dbt build` as a subprocess and turns the JSON log lines it prints into
Dagster events. That subprocess imports dbt and its DuckDB adapter, loads the project and
parses it again: about 7 of the 10 s of CPU a build of the project took here (measured:
10 s as a subprocess, 3 s for a build in a process that has built before). A step runs its
builds here instead, through dbt's own programmatic entry (`dbtRunner`), in a thread:

- `InProcessDbt` stands in for the `subprocess.Popen` dagster-dbt reads: dbt's events, as
  the same JSON lines dbt prints with `--log-format json` at its default `info` level, come
  through `stdout`; `wait()` gives 0 when dbt succeeded. dbt writes its own `dbt.log` and
  target files where dagster-dbt points it, as before.
- The environment dagster-dbt builds for the subprocess (`DBT_TARGET_PATH`, `DBT_LOG_PATH`,
  the build's `ASSAY_DBT_*` values...) is set in this process for the build's length, under
  one lock (`ENVIRON_LOCK`): one build at a time per process (dbtRunner keeps global state; the `warehouse`
  pool already lets one build at a time per home).
- dbt-duckdb keeps its DuckDB connection for the life of the process; it is closed when the
  build ends, so readers (reports, `assay metrics`, the next build) can open the warehouse.
- An interrupt (SIGINT/SIGTERM stopping the run) is passed on to the build as dbt's
  KeyboardInterrupt, raised in its thread; dbt stops as it does on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ENVIRON_LOCK = threading.Lock()
"""Held by whoever changes os.environ for dbt: `OfflineDbtCliResource.cli` while dagster-dbt
copies the environment for an invocation, then the invocation's thread for the build's length
(which so starts only once `cli` has put the environment back). One build at a time in this
process, too: dbtRunner is not safe to run concurrently."""

_END = object()


class _Lines:
    """The `stdout` of an `InProcessDbt`: bytes lines until the build ends."""

    def __init__(self, lines: queue.SimpleQueue) -> None:
        self._lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            line = self._lines.get()
            if line is _END:
                self.closed = True
                return
            yield line

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


class InProcessDbt:
    """`subprocess.Popen(args, env=env)` of the dbt CLI, run by dbtRunner in a thread."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        self.pid = os.getpid()
        self._lines: queue.SimpleQueue = queue.SimpleQueue()
        self.stdout = _Lines(self._lines)
        self._thread = threading.Thread(target=self._build, args=(dict(env),), name="dbt", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ Popen's interface

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode if self.returncode is not None else 1

    def send_signal(self, _signum: int) -> None:
        """Stop the build as Ctrl-C stops dbt: a KeyboardInterrupt in its thread."""
        if self._thread.is_alive() and self._thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread.ident), ctypes.py_object(KeyboardInterrupt))

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)

    # ------------------------------------------------------------------ the build

    def _emit(self, event: Any) -> None:
        # The lines dbt prints on stdout with --log-format json: its default level there is info.
        if event.info.level == "debug":
            return
        from dbt_common.events.functions import msg_to_dict

        self._lines.put(json.dumps(msg_to_dict(event)).encode() + b"\n")

    def _build(self, env: dict[str, str]) -> None:
        try:
            with ENVIRON_LOCK, _environment(env):
                from dbt.cli.main import dbtRunner

                try:
                    # stdout stays quiet: the events come through the callback. dbt.log as before
                    # (debug, dbt's default for the file; a set --log-level would apply to it too).
                    result = dbtRunner(callbacks=[self._emit]).invoke(
                        [*self.args[1:], "--log-level", "none", "--log-level-file", "debug"]
                    )
                    self.returncode = 0 if result.success else (1 if result.exception is None else 2)
                    if result.exception is not None:
                        self._emit_error(f"dbt failed: {result.exception}")
                finally:
                    _close_duckdb()
        except BaseException as exc:  # noqa: BLE001 - an interrupt too: the build ends, the reader is told
            self.returncode = 2 if self.returncode is None else self.returncode
            if not isinstance(exc, KeyboardInterrupt):
                self._emit_error(f"dbt failed: {type(exc).__name__}: {exc}")
        finally:
            self._lines.put(_END)

    def _emit_error(self, message: str) -> None:
        line = {"info": {"name": "MainEncounteredError", "level": "error", "msg": message, "code": "Z002",
                         "invocation_id": "", "pid": self.pid, "thread": "dbt", "ts": "", "extra": {}, "category": ""},
                "data": {"exc": message}}
        self._lines.put(json.dumps(line).encode() + b"\n")


class _environment:
    """os.environ as `env` for the build's length, then as it was."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.before: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self.before = {name: os.environ.get(name) for name, value in self.env.items() if os.environ.get(name) != value}
        for name in self.before:
            os.environ[name] = self.env[name]

    def __exit__(self, *exc: object) -> None:
        for name, value in self.before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _close_duckdb() -> None:
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: its connections close with dbt's cleanup
        return
    DuckDBConnectionManager.close_all_connections()


@functools.cache
def in_process_invocation_class() -> type:
    """dagster-dbt's DbtCliInvocation, started with an `InProcessDbt` instead of a subprocess
    (its `run` otherwise copies the project's parse state into the target folder, which
    `OfflineDbtCliResource` does itself, from the home's newest build)."""
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

    class InProcessDbtCliInvocation(DbtCliInvocation):
        @classmethod
        def run(cls, args: Sequence[str], env: dict[str, str], manifest: Mapping[str, Any], dagster_dbt_translator: Any,
                project_dir: Any, target_path: Any, raise_on_error: bool, context: Any, adapter: Any, cli_version: Any,
                dbt_project: Any = None) -> DbtCliInvocation:
            # The subprocess ran in the project folder, where dbt finds profiles.yml by default.
            if "DBT_PROFILES_DIR" not in env and (Path(project_dir) / "profiles.yml").is_file():
                env = {**env, "DBT_PROFILES_DIR": str(project_dir)}
            return cls(
                process=InProcessDbt(args, env),  # type: ignore[arg-type]
                manifest=manifest, project=dbt_project, dagster_dbt_translator=dagster_dbt_translator,
                project_dir=project_dir, target_path=target_path, raise_on_error=raise_on_error, context=context,
                adapter=adapter, cli_version=cli_version,
            )

    return InProcessDbtCliInvocation
