"""Start `assay` (and `python -m <module>`) processes for the tests from a preloaded launcher.

Every `assay run` a test starts used to be a fresh interpreter that imported Dagster, dbt,
Great Expectations and litellm before doing anything: about 10 s of CPU per process on the
2-core reference machine (py-spy: about 40% of an `assay run` of two demo days), and the suite
starts dozens of them.

The launcher is a process that imports those third-party packages once: one for the session,
started by pytest-xdist's controller for all its workers (SHARED_ENV), or by a pytest process
without workers on first use. Each command is a `fork()` of it: a new process with its own pid, its
own session when asked (`start_new_session`, so a test can `killpg` it), the test's
environment, working folder and standard streams, and the same entry point a user's shell
runs (`assay.orchestration.cli:main`, or the module given to `-m`). Its exit status comes back
as subprocess's does (negative for a signal). What it does not share with a user's process:
the third-party modules were imported before the environment was set. None of them reads the
environment at import in a way assay depends on. Of assay's own modules only the evaluators
(with the contracts, detectors and privacy code they import) are preloaded: they read neither
config nor environment at import, while the assets and orchestration read their partitions and
settings from the config at import. A command whose environment changes how Python starts (any PYTHON* variable, such as the network audit's PYTHONPATH) runs
cold instead. And it ends without the interpreter's teardown of modules and heap, which would
copy every page the fork shares (_exit_without_teardown). A launched command's dbt builds are
forked too, through a small shim named by ASSAY_DBT_EXECUTABLE (SHIM below): such a dbt is not
in the run's process group, so it holds a lifeline to the shim and ends when the shim does.

`ASSAY_TEST_COLD=1` starts every command as a fresh interpreter (`subprocess`), to check that the
suite passes the way a user's shell starts assay. A few commands always start cold: the ones of
the tests about what the console script imports, and the first of the new team's first day
(tests/integration/test_new_user.py).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import inspect
import json
import linecache
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
ASSAY = BIN / "assay"
REPO = Path(__file__).resolve().parents[2]
COLD_ENV = "ASSAY_TEST_COLD"
PRELOAD = (
    # assay first: it sets the privacy defaults (no telemetry) before litellm or dbt is imported.
    "assay",
    "dagster", "dagster_dbt", "dbt.cli.main", "dbt.adapters.duckdb", "great_expectations", "litellm",
    "openai", "pandas", "pyarrow.parquet", "duckdb", "aiohttp", "yaml", "jinja2",
    # What a forked `assay run` still imported of them (`python -X importtime`): the SQLite
    # storages of a home's Dagster instance (their alembic pulls in mako: 0.58 s), the token
    # counter's encoding, and a few more: about 0.9 s of CPU a run.
    "dagster._core.storage.event_log.sqlite.sqlite_event_log", "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage", "litellm.litellm_core_utils.default_encoding",
    "litellm.proxy.openai_files_endpoints.common_utils", "upath.core", "phonenumbers", "pyarrow.dataset",
    "dbt.task.build", "dbt_common.clients.agate_helper",
)
_HEADER = struct.Struct("!Q")
DBT = BIN / "dbt"
DBT_EXECUTABLE_ENV = "ASSAY_DBT_EXECUTABLE"  # assay.assets.warehouse_project.DBT_EXECUTABLE_ENV
SHIM = """#!{python} -S
# `dbt`, for the commands the test launcher starts: the same dbt, forked from the launcher
# (tests/support/launcher.py). It forwards SIGINT and SIGTERM and exits as dbt exited; if this
# process dies (a kill -9 of the run's process group), dbt sees its lifeline close and ends too.
import json, os, signal, socket, struct, sys
LAUNCHER_PYTHON = {python_settings!r}
settings = {{k: v for k, v in os.environ.items() if k.startswith("PYTHON") and k not in {ignored!r}}}
if settings != LAUNCHER_PYTHON or os.environ.get({cold!r}):
    os.execv({dbt!r}, [{dbt!r}, *sys.argv[1:]])  # Python starts differently here: the real thing
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect({socket_path!r})
lifeline, keep = os.pipe()
request = json.dumps({{"args": ["dbt", *sys.argv[1:]], "cwd": os.getcwd(), "env": dict(os.environ),
                      "new_session": False}}).encode()
socket.send_fds(conn, [struct.pack("!Q", len(request)) + request], [0, 1, 2, lifeline])
os.close(lifeline)
lines = conn.makefile("r")
pid = int(lines.readline())
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda number, frame: os.kill(pid, number))
code = os.waitstatus_to_exitcode(int(lines.readline()))
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


# ---------------------------------------------------------------------------------------- client

class LaunchedProcess:
    """The part of `subprocess.Popen` the tests use, for a process forked by the launcher."""

    def __init__(self, args: list[str], conn: socket.socket, pid: int, stdin: IO | None, stdout: IO | None,
                 stderr: IO | None):
        self.args, self._conn, self.pid = args, conn, pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._wait(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def _wait(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is None:
                ready, _, _ = select.select([self._conn], [], [], timeout)
                if not ready:
                    return None
                line = _read_line(self._conn)
                self._conn.close()
                # The launcher sends the raw wait status; an empty line means it went away.
                if not line:
                    raise RuntimeError(f"the test launcher exited before {self.args[:3]} (pid {self.pid}) ended")
                self.returncode = os.waitstatus_to_exitcode(int(line))
            return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: str | bytes | None = None, timeout: float | None = None) -> tuple[Any, Any]:
        results: dict[str, Any] = {}

        def drain(name: str, stream: IO) -> None:
            results[name] = stream.read()
            stream.close()

        readers = [threading.Thread(target=drain, args=(name, stream), daemon=True)
                   for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)) if stream]
        for reader in readers:
            reader.start()
        if self.stdin:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.wait(timeout)
        finally:
            for reader in readers:
                reader.join(None if self.returncode is not None else 0)
        return results.get("stdout"), results.get("stderr")

    def __enter__(self) -> LaunchedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream:
                stream.close()
        self.wait()


def popen(args: list[str], *, cwd: str | Path, env: dict[str, str], stdin: Any = None, stdout: Any = None,
          stderr: Any = None, text: bool = False, start_new_session: bool = False):
    """`subprocess.Popen(args, ...)` for `[.../assay, ...]` or `[python, -m, module, ...]`, forked
    from the launcher; a fresh interpreter (`subprocess.Popen`) when the launcher cannot stand
    for one (ASSAY_TEST_COLD, or an environment that changes how Python starts)."""
    args = [str(a) for a in args]
    if not _launchable(args, env):
        return subprocess.Popen(args, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text,
                                start_new_session=start_new_session)
    ours: list[IO | None] = [None, None, None]  # the test's ends of the pipes
    theirs: list[int] = []  # the child's standard streams, as descriptors to pass
    to_close: list[int] = []
    for i, spec in enumerate((stdin, stdout, stderr)):
        if spec == subprocess.PIPE:
            read_end, write_end = os.pipe()
            child_end, our_end = (read_end, write_end) if i == 0 else (write_end, read_end)
            ours[i] = os.fdopen(our_end, ("w" if i == 0 else "r") + ("" if text else "b"))
            theirs.append(child_end)
            to_close.append(child_end)
        elif spec == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR)
            theirs.append(fd)
            to_close.append(fd)
        elif spec == subprocess.STDOUT and i == 2:
            theirs.append(theirs[1])
        elif spec is None:
            theirs.append(i)
        else:
            theirs.append(spec if isinstance(spec, int) else spec.fileno())
    started = _launcher()
    # The command's dbt builds start from the launcher too (assay.assets.warehouse_project.dbt_executable).
    env = {DBT_EXECUTABLE_ENV: str(started.dbt), **env}
    request = json.dumps({"args": args, "cwd": str(cwd), "env": env, "new_session": start_new_session}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(started.socket_path)
        socket.send_fds(conn, [_HEADER.pack(len(request)) + request], theirs)
        line = _read_line(conn)
    finally:
        for fd in to_close:
            os.close(fd)
    if not line:
        raise RuntimeError(f"the test launcher did not start {args[:3]}: see {started.log}")
    return LaunchedProcess(args, conn, int(line), *ours)


def run(args: list[str], *, cwd: str | Path, env: dict[str, str], input: str | None = None,
        timeout: float | None = None, text: bool = True) -> subprocess.CompletedProcess:
    """`subprocess.run(args, capture_output=True, ...)` through `popen`."""
    process = popen(args, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=text)
    try:
        out, err = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def dbt_executable() -> str:
    """The dbt for a test's own Dagster runs (in the pytest worker; their resources read
    ASSAY_DBT_EXECUTABLE when built): forked from the launcher, as the launched commands' builds
    are, or the real one under ASSAY_TEST_COLD."""
    return str(DBT) if os.environ.get(COLD_ENV) else str(_launcher().dbt)


def _launchable(args: list[str], env: dict[str, str]) -> bool:
    if os.environ.get(COLD_ENV) or env.get(COLD_ENV):
        return False
    if _python_settings(env) != _python_settings(os.environ):
        return False
    return args[0] == str(ASSAY) or (args[0] == sys.executable and len(args) > 2 and args[1] == "-m")


IGNORED_PYTHON_SETTINGS = ("PYTHONDONTWRITEBYTECODE", "PYTHONLEGACYWINDOWSSTDIO")
"""Python settings that change nothing here: bytecode writing, and a Windows-only one that
dagster-dbt sets for every dbt it starts."""


def _python_settings(env) -> dict[str, str]:
    """The environment that changes how Python starts."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k not in IGNORED_PYTHON_SETTINGS}


SHARED_ENV = "ASSAY_TEST_LAUNCHER"
"""Under pytest-xdist: the folder of the launcher the controller started for all its workers
(tests/conftest.py), so the stack is imported once for the session, not once per worker
(about 13 s of CPU each)."""
READY_TIMEOUT_S = 300.0


class _Launcher:
    """A launcher this process started: `wait=False` leaves the wait for it to be ready to the
    processes that use it (the controller starts one for its workers and goes on)."""

    def __init__(self, *, wait: bool = True) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="assay-launcher-"))
        self.socket_path = str(self.folder / "socket")
        self.log = self.folder / "launcher.log"
        self.dbt = self.folder / "dbt"
        python_settings = _python_settings(os.environ)
        # Written before the launcher starts: a process that finds the folder finds them whole.
        self.dbt.write_text(SHIM.format(python=sys.executable, python_settings=python_settings,
                                        cold=COLD_ENV, dbt=str(DBT), socket_path=self.socket_path,
                                        ignored=IGNORED_PYTHON_SETTINGS))
        self.dbt.chmod(0o755)
        (self.folder / "python.json").write_text(json.dumps(python_settings))
        with self.log.open("w") as log, (self.folder / "ready").open("w") as ready:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.launcher", self.socket_path], cwd=REPO,
                env={k: v for k, v in os.environ.items() if k not in (COLD_ENV, SHARED_ENV)}, stdout=ready,
                stderr=log, start_new_session=True,
            )
        self.pid = self.process.pid
        (self.folder / "pid").write_text(str(self.pid))
        atexit.register(self.stop)
        self.ready = False
        if wait:
            self.wait_ready()

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        if not self.ready:
            self.ready = _wait_ready(self.folder, self.alive)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)  # its socket, shim and log


class _Shared:
    """The launcher another process started (SHARED_ENV): its socket and dbt shim, used as this
    process's own; it ends with the process that started it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket_path = str(folder / "socket")
        self.log = folder / "launcher.log"
        self.dbt = folder / "dbt"
        self.pid = int((folder / "pid").read_text())
        self.wait_ready()

    def wait_ready(self) -> None:
        _wait_ready(self.folder, self.alive)

    def alive(self) -> bool:
        try:  # not this process's child: a launcher that died stays a zombie until its parent reaps it
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")


def _wait_ready(folder: Path, alive) -> bool:
    """Until the launcher says `ready` (its imports done, its socket listening)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while "ready" not in (folder / "ready").read_text().split():
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test launcher did not start: {(folder / 'launcher.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return True


def start_shared() -> None:
    """Start a launcher for the processes this one starts next (the xdist workers): they find
    it through SHARED_ENV. Not waited for: the workers collect their tests meanwhile."""
    global _started
    if os.environ.get(COLD_ENV):
        return
    with _start_lock:
        _started = _Launcher(wait=False)
        os.environ[SHARED_ENV] = str(_started.folder)


_started: _Launcher | _Shared | None = None
_start_lock = threading.Lock()


def _launcher() -> _Launcher | _Shared:
    global _started
    with _start_lock:
        if _started is None and os.environ.get(SHARED_ENV):
            folder = Path(os.environ[SHARED_ENV])
            try:
                same_python = json.loads((folder / "python.json").read_text()) == _python_settings(os.environ)
                if same_python:
                    _started = _Shared(folder)
            except (OSError, ValueError, RuntimeError):
                pass  # gone, or died starting: this process starts its own
        if _started is None or not _started.alive():
            _started = _Launcher()
        if isinstance(_started, _Launcher):
            _started.wait_ready()  # started by start_shared in a run without workers
        return _started


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


# ---------------------------------------------------------------------------------------- server

class _Child(BaseException):
    """Raised in a forked child to leave the server's loop and run the command at the top."""

    def __init__(self, request: dict):
        self.request = request


DBT_VALIDATED = (
    "dbt.contracts.project.Configuration", "dbt.contracts.project.Project", "dbt.contracts.project.ProjectFlags",
    "dbt.contracts.project.PackageConfig", "dbt.contracts.project.ProfileConfig", "dbt.contracts.selection.SelectorFile",
    "dbt.adapters.duckdb.credentials.DuckDBCredentials", "dbt.contracts.graph.nodes.ModelNode",
    "dbt.contracts.graph.nodes.GenericTestNode", "dbt.contracts.graph.unparsed.UnparsedModelUpdate",
    "dbt.artifacts.resources.v1.model.ModelConfig", "dbt.artifacts.resources.v1.config.TestConfig",
)
"""The dbt classes whose JSON schema every `dbt build` of the project validates against (recorded
by wrapping dbt_common's build_json_schema around one). dbt builds each schema on first use in
a process and caches it (`functools.lru_cache`): about 0.8 s of CPU in every dbt process,
built once here instead and inherited by each fork."""


def _warm_dbt_schemas() -> None:
    for dotted in DBT_VALIDATED:
        module, name = dotted.rsplit(".", 1)
        try:
            getattr(importlib.import_module(module), name).json_schema()
        except (ImportError, AttributeError):  # another dbt version: that dbt builds it itself
            pass


SOURCE_READ_PACKAGES = ("dbt", "dbt_common", "click")
"""The packages whose source files every dbt process reads: dbt-adapters' behavior flags name
their source with `inspect.stack()` in each adapter's `__init__`, which maps every loaded module
to its file (`inspect.getmodule`, a realpath each) and reads the source file of every frame on
the stack (`linecache`), the frames of dbt's CLI and of click: about 0.15 s of CPU a dbt process
(a forked `dbt ls` of the project: 1.0 s without the caches below, 0.85 s with them)."""


def _warm_source_lookups() -> None:
    """What that `inspect.stack()` caches, filled here and inherited by each fork: inspect's
    file-to-module maps of the preloaded modules, and linecache's lines of the packages above."""
    inspect.getmodule(sys._getframe())  # a frame has no __module__: maps every loaded module
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] in SOURCE_READ_PACKAGES and getattr(module, "__file__", None):
            linecache.getlines(module.__file__)


def _warm_evaluators() -> None:
    """The evaluators, and the one table they measure at first use: the characters on which
    DuckDB's `lower` and Python's `casefold` differ (a scan of every code point through DuckDB,
    about 0.55 s of CPU in each process that scores texts case-insensitively)."""
    from assay.evaluators.vectorised import casefold_mismatch_class

    casefold_mismatch_class()


def serve(socket_path: str) -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    _warm_dbt_schemas()
    _warm_source_lookups()
    _warm_evaluators()
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    parent = os.getppid()
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection that reports its end
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    # One thread, so a fork never copies a lock another thread holds.
    while not stop.is_set() and os.getppid() == parent:
        ready, _, _ = select.select([listener], [], [], 0.05)
        if ready:
            conn, _ = listener.accept()
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError, struct.error):  # the caller died mid-request (a killed shim)
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in waiting.values():
                    other.close()
                streams, lifeline = fds[:3], fds[3] if len(fds) > 3 else None
                for target, fd in enumerate(streams):
                    os.dup2(fd, target)  # fd 0-2 of the child: its stdin, stdout and stderr
                for fd in set(streams) - {0, 1, 2}:
                    os.close(fd)
                conn.close()
                if lifeline is not None:
                    _end_with_caller(lifeline)
                raise _Child(request)
            for fd in set(fds):
                os.close(fd)
            waiting[pid] = conn
            _tell(conn, pid)
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = waiting.pop(pid, None)
            if conn:
                _tell(conn, status)
                conn.close()
    for pid in waiting:  # nobody is left to report to: end what is still running
        try:
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tell(conn: socket.socket, value: int) -> None:
    """Send a pid or a wait status; the caller may be gone (a dbt shim killed with its run's
    process group), which must not end the launcher."""
    try:
        conn.sendall(f"{value}\n".encode())
    except OSError:
        pass


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 4)
    (size,) = _HEADER.unpack(data[:_HEADER.size])
    data = data[_HEADER.size:]
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ValueError("the caller went away mid-request")
        data += chunk
    return json.loads(data), fds


def _end_with_caller(lifeline: int) -> None:
    """In a child started for the dbt shim: SIGKILL itself once the shim is gone (its end of the
    lifeline pipe closes), as a dbt in the run's process group would die with it."""

    def watch() -> None:
        while os.read(lifeline, 1):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="launcher-lifeline").start()


def _become(request: dict) -> None:
    """In the forked child: take the command's session, environment, folder and signals, then run
    its entry point as the interpreter would (`sys.argv`, `sys.path[0]`, `__main__`)."""
    # The preloaded objects were frozen (serve); if the command leaves through an uncaught
    # exception, the interpreter's own teardown frees them as in a fresh one (DuckDB's nanobind
    # reports the ones left over as leaks on stderr).
    atexit.register(gc.unfreeze)
    if request["new_session"]:
        os.setsid()
    for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # sys.stdin/stdout/stderr are the launcher's, kept: they wrap fds 0-2 (now the command's),
    # their buffers are empty (flushed before the fork) and PYTHON* settings are the same.
    args = request["args"]
    if args[0] == "dbt":  # the dbt console script
        sys.argv = [str(DBT), *args[1:]]
        sys.path[0] = str(BIN)
        from dbt.cli.main import cli

        sys.exit(cli())
    if args[0] == str(ASSAY):
        sys.argv = args
        sys.path[0] = str(BIN)
        from assay.orchestration.cli import main

        sys.exit(main())
    import runpy

    sys.argv = [args[2], *args[3:]]
    sys.path[0] = request["cwd"]
    runpy.run_module(args[2], run_name="__main__", alter_sys=True)
    sys.exit(0)


def _exit_without_teardown(code: object) -> None:
    """End a forked command as the interpreter would (its non-daemon threads joined, its atexit
    handlers run, its standard streams flushed, SystemExit's code as the status), minus the
    teardown of its modules and heap. That teardown frees every object the launcher preloaded,
    so it writes to every page the fork shares and copies them all: measured 2 s of CPU a
    process (a forked `dbt --version` 2.2 s with it, 0.14 s without; a forked one-day
    `assay run` of the demo config 31 s, 19-21 s), more than a fresh interpreter's imports
    cost. What the skipped teardown would still have done for the command itself is run the
    finalizers of its objects alive at exit; a file left open and unflushed would lose its
    buffer (the suite passes forked and with ASSAY_TEST_COLD=1 alike). An exception other than
    SystemExit takes the interpreter's own way out."""
    threading._shutdown()  # what Py_Finalize does first: wait for the non-daemon threads
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status & 0xFF)


if __name__ == "__main__":
    try:
        serve(sys.argv[1])
    except _Child as child:
        try:
            _become(child.request)  # ends in SystemExit, as the console scripts and runpy's modules do
        except SystemExit as exit:
            _exit_without_teardown(exit.code)
