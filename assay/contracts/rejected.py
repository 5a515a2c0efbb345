"""A rejected input record: kept verbatim in `rejected_calls` with where it came from and why."""

from __future__ import annotations

import pyarrow as pa

REJECTED_SCHEMA_VERSION = 1

REJECTED_ARROW_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_offset", pa.int64()),  # 1-based line number
        ("source_format", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),  # the record exactly as it was read
    ],
    metadata={"contract": "rejected_call", "version": str(REJECTED_SCHEMA_VERSION)},
)
