"""Resources as Dagster sees them: how dbt is run."""

from __future__ import annotations

import shutil
import sys
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster_dbt import DbtCliResource
from packaging.version import Version


def dbt_executable() -> str:
    """The dbt of this virtualenv, so dbt runs without the venv being activated."""
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


class OfflineDbtCliResource(DbtCliResource):
    """DbtCliResource without the phone-home.

    dagster-dbt learns the dbt version by running `dbt --version`, and `dbt --version` always
    asks pypi.org for the latest release (dbt/version.py: no flag turns it off) — seen with
    strace as a DNS lookup and an HTTPS connect on every dbt build. The dbt assay runs is the
    one installed beside this Python, so its version is read from the package metadata.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))
