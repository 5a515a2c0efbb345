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
