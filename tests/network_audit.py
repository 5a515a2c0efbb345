"""A network log for the Python processes a test starts, from Python's audit hooks.

`audited_env(folder)` returns the environment that makes every Python process started with it
(and their children: `dagster dev`'s webserver, daemon and code server, dbt) log each socket it
binds, connects or resolves a name for, and each subprocess it starts, to `folder`. Traffic made
in C below Python (gRPC between Dagster's processes) is not seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SITECUSTOMIZE = """
import json, os, sys

_LOG = os.environ["ASSAY_TEST_AUDIT_LOG"]
_EVENTS = {"socket.bind", "socket.connect", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname",
           "socket.gethostbyaddr", "subprocess.Popen"}

def _audit(event, args):
    if event in _EVENTS:
        try:
            target = args[0] if event.startswith("socket.get") else args[1]
            with open(_LOG, "a") as log:
                log.write(json.dumps({"pid": os.getpid(), "event": event, "target": target}, default=repr) + "\\n")
        except Exception:
            pass

sys.addaudithook(_audit)
"""
LOOPBACK_NAMES = {None, "", "localhost", "127.0.0.1", "::1"}


def audited_env(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {
        "ASSAY_TEST_AUDIT_LOG": str(folder / "audit.jsonl"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
    }


def audit_events(folder: Path) -> list[dict]:
    log = folder / "audit.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def spawned(events: list[dict]) -> list[list[str]]:
    """The argument lists of the subprocesses started."""
    return [[str(a) for a in e["target"]] for e in events if e["event"] == "subprocess.Popen" and isinstance(e["target"], list)]


def leaves_the_machine(event: dict) -> bool:
    """A connection to, datagram to or name lookup of anything but this machine's loopback."""
    if event["event"] in {"socket.bind", "subprocess.Popen"}:
        return False  # listening is not reaching out (where it listens is checked on its own)
    target = event["target"]
    host = target[0] if isinstance(target, list) and target else target
    if event["event"] in {"socket.connect", "socket.sendto"} and str(host).startswith(("/", "b'\\x00")):
        return False  # a Unix socket: a path, or an abstract name (bytes)
    return not (host in LOOPBACK_NAMES or str(host).startswith("127."))
