"""Which calls an evaluator scores: its `applies_to` selector, in Python and as SQL.

The two forms must agree row for row (the vectorised scorer selects with SQL, the per-call
scorer with Python); `tests/unit/test_selection.py` checks they do. Sampling hashes the
evaluator name with the call id, so an evaluator's sample is stable across re-runs and
independent of other evaluators' samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

HASH_HEX_DIGITS = 12


def hash_fraction(value: str) -> float:
    """A stable number in [0, 1) from a string."""
    return int(hashlib.sha256(value.encode()).hexdigest()[:HASH_HEX_DIGITS], 16) / 16**HASH_HEX_DIGITS


def hash_fraction_sql(expr: str) -> str:
    """SQL for `hash_fraction` of a VARCHAR expression (same digits of the same digest)."""
    return f"(CAST(('0x' || left(sha256({expr}), {HASH_HEX_DIGITS})) AS UBIGINT) / {16**HASH_HEX_DIGITS}.0)"


# selector key -> call column it filters on
SELECTOR_COLUMNS = {
    "features": "feature",
    "apps": "app",
    "environments": "environment",
    "models": "model",
    "prompt_ids": "prompt_id",
    "prompt_versions": "prompt_version",
}


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def subject_tags(subject: Mapping[str, Any]) -> list[str]:
    """A call's tags: `metadata.tags` (where the trace formats put them), as strings."""
    metadata = subject.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return [str(t) for t in tags] if isinstance(tags, list) else []


def selects(applies_to: Any, evaluator: str, subject: Mapping[str, Any], subject_id: str) -> bool:
    """Whether an evaluator's `applies_to` selects this subject (kind aside)."""
    for key, column in SELECTOR_COLUMNS.items():
        allowed = getattr(applies_to, key)
        if allowed is not None and subject.get(column) not in allowed:
            return False
    if applies_to.tags is not None and not set(applies_to.tags) & set(subject_tags(subject)):
        return False
    rate = applies_to.sample_rate
    return rate >= 1.0 or hash_fraction(f"{evaluator}:{subject_id}") < rate


def selects_sql(applies_to: Any, evaluator: str, subject_id_column: str = "call_id") -> str:
    """SQL WHERE condition equal to `selects` over a partition with the call columns
    (`metadata` as JSON text)."""
    conditions = []
    for key, column in SELECTOR_COLUMNS.items():
        allowed = getattr(applies_to, key)
        if allowed is not None:
            conditions.append(f"coalesce(list_contains({_sql_list(allowed)}, {column}), FALSE)" if allowed else "FALSE")
    if applies_to.tags is not None:
        tags = (
            "coalesce(CASE WHEN json_type(metadata, '$.tags') = 'ARRAY' "
            "THEN json_extract_string(metadata, '$.tags[*]') END, [])"
        )
        conditions.append(f"list_has_any({tags}, {_sql_list(applies_to.tags)})")
    rate = applies_to.sample_rate
    if rate < 1.0:
        name = "'" + evaluator.replace("'", "''") + ":'"
        conditions.append(f"{hash_fraction_sql(f'{name} || CAST({subject_id_column} AS VARCHAR)')} < {rate!r}")
    return " AND ".join(conditions) or "TRUE"
