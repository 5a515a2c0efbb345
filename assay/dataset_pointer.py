"""The regression dataset as readers see it: which version is current (the `CURRENT` file
beside its partitions) and a version's cases.

Read by anything that must not import Dagster to answer quickly (`assay gate` in CI, `assay
labels export`), and by the `regression_dataset` asset, which writes both.
"""

from __future__ import annotations

from typing import Any

from assay.contracts._arrow import from_json_text
from assay.contracts.case import CASE_JSON_COLUMNS, new_case
from assay.lake import Lake

CURRENT_POINTER = "CURRENT"


def current_version(lake: Lake) -> str | None:
    pointer = lake.table_dir("regression_dataset") / CURRENT_POINTER
    return pointer.read_text().strip() if pointer.exists() else None


def read_cases(lake: Lake, version: str) -> list[dict[str, Any]]:
    """A version's cases. Versions written before a contract field existed read with its
    default (every version stays readable)."""
    table = lake.read_partition("regression_dataset", {"version": version})
    if table is None:
        raise FileNotFoundError(f"regression dataset version {version} not found in {lake.table_dir('regression_dataset')}")
    defaults = new_case()
    cases = []
    for row in table.to_pylist():
        row.pop("version", None)  # the partition column, not a case field
        case = row | {name: from_json_text(row[name]) for name in CASE_JSON_COLUMNS if name in row}
        cases.append({k: v for k, v in defaults.items() if k not in case} | case)
    return cases
