"""Shared test setup: the dbt manifest Dagster needs, and the offline no-telemetry defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import assay  # noqa: F401  (privacy defaults before anything imports litellm or dbt)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """`make test` builds the manifest first; this covers a bare `pytest` run (missing, or
    older than a dbt model, test or project file)."""
    # Not target/ nor logs/: `dbt parse` appends to logs/dbt.log after writing the manifest.
    sources = [p for p in (ROOT / "dbt_project").rglob("*") if p.is_file() and not {"target", "logs"} & set(p.parts)]
    if not MANIFEST.exists() or max(p.stat().st_mtime for p in sources) > MANIFEST.stat().st_mtime:
        bin_dir = Path(sys.executable).parent
        env = os.environ | {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        subprocess.run(
            [str(bin_dir / "dbt"), "parse", "--quiet", "--project-dir", ".", "--profiles-dir", "."],
            cwd=ROOT / "dbt_project",
            env=env,
            check=True,
            capture_output=True,
        )
    return MANIFEST
