"""Partition definitions, imported by every asset and job that uses them."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from assay.landing import configured_first_day

# Days of production traffic, from the first partition day to today. The first day is
# `project.start_day`, else the earliest landed day (see assay.landing.first_partition_day):
# read once, when the definitions load (a CLI command lands files before it loads them).
# `end_offset=1` adds today's partition, so records dated today ingest; the nightly schedule
# still runs yesterday's (orchestration/schedules.py).
FIRST_DAY = configured_first_day().isoformat()
daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, end_offset=1, timezone="UTC")

# One partition per candidate id (sanitised: no `|` or `[`, see contracts/candidate.py).
candidate_partitions = DynamicPartitionsDefinition(name="candidates")

DAYS_TAG = "assay/days"
"""Run tag naming the days (comma-separated YYYY-MM-DD) a run refreshes: the SLO marts rebuild
only those days. Set by the nightly follow-up sensor and `assay run`; absent = every day."""

# Shadow backfills: a past day's production calls replayed through one candidate. Dagster
# orders the dimensions by name, so keys read `<candidate>|<day>`.
shadow_partitions = MultiPartitionsDefinition({"day": daily_partitions, "candidate": candidate_partitions})


def shadow_partition_key(candidate_id: str, day: str) -> MultiPartitionKey:
    return MultiPartitionKey({"candidate": candidate_id, "day": day})
