"""Shared test setup: the dbt manifest Dagster needs, and the offline no-telemetry defaults."""

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import assay  # noqa: F401  (privacy defaults before anything imports litellm or dbt)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"
TEST_START_DAY = "2020-01-01"


def _load_partitions_from_a_fixed_start() -> None:
    """Dagster's daily partitions are defined once per process, when `assay.assets.partitions` is
    imported, from `project.start_day` or else the earliest landed day (see
    assay.landing.first_partition_day). Tests run many homes and configs in one process and
    date their records 2025-2026: the test process's partitions start at TEST_START_DAY,
    whatever ./assay.yaml and ./.assay hold. (CLI tests in a subprocess load their own.)"""
    previous = os.environ.get("ASSAY_CONFIG")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "assay.yaml"
        config.write_text(f"project: {{start_day: {TEST_START_DAY}}}\n")
        os.environ["ASSAY_CONFIG"] = str(config)
        try:
            import assay.assets.partitions  # noqa: F401
        finally:
            if previous is None:
                os.environ.pop("ASSAY_CONFIG", None)
            else:
                os.environ["ASSAY_CONFIG"] = previous


_load_partitions_from_a_fixed_start()

# The sim models sleep their profile's latency (50-200 ms a call) to look like a provider; the
# tests that are about latency set their own scale (test_http_gate). Everywhere else it is only
# waiting: this test process, and the `assay` subprocesses that inherit its environment, answer
# at once (`assay.sim.provider.LATENCY_SCALE_ENV`). A subprocess run "as a user" through
# tests.support.cli.user_env drops ASSAY_* variables and so keeps the real latencies.
os.environ.setdefault("ASSAY_SIM_LATENCY_SCALE", "0")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist: one test launcher for all the workers (tests/support/launcher.py),
    started here in the controller before the workers are; they find it in their environment."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from tests.support import launcher

        launcher.start_shared()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """`make test` builds the manifest first; this covers a bare `pytest` run (missing, or
    older than a dbt model, test or project file). Under pytest-xdist every worker gets here:
    a lock lets one parse while the others wait, then find the manifest fresh."""
    with _manifest_lock():
        _parse_when_stale()
    return MANIFEST


@contextmanager
def _manifest_lock() -> Iterator[None]:
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"assay-dbt-manifest-{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parse_when_stale() -> None:
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


# The test files that take longest (each a whole user story or a fault matrix over `assay run`
# subprocesses), longest first, as measured by `pytest --durations` on two cores. Under
# `make test` (pytest-xdist, `--dist loadfile --no-loadscope-reorder`) each file runs on one
# worker and files go out in collection order: starting the longest ones first keeps one of
# them from starting last and running alone at the end. Files not listed keep their order after
# these. A wrong or stale entry costs only time.
LONGEST_FILES_FIRST = [
    "tests/integration/test_team_loop.py",
    "tests/integration/test_crash_recovery.py",
    "tests/integration/test_new_user.py",
    "tests/integration/test_new_user_golden_set.py",
    "tests/integration/test_loop.py",
    "tests/integration/test_object_lake_run.py",
    "tests/integration/test_run_estimate.py",
    "tests/integration/test_batch_replay.py",
    "tests/integration/test_broken_providers.py",
    "tests/integration/test_webserver.py",
    "tests/integration/test_drift.py",
    "tests/integration/test_new_user_monitoring.py",
    "tests/integration/test_shadow_backfill.py",
    "tests/integration/test_team_stack.py",
    "tests/unit/test_judge_align_builtin.py",
    "tests/unit/test_judge_align.py",
    "tests/unit/test_judge_engine_http.py",
    "tests/unit/test_shared_provider_limits.py",
    "tests/unit/test_instrument.py",
    "tests/integration/test_judge_batch_object_lake.py",
    "tests/integration/test_judge_batch.py",
    "tests/integration/test_incremental_marts.py",
    "tests/integration/test_shared_trace_exports.py",
    "tests/integration/test_ingest_user_files.py",
    "tests/integration/test_hostile_user.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FILES_FIRST)}

    def file_rank(item: pytest.Item) -> int:
        # relpath, not relative_to: a checkout reached through a symlink, or a test file
        # outside it, is then only unranked, never a collection error.
        path = Path(os.path.relpath(Path(item.path).resolve(), ROOT)).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=file_rank)  # stable: each file's tests, and the unlisted files, keep their order
