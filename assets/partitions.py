"""Partition definitions, imported by every asset and job that uses them."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

# Days of production traffic. The start bounds how old a log can be ingested (and what the
# UI offers for backfills); `assay ingest` names it when a file is older.
FIRST_DAY = "2023-01-01"
daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")

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
