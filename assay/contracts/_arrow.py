"""Shared helpers to derive one pyarrow schema from one pydantic contract.

Each contract module defines its pydantic model and, beside it, the pyarrow schema the lake
stores it with. Nested values (messages, params, tool calls, gates...) are stored as JSON text:
DuckDB, dbt and pandas all read a string column without a nested-type negotiation, and the
contract still validates the structure on the way in.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


def to_json_text(value: Any) -> str | None:
    """Serialise a nested value for a JSON-text column (None stays NULL)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def from_json_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    return json.loads(value)


# Epoch values above this are milliseconds (1e11 s is the year 5138), as pydantic also reads them.
EPOCH_MS_THRESHOLD = 1e11


def as_utc(value: datetime | date | str | int | float | None) -> datetime | None:
    """Coerce to an aware UTC datetime; naive datetimes are taken as UTC.

    Accepts ISO 8601 text, datetimes, dates and epoch seconds or milliseconds. Anything else
    raises ValueError (which pydantic turns into a rejection reason, not a crash).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 timestamp or epoch seconds, got {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch timestamp {value!r} is out of range") from None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"expected an ISO 8601 timestamp or epoch seconds, got {type(value).__name__}")


def rows_to_table(
    rows: list[dict[str, Any]], schema: pa.Schema, json_columns: frozenset[str]
) -> pa.Table:
    """Build a table in the contract's column order; nested columns become JSON text."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name in json_columns:
                value = to_json_text(value)
            elif schema.field(name).type == UTC_TIMESTAMP:
                value = as_utc(value)
            columns[name].append(value)
    return pa.table(columns, schema=schema)
