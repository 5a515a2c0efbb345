"""Small helpers for the metadata each asset shows in the Dagster UI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from dagster import MetadataValue


def counts_table(counter: Counter | dict, key_name: str, value_name: str = "count") -> MetadataValue:
    lines = [f"| {key_name} | {value_name} |", "|---|---|"]
    for key, value in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        lines.append(f"| {key} | {value} |")
    return MetadataValue.md("\n".join(lines))


def partition_metadata(path: Path, rows: int) -> dict:
    return {"dagster/row_count": rows, "path": MetadataValue.path(str(path))}


def count_by(rows: Iterable[dict], key: str) -> Counter:
    return Counter(str(r.get(key)) for r in rows)
