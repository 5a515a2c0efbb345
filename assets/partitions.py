"""Partition definitions, imported by every asset and job that uses them."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition, DynamicPartitionsDefinition

# Days of production traffic. The start only bounds what the UI offers for backfills.
daily_partitions = DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")

# One partition per candidate id (sanitised: no `|` or `[`, see contracts/candidate.py).
candidate_partitions = DynamicPartitionsDefinition(name="candidates")
