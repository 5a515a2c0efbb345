"""dbt is run without asking pypi.org anything (dagster-dbt's `dbt --version` probe does)."""

import subprocess
from importlib.metadata import version

from orchestration.resources import OfflineDbtCliResource, dbt_executable


def test_dbt_version_is_read_locally_not_from_a_subprocess(monkeypatch, dbt_manifest):
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    import dagster_dbt.core.resource as resource_module

    monkeypatch.setattr(resource_module, "check_output", no_subprocess, raising=False)
    resource = OfflineDbtCliResource(project_dir=str(dbt_manifest.parent.parent), dbt_executable=dbt_executable())
    assert str(resource._cli_version) == version("dbt-core")


def test_dagster_dev_parses_the_project_without_asking_pypi(tmp_path, dbt_manifest):
    """Under `dagster dev` (`assay ui`) the project is re-parsed when the code loads, in the
    UI's code server and in each run's process: with the venv's dbt, even when the venv is not
    on PATH, never through `dbt --version`, which asks pypi.org for the latest dbt. (With the
    venv on PATH, as `make ui` runs it: tests/integration/test_webserver.py.)"""
    import os
    import sys

    from tests.network_audit import audit_events, audited_env, leaves_the_machine, spawned

    env = os.environ | audited_env(tmp_path) | {"DAGSTER_IS_DEV_CLI": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import assets.warehouse_project"],
        cwd=dbt_manifest.parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = audit_events(tmp_path)
    commands = spawned(events)
    assert any("parse" in args for args in commands), commands
    assert [args for args in commands if "--version" in args] == []
    assert [e for e in events if leaves_the_machine(e)] == []
