"""The test launcher (tests/support/launcher.py) stands for a fresh interpreter: a process of its
own with the command's environment, folder, streams, session and exit status."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import launcher

pytestmark = pytest.mark.slow  # the launcher imports Dagster, dbt, GE and litellm once (~10 s)

REPO = Path(__file__).resolve().parents[2]
CHILD_MODULE = """
import json, os, sys, time
code, *rest = sys.argv[1:]
print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(), "probe": os.environ.get("ASSAY_PROBE"),
                  "argv": sys.argv[1:], "stdin": "" if "sleep" in rest else sys.stdin.read()}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
if "sleep" in rest:
    time.sleep(600)
sys.exit(int(code))
"""
CHILD = [sys.executable, "-m", "launched_child"]
"""Run in the test's folder, where `-m` finds it (the folder is sys.path[0], as for any `python -m`)."""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "launched_child.py").write_text(CHILD_MODULE)
    return tmp_path


def test_a_launched_command_gets_its_env_folder_streams_and_exit_status(folder):
    env = os.environ | {"ASSAY_PROBE": "probe-1"}
    done = launcher.run([*CHILD, "3", "a b"], cwd=folder, env=env, input="typed\n", timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 3 and done.stderr == "to stderr\n"
    assert report["pid"] != os.getpid() and report["cwd"] == str(folder)
    assert report["probe"] == "probe-1" and report["argv"] == ["3", "a b"] and report["stdin"] == "typed\n"


ENDING_MODULE = """
import atexit, sys, threading, time
def late(): open(sys.argv[1], "w").write("atexit ran")
atexit.register(late)
def worker(): time.sleep(0.3); open(sys.argv[1] + ".thread", "w").write("joined")
threading.Thread(target=worker).start()  # not a daemon: the interpreter waits for it
sys.stdout.write("buffered, no newline")
how = sys.argv[2]
if how == "message":
    sys.exit("stopped: a message")
if how == "return":
    pass
else:
    sys.exit(int(how))
"""


@pytest.mark.parametrize(("how", "status", "stderr"), [("return", 0, ""), ("4", 4, ""), ("message", 1, "stopped: a message\n")])
def test_it_ends_as_the_interpreter_ends_without_its_teardown(tmp_path, how, status, stderr):
    """A forked command leaves through os._exit (no teardown of the launcher's heap): its
    non-daemon threads are still joined, its atexit handlers run, its buffered output is
    flushed and its status is SystemExit's, as in a fresh interpreter."""
    (tmp_path / "ending_child.py").write_text(ENDING_MODULE)
    mark = tmp_path / "mark"
    done = launcher.run([sys.executable, "-m", "ending_child", str(mark), how], cwd=tmp_path, env=dict(os.environ),
                        timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (status, "buffered, no newline", stderr)
    assert mark.read_text() == "atexit ran" and Path(f"{mark}.thread").read_text() == "joined"


WARM_MODULE = """
import inspect, json, linecache, sys
import click
from assay.evaluators.vectorised import casefold_mismatch_class
print(json.dumps({"casefold": casefold_mismatch_class.cache_info().currsize,
                  "modules": len(inspect._filesbymodname), "click_lines": click.core.__file__ in linecache.cache}))
"""


def test_a_forked_command_inherits_what_the_launcher_measured_and_read(tmp_path):
    """The caches the launcher fills before forking (the casefold table, inspect's module map,
    the dbt and click sources for dbt's behavior flags) come to each command already filled."""
    (tmp_path / "warm_child.py").write_text(WARM_MODULE)
    done = launcher.run([sys.executable, "-m", "warm_child"], cwd=tmp_path, env=dict(os.environ), timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["casefold"] == 1 and seen["click_lines"] is True
    assert seen["modules"] > 1000  # dagster, dbt, GE and litellm's modules, mapped to their files


def test_a_signal_ends_it_as_it_ends_a_subprocess_and_a_new_session_is_its_own_group(folder):
    process = launcher.popen([*CHILD, "0", "sleep"], cwd=folder, env=dict(os.environ), stdout=subprocess.PIPE,
                             start_new_session=True)
    assert isinstance(process, launcher.LaunchedProcess)
    report = json.loads(process.stdout.readline())
    assert report["pid"] == process.pid == report["sid"]  # setsid(): os.killpg(pid) takes its children
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    process.stdout.close()


def test_an_environment_that_changes_how_python_starts_gets_a_fresh_interpreter(folder):
    process = launcher.popen([*CHILD, "0"], cwd=folder, env=os.environ | {"PYTHONPATH": str(folder)},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    assert isinstance(process, subprocess.Popen) and process.wait(timeout=60) == 0
    cold = launcher.popen([*CHILD, "0"], cwd=folder, env=os.environ | {launcher.COLD_ENV: "1"},
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    assert isinstance(cold, subprocess.Popen) and cold.wait(timeout=60) == 0


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_a_forked_dbt_ends_when_its_shim_is_killed(tmp_path):
    """The crash matrix kills a run's process group. The run's dbt, forked by the launcher, is not
    in that group: it must end with the shim that stood for it (its lifeline closes)."""
    import duckdb

    started = launcher._launcher()
    home = tmp_path / "home"
    home.mkdir()
    before = _children(started.pid)
    # dbt cannot open the warehouse this process holds for writing: it waits and retries (1, 2, 4, 8 s).
    with duckdb.connect(str(home / "warehouse.duckdb")):
        shim = subprocess.Popen(
            [str(started.dbt), "show", "--inline", "select 1", "--project-dir", ".", "--profiles-dir", ".",
             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
            cwd=REPO / "dbt_project", env=os.environ | {"ASSAY_HOME": str(home)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (forked := _children(started.pid) - before):
            assert time.monotonic() < deadline and shim.poll() is None, "dbt was not forked"
            time.sleep(0.1)
        time.sleep(2)  # dbt is past its start, waiting for the warehouse
        assert forked <= _children(started.pid), "dbt ended before the kill: nothing tested"
        shim.kill()
        assert shim.wait(30) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while forked & _children(started.pid):
            assert time.monotonic() < deadline, "the forked dbt outlived its shim"
            time.sleep(0.1)
