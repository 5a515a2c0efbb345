"""Which regression dataset version is current: the `CURRENT` file beside its partitions.

Read by anything that must not import Dagster to answer quickly (`assay gate` in CI), and by
the `regression_dataset` asset, which writes it.
"""

from __future__ import annotations

from assay.lake import Lake

CURRENT_POINTER = "CURRENT"


def current_version(lake: Lake) -> str | None:
    pointer = lake.table_dir("regression_dataset") / CURRENT_POINTER
    return pointer.read_text().strip() if pointer.exists() else None
