"""The daily SLO marts are incremental by day: a build given `days` rebuilds exactly those days
and leaves the others as they were; a build without days rebuilds everything. Real dbt on a
real DuckDB warehouse over a lake the test writes, given its values as the Dagster asset gives
them (`dbt_run_env`: environment variables), so that every build after the first re-parses only
what changed."""

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from assay.assets.slo_marts import SOURCE_TABLES, dbt_run_env

from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS
from assay.lake import Lake
from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _calls(day: str, n: int, latency_ms: float) -> list[dict]:
    ts = datetime.fromisoformat(f"{day}T12:00:00+00:00").astimezone(UTC)
    return [
        {
            "call_id": f"{day}-{i}", "ts": ts, "app": "acme", "feature": "rag_answer", "model": "m",
            "environment": "production", "messages": [], "status": "success", "latency_ms": latency_ms,
            "cost_usd": 0.001, "source_format": "assay_jsonl",
        }
        for i in range(n)
    ]


def _write_day(lake: Lake, day: str, n: int, latency_ms: float) -> None:
    lake.write_partition(
        "raw_calls", _calls(day, n, latency_ms), partition={"day": day}, schema=CALL_ARROW_SCHEMA,
        json_columns=CALL_JSON_COLUMNS,
    )


def _build(home: Path, tmp: Path, days: list[str] | None, *, upstream: bool = False) -> str:
    """dbt's output; the target folder (and so dbt's saved parse state) is the same each time."""
    done = subprocess.run(
        [launcher.dbt_executable(), "build", "--select", "+slo_daily" if upstream else "slo_daily",
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"),
         "--project-dir", ".", "--profiles-dir", "."],
        cwd=ROOT / "dbt_project",
        env=os.environ | {"ASSAY_HOME": str(home), "DO_NOT_TRACK": "1"}
        | dbt_run_env(baseline_id="", dataset_version="", days=days),
        check=True, capture_output=True, text=True,
    )
    return done.stdout


def _daily(home: Path) -> dict[str, tuple[int, float]]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select cast(day as varchar), calls, latency_p95_ms from slo_daily order by day").fetchall()
    return {day: (calls, p95) for day, calls, p95 in rows}


def test_a_build_with_days_rebuilds_only_those_days(tmp_path):
    home = tmp_path / "home"
    lake = Lake(home / "lake")
    for table, schema, keys in SOURCE_TABLES:
        lake.ensure_table(table, schema, keys)
    _write_day(lake, "2026-11-19", 10, 100.0)
    _write_day(lake, "2026-11-20", 20, 200.0)
    _build(home, tmp_path, days=None, upstream=True)  # first build: no table yet, so all days
    assert _daily(home) == {"2026-11-19": (10, 100.0), "2026-11-20": (20, 200.0)}

    # Both days change in the lake; the run says it refreshed only the 20th.
    _write_day(lake, "2026-11-19", 11, 111.0)
    _write_day(lake, "2026-11-20", 22, 222.0)
    said = _build(home, tmp_path, days=["2026-11-20"])
    assert _daily(home) == {"2026-11-19": (10, 100.0), "2026-11-20": (22, 222.0)}
    # The days changed, and dbt did not parse the whole project again for it.
    assert "Unable to do partial parsing" not in said and "Starting full parse" not in said, said

    # A day that now has no calls at all loses its old row (the pre-hook empties the days first).
    (lake.partition_dir("raw_calls", {"day": "2026-11-20"}) / "part.parquet").unlink()
    _build(home, tmp_path, days=["2026-11-20"])
    assert _daily(home) == {"2026-11-19": (10, 100.0)}

    # A malformed day is a dbt error naming it, never SQL, and nothing changes.
    with pytest.raises(subprocess.CalledProcessError) as info:
        _build(home, tmp_path, days=["2026-11-19'); drop table slo_daily; --"])
    assert "expected YYYY-MM-DD dates" in info.value.stdout
    assert _daily(home) == {"2026-11-19": (10, 100.0)}

    # No days: everything is rebuilt from the lake.
    _build(home, tmp_path, days=None)
    assert _daily(home) == {"2026-11-19": (11, 111.0)}


def test_the_sql_unit_tests_pass(tmp_path):
    """The models' SQL unit tests (`unit_tests:` in their yml: drift's z-test and flags, the
    rolling window's pooling, the call verdicts) run here, not in the nightly builds, which
    exclude them. dbt reads the column types of a unit test's inputs from the warehouse, so
    the models are built empty first."""
    home = tmp_path / "home"
    lake = Lake(home / "lake")
    for table, schema, keys in SOURCE_TABLES:
        lake.ensure_table(table, schema, keys)
    common = ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
              "--project-dir", ".", "--profiles-dir", "."]
    env = os.environ | {"ASSAY_HOME": str(home), "DO_NOT_TRACK": "1"}
    variables = json.dumps({"baseline_id": "", "dataset_version": ""})
    for args in (["run", "--empty", "--vars", variables], ["test", "--select", "test_type:unit", "--vars", variables]):
        done = subprocess.run([launcher.dbt_executable(), *args, *common], cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")]
    declared = json.loads((tmp_path / "target" / "manifest.json").read_text())["unit_tests"]
    assert len(unit_tests) == len(declared) >= 5 and all(r["status"] == "pass" for r in unit_tests), [
        (r["unique_id"], r["status"]) for r in results]
