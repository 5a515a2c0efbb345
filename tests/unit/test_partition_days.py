"""The daily partitions: from `project.start_day` (else the earliest landed day) to today, so
records dated today ingest and the UI is not years of empty days; the nightly schedule still
runs yesterday."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]


def test_todays_partition_exists():
    from assay.assets.partitions import daily_partitions

    assert daily_partitions.get_last_partition_key() == datetime.now(UTC).date().isoformat()


def test_the_nightly_schedule_runs_yesterday_not_today():
    from assay.orchestration.schedules import nightly_day, nightly_schedule

    tick = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert nightly_day(tick) == "2026-12-05"
    request = nightly_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-12-05"


def _partitions_in_a_fresh_process(home: Path, config: Path) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env |= {"ASSAY_HOME": str(home), "ASSAY_CONFIG": str(config)}
    out = subprocess.run(
        [sys.executable, "-c", "import assay.assets.partitions as p; "
         "keys = p.daily_partitions.get_partition_keys(); print(keys[0], keys[-1], len(keys))"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    return out[0], out[1]


def test_the_first_day_is_the_earliest_landed_day_or_the_configured_start(tmp_path):
    today = datetime.now(UTC).date().isoformat()
    config = tmp_path / "assay.yaml"
    config.write_text("project: {app: shop}\n")
    (tmp_path / "home" / "landing" / "otel" / "2025-06-11").mkdir(parents=True)
    (tmp_path / "home" / "landing" / "manual" / "2025-09-30").mkdir(parents=True)
    assert _partitions_in_a_fresh_process(tmp_path / "home", config) == ("2025-06-11", today)
    config.write_text("project: {app: shop, start_day: 2025-09-01}\n")
    assert _partitions_in_a_fresh_process(tmp_path / "home", config) == ("2025-09-01", today)
