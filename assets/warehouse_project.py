"""The dbt project as Dagster sees it (kept apart from @dbt_assets, as dagster-dbt advises).

Outside `dagster dev` the manifest must be built first: `make` runs `dbt parse` in
dbt_project/ (not `dagster-dbt project prepare-and-package`, whose `dbt --version` probe asks
pypi.org for the latest release).
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

warehouse_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
warehouse_project.prepare_if_dev()
