"""What `make demo-team` and the team-stack tests start is stopped whole: a Ctrl-C at the
terminal reaches the program that started the servers, not the servers (each in a session of
its own), and a stopped process group leaves nothing behind, even a member that ignores SIGTERM
(the daemon's code server did, after the daemon itself had ended)."""

from __future__ import annotations

import os
import sys
import time

from assay.lake import process_stat
from assay.testing import services
from assay.testing.object_store import ObjectStore
from assay.testing.services import ProcessGroup, RedisServer

LEADER = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"],
    stdout=open(sys.argv[1], "w"))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (ended, not yet reaped by its parent) has no state left to stop
    fields = process_stat(pid)
    return fields is not None and fields[0] != "Z"


def test_stopping_a_group_ends_a_member_that_ignores_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "GROUP_GRACE_S", 0.5, raising=False)
    ready = tmp_path / "child.out"
    group = ProcessGroup([sys.executable, "-c", LEADER, str(ready)], env=dict(os.environ), log=tmp_path / "leader.log")
    with group:
        deadline = time.monotonic() + 60
        while "ready" not in (ready.read_text() if ready.exists() else ""):
            assert time.monotonic() < deadline, group.tail()
            time.sleep(0.1)
        pgid = group.process.pid
        members = [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pgid]
        assert len(members) == 2  # the leader and its child
    assert not [pid for pid in members if _alive(pid)]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_the_servers_run_in_sessions_of_their_own(tmp_path):
    with RedisServer(tmp_path / "redis") as redis, ObjectStore() as store:
        pids = [redis.process.pid, store._process.pid]
        for pid in pids:
            assert os.getsid(pid) == pid != os.getsid(0)
    assert not [pid for pid in pids if _alive(pid)]  # and stopped with the `with` block
