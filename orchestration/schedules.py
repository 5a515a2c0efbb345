"""The nightly schedule: yesterday's partition of the daily chain, every night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from assay.orchestration.jobs import daily_job


# 02:00 UTC leaves time for late log shipping; the run covers the last complete day. Not
# `build_schedule_from_partitioned_job`: the daily partitions include today (records dated
# today ingest), and that builder targets the last partition, which would be today's.
@dg.schedule(
    job=daily_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    name="nightly_schedule",
    # A nightly evaluation that does not run is no use.
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_schedule(context) -> dg.RunRequest:
    return dg.RunRequest(partition_key=nightly_day(context.scheduled_execution_time))


def nightly_day(scheduled: datetime | None) -> str:
    """The day a tick at `scheduled` runs: the UTC day before it."""
    when = scheduled.astimezone(UTC) if scheduled else datetime.now(UTC)
    return (when.date() - timedelta(days=1)).isoformat()
