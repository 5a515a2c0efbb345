"""Postgres and Redis on 127.0.0.1 for team-stack tests, benchmarks and `make demo-team`.

Each service is a real server from Debian's packages (postgresql 15, redis-server 7), started
on a free loopback port with its data in a folder the caller names (a temp folder in tests;
under ASSAY_HOME for the demo, so a second run finds the first run's data), and stopped on
`stop()`, on leaving the `with` block, or at interpreter exit, whichever comes first. Each
server runs in a session of its own: a Ctrl-C at the terminal reaches the program that started
it (which stops what depends on the server first), not the server itself.

Postgres refuses to run as root. As root, its data folder is handed to the `postgres` user
(Debian's package creates it) and the server runs as that user; as anyone else it runs as the
caller. It listens on 127.0.0.1 only, with its Unix socket inside the data folder (never in
/var/run/postgresql), and trusts local connections: a throwaway server for one machine, not
a production setup (docs/deploy.md says what a team runs instead).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from assay.lake import process_stat

PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin")]
PG_SERVICE_USER = "postgres"
START_TIMEOUT_S = 30.0


class ServiceError(RuntimeError):
    """A service could not start: the message names the program and what it said."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{name} exited with status {process.returncode} at start: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Service:
    name = "service"

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # both servers shut down cleanly on SIGTERM
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _started(self) -> None:
        atexit.register(self.stop)


def pg_bin(program: str) -> str:
    """Debian keeps the server programs out of PATH (in /usr/lib/postgresql/<v>/bin)."""
    for folder in PG_BIN_DIRS:
        if (folder / program).exists():
            return str(folder / program)
    found = shutil.which(program)
    if found is None:
        raise ServiceError(f"{program} not found: install Debian's postgresql (apt-get install postgresql)")
    return found


class PostgresServer(_Service):
    """`with PostgresServer(tmp / "pg") as pg: pg.url` -> postgresql+psycopg2://...@127.0.0.1:PORT/assay"""

    name = "postgres"

    def __init__(self, data_dir: Path, *, database: str = "assay", port: int | None = None, keep: bool = False):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.keep = keep
        """Keep the data at stop (the demo's second run reuses it). Otherwise a data folder
        outside `data_dir` (see `_reachable_data_dir`) is removed at stop."""
        self._outside: Path | None = None
        self.database = database
        self.requested_port = port
        self._user = _service_user()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self._user.pw_name}@127.0.0.1:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The variables assay reads the connection from (`storage.instance: postgres`)."""
        return {"ASSAY_PG_URL": self.url}

    @property
    def _as_user(self) -> dict:
        """subprocess arguments that run a program as the service user (when that is not us):
        the program itself, not a `runuser` wrapper, so a signal reaches the server."""
        if os.geteuid() == 0 and self._user.pw_uid != 0:
            return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": [],
                    "env": {**os.environ, "HOME": self._user.pw_dir, "USER": self._user.pw_name}}
        return {}

    def start(self) -> PostgresServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and not (self.data_dir / "WHERE").exists():
            # Before the probe below: a folder the service user can reach (`make demo-team`'s
            # under ASSAY_HOME) becomes its own, and the data stays where it was asked to be.
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        # Beside the folder asked for, wherever the data lives: the server writes to the file
        # this process opens for it, so the service user needs no access to it.
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.data_dir = self._reachable_data_dir()
        if os.geteuid() == 0:
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self.data_dir.chmod(0o700)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            result = subprocess.run(
                [pg_bin("initdb"), "-D", str(self.data_dir), "-U", self._user.pw_name,
                 "--auth=trust", "--encoding=UTF8", "--no-instructions"],
                capture_output=True, text=True, cwd="/", **self._as_user,
            )
            if result.returncode != 0:
                raise ServiceError(f"initdb failed: {(result.stderr or result.stdout).strip()[-500:]}")
        self.port = self.requested_port or free_port()
        self.process = subprocess.Popen(
            [
                pg_bin("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir}",
                # A test server: crash safety is not what it is for, and each Dagster event
                # is a commit (fsync off cut a run's event writes several-fold on disk).
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200",
            ],
            stdout=log.open("a"), stderr=subprocess.STDOUT, cwd="/", start_new_session=True, **self._as_user,
        )
        self._started()
        _wait_for_port(self.port, self.process, "postgres", log)
        self._create_database(log)
        return self

    def _reachable_data_dir(self) -> Path:
        """The service user must reach its data folder. pytest's temp folders (and many homes)
        are private to root: then the data lives in a folder of its own under the system temp
        folder, named after the one asked for, so the same caller finds it again."""
        if not self._as_user:
            return self.data_dir
        probe = subprocess.run(["test", "-w", str(self.data_dir)], capture_output=True, **self._as_user)
        if probe.returncode == 0:
            return self.data_dir
        import hashlib
        import tempfile

        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"assay-pg-{digest}"
        folder.mkdir(mode=0o700, exist_ok=True)
        (self.data_dir / "WHERE").write_text(f"postgres data for this folder: {folder}\n")
        self._outside = folder
        return folder

    def _create_database(self, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the port opens a moment before the server accepts connections
            result = subprocess.run(
                [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self._user.pw_name,
                 "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
                capture_output=True, text=True, cwd="/", **self._as_user,
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise ServiceError(f"postgres did not accept connections: {result.stderr.strip()} {_tail(log)}")
            time.sleep(0.2)
        if result.stdout.strip() != "1":
            subprocess.run(
                [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self._user.pw_name, self.database],
                check=True, capture_output=True, cwd="/", **self._as_user,
            )

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients, then stops
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                pass  # the base class kills it
        super().stop()
        if self._outside is not None and not self.keep:
            shutil.rmtree(self._outside, ignore_errors=True)
            self._outside = None


def _service_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(PG_SERVICE_USER)
    except KeyError:
        raise ServiceError(
            "postgres refuses to run as root and there is no `postgres` user: install Debian's postgresql"
        ) from None


class RedisServer(_Service):
    """`with RedisServer(tmp / "redis") as redis: redis.url` -> redis://127.0.0.1:PORT/0"""

    name = "redis"

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = False):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.requested_port = port
        self.persist = persist
        """Keep an append-only file in `data_dir` (the demo's second run finds the first's
        data); tests keep everything in memory."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def env(self) -> dict[str, str]:
        """The variable the Celery broker and the shared provider limiter read."""
        return {"ASSAY_REDIS_URL": self.url}

    def start(self) -> RedisServer:
        program = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(program).exists():
            raise ServiceError("redis-server not found: run `make setup` (as root it installs Debian's redis-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.requested_port or free_port()
        log = self.data_dir / "redis.log"
        persistence = ["--appendonly", "yes", "--save", ""] if self.persist else ["--appendonly", "no", "--save", ""]
        self.process = subprocess.Popen(
            [program, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
             "--protected-mode", "yes", "--daemonize", "no", "--logfile", str(log), *persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._started()
        _wait_for_port(self.port, self.process, "redis-server", log)
        return self


GROUP_GRACE_S = 10.0
"""How long what a stopped group's leader started has to end on SIGTERM before SIGKILL."""


def _signal_group(pgid: int, signum: int) -> None:
    """Signal every process left in a group (none left: nothing to do)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _live_members(pgid: int) -> list[int]:
    """The processes of a group still running; a zombie (ended, its parent not having reaped it
    yet: an orphan's new parent may take its time) is not."""
    live = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = process_stat(int(entry.name))
        if fields is None:
            continue  # ended meanwhile
        state, _ppid, group = fields[:3]
        if int(group) == pgid and state != "Z":
            live.append(int(entry.name))
    return live


def _ended(pgid: int, within_s: float) -> bool:
    """Wait up to `within_s` for every process of the group to end; whether they all did."""
    deadline = time.monotonic() + within_s
    while _live_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class ProcessGroup:
    """A command started in a session of its own, so stopping it stops what it started (the
    daemon's code server and run workers, Celery's pool processes) and nothing else; its output
    goes to `log`. `with ProcessGroup(argv, env=..., log=...) as p:`."""

    def __init__(self, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None):
        self.argv, self.env, self.log, self.cwd = argv, env, Path(log), cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> ProcessGroup:
        self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)
        return self

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the whole group; what is left of it once the leader has ended (or after
        20 s) gets GROUP_GRACE_S more, then SIGKILL. Seen here: the daemon's code server, still
        running minutes after the daemon ended on SIGTERM. Returns once none of it runs."""
        process, self.process = self.process, None
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
        if not _ended(process.pid, GROUP_GRACE_S):
            _signal_group(process.pid, signal.SIGKILL)
            _ended(process.pid, 5.0)
        process.wait(5)

    def __enter__(self) -> ProcessGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
