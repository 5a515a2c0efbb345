"""`assay daemon` and `assay webserver`, the two commands docs/deploy.md runs under systemd:
started as a service manager starts them (their own session, a user's config and home), each
does its job on ASSAY_HOME's instance, and stops on SIGTERM."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from assay.testing.services import ProcessGroup, free_port
from tests.support.cli import ASSAY, user_env

pytestmark = pytest.mark.integration

DEADLINE_S = 180
"""Fails a test whose service never gets there (never a timing assertion)."""


def test_the_daemon_and_the_webserver_run_as_services_on_the_homes_instance(tmp_path: Path):
    config = tmp_path / "assay.yaml"
    config.write_text("project:\n  app: my-app\nevaluators:\n  - {name: ok, type: provider_status}\n")
    home = tmp_path / "home"
    env = user_env(home, config)
    port = free_port()
    with (ProcessGroup([str(ASSAY), "daemon"], env=env, log=tmp_path / "daemon.log", cwd=tmp_path) as daemon,
          ProcessGroup([str(ASSAY), "webserver", "--port", str(port)], env=env, log=tmp_path / "web.log",
                       cwd=tmp_path) as web):
        from dagster import DagsterInstance

        deadline = time.monotonic() + DEADLINE_S
        while not (home / "dagster" / "dagster.yaml").exists():  # written by the command
            assert daemon.is_running and web.is_running, daemon.tail() + web.tail()
            assert time.monotonic() < deadline, f"no instance written: {daemon.tail()}"
            time.sleep(0.5)
        with DagsterInstance.from_config(str(home / "dagster")) as instance:
            while True:
                beating = {h.daemon_type for h in instance.get_daemon_heartbeats().values()}
                if {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= beating:
                    break
                assert daemon.is_running, daemon.tail()
                assert time.monotonic() < deadline, f"no daemon heartbeat: {daemon.tail()}"
                time.sleep(1)
            # The pool limits were written before the daemon started (not Dagster's default of 1).
            assert instance.event_log_storage.get_concurrency_info("llm").slot_count == 2
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    info = json.loads(response.read())
                break
            except OSError:
                assert web.is_running, web.tail()
                assert time.monotonic() < deadline, f"webserver not answering: {web.tail()}"
                time.sleep(1)
        assert "dagster_webserver_version" in info
        daemon.stop()
        web.stop()
    assert daemon.process is None and web.process is None
