"""A temporary ASSAY_HOME with generated demo days, for the tests that run the loop."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from assay.demo.generator import generate
from assay.runtime import AssayHome, ensure_home
from tests.support import launcher


@contextmanager
def generated_home(
    root: Path, *, config: Path, days: int, calls_per_day: int, end_day: date, seed: int, env: dict[str, str] | None = None,
    agents: bool = True,
) -> Iterator[tuple[AssayHome, list[str]]]:
    """(home, the generated days oldest first), with ASSAY_HOME, DAGSTER_HOME, ASSAY_CONFIG,
    ASSAY_DBT_EXECUTABLE (dbt forked from the test launcher) and `env` set while the block runs.
    `agents`: the demo's agent runs and chat sessions too (about 40 calls a day whatever
    `calls_per_day` is)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "ASSAY_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "ASSAY_CONFIG": str(config),
            launcher.DBT_EXECUTABLE_ENV: launcher.dbt_executable(), **(env or {})
        }.items():
            mp.setenv(key, value)
        home = ensure_home()
        generate(home.root, days=days, calls_per_day=calls_per_day, end_day=end_day, seed=seed, agents=agents)
        yield home, [(end_day - timedelta(days=i)).isoformat() for i in reversed(range(days))]
