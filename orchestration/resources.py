"""Resources as Dagster sees them: how dbt is run."""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging.version import Version

from assets.warehouse_project import dbt_executable

__all__ = ["OfflineDbtCliResource", "dbt_executable"]


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
