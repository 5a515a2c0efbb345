"""dbt is run without asking pypi.org anything (dagster-dbt's `dbt --version` probe does)."""

import subprocess
from importlib.metadata import version

import pytest
from assay.assets.dbt_cli_resource import OfflineDbtCliResource, dbt_executable


def test_dbt_version_is_read_locally_not_from_a_subprocess(monkeypatch, dbt_manifest):
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    import dagster_dbt.core.resource as resource_module

    monkeypatch.setattr(resource_module, "check_output", no_subprocess, raising=False)
    resource = OfflineDbtCliResource(project_dir=str(dbt_manifest.parent.parent), dbt_executable=dbt_executable())
    assert str(resource._cli_version) == version("dbt-core")


@pytest.mark.slow  # whole Python processes that load assay, Dagster or dbt: `make test` only
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
        [sys.executable, "-c", "import assay.assets.warehouse_project"],
        cwd=dbt_manifest.parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = audit_events(tmp_path)
    commands = spawned(events)
    assert any("parse" in args for args in commands), commands
    assert [args for args in commands if "--version" in args] == []
    assert [e for e in events if leaves_the_machine(e)] == []


@pytest.mark.integration
def test_dbt_writes_its_target_files_and_logs_under_assay_home_not_the_checkout(tmp_path, monkeypatch, dbt_manifest):
    """Issue 23, item 4: two homes never share dbt's files, and a read-only checkout works."""
    project_dir = dbt_manifest.parent.parent
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    before = {p: p.stat().st_mtime_ns for p in project_dir.rglob("*")}
    resource = OfflineDbtCliResource(
        project_dir=str(project_dir), dbt_executable=dbt_executable(), artifacts_dir=str(tmp_path / "dbt")
    )
    resource.cli(["parse"], raise_on_error=True).wait()
    (folder,) = (tmp_path / "dbt").iterdir()  # the invocation's own folder
    assert (folder / "manifest.json").is_file() and (folder / "dbt.log").is_file()
    # The home's first build started from the project's own parse state: the profile names no
    # home, so the state matches (only the files reading the home's lake are parsed again).
    said = (folder / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in said and "Starting full parse" not in said, said[-3000:]
    after = {p: p.stat().st_mtime_ns for p in project_dir.rglob("*")}
    assert after == before  # nothing written, created or touched in the checkout


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    import os

    from assay.assets.dbt_cli_resource import KEPT_DBT_INVOCATIONS, invocation_dir

    for i in range(KEPT_DBT_INVOCATIONS + 5):
        folder = tmp_path / f"slo_marts-{i:04d}"
        folder.mkdir()
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    fresh = invocation_dir(tmp_path)
    fresh.mkdir()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == KEPT_DBT_INVOCATIONS and fresh.name in kept
    assert "slo_marts-0005" not in kept and f"slo_marts-{KEPT_DBT_INVOCATIONS + 4:04d}" in kept


def test_a_build_starts_from_the_newest_parse_state_of_the_home(tmp_path):
    import os

    from assay.assets.dbt_cli_resource import PARTIAL_PARSE_FILE, seed_partial_parse

    fresh = tmp_path / "slo_marts-new"
    seed_partial_parse(tmp_path, fresh)  # the home's first build: nothing to start from
    assert not fresh.exists()
    project_state = tmp_path.parent / f"{tmp_path.name}-project.msgpack"
    project_state.write_bytes(b"project")
    seed_partial_parse(tmp_path, fresh, project_state)  # ... but the project's own parse
    assert (fresh / PARTIAL_PARSE_FILE).read_bytes() == b"project"
    for i, name in enumerate(["slo_marts-a", "slo_marts-b", "slo_marts-c"]):
        (tmp_path / name).mkdir()
        if name != "slo_marts-c":  # a build killed before dbt wrote its state
            (tmp_path / name / PARTIAL_PARSE_FILE).write_bytes(name.encode())
            os.utime(tmp_path / name / PARTIAL_PARSE_FILE, (1_000_000 + i, 1_000_000 + i))
    seed_partial_parse(tmp_path, fresh, project_state)  # the home's own state comes first
    assert (fresh / PARTIAL_PARSE_FILE).read_bytes() == b"slo_marts-b"
