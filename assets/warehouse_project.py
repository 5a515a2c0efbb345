"""The dbt project as Dagster sees it (kept apart from @dbt_assets, as dagster-dbt advises).

Outside `dagster dev` the manifest must be built first: `make` runs `dbt parse` in
dbt_project/ (not `dagster-dbt project prepare-and-package`, whose `dbt --version` probe asks
pypi.org for the latest release).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import Failure
from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DagsterDbtProjectPreparer, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


DBT_EXECUTABLE_ENV = "ASSAY_DBT_EXECUTABLE"


def dbt_executable() -> str:
    """The dbt of this virtualenv, so dbt runs without the venv being activated; or the one
    ASSAY_DBT_EXECUTABLE names (a dbt installed elsewhere, or the tests' launcher: it starts
    dbt from a process that imported it once, tests/support/launcher.py)."""
    configured = os.environ.get(DBT_EXECUTABLE_ENV)
    if configured:
        return configured
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


class OfflineDbtProjectPreparer(DagsterDbtProjectPreparer):
    """Re-parses the project when `dagster dev` (`assay ui`) loads the code, with `dbt parse`.

    dagster-dbt's own preparer parses through a DbtCliResource, which first runs
    `dbt --version`: that asks pypi.org for the latest dbt on every load of the code location
    (the UI's code server and each run's process), and fails when `dbt` is not on PATH
    (`.venv/bin/assay ui` without an activated venv). The project has no packages to install.
    """

    def prepare(self, project: DbtProject) -> None:
        run_with_concurrent_update_guard(project.manifest_path, _parse, project=project)


def _parse(project: DbtProject) -> None:
    result = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir),
         "--profiles-dir", str(project.profiles_dir), "--target-path", str(project.target_path)],
        cwd=project.project_dir, capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise Failure(f"`dbt parse` in {project.project_dir} failed: {(result.stdout + result.stderr).strip()[-2000:]}")


warehouse_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Not `warehouse_project.prepare_if_dev()`: that is dagster-dbt's preparer (DbtProject takes no
# other), with the pypi.org probe above.
OfflineDbtProjectPreparer().prepare_if_dev(warehouse_project)
