"""The nightly schedule: yesterday's partition of the daily chain, every night."""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import daily_job

# 02:00 UTC leaves time for late log shipping; the run covers the last complete day.
nightly_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=2,
    minute_of_hour=0,
    name="nightly_schedule",
    # Built schedules default to STOPPED; a nightly evaluation that does not run is no use.
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
