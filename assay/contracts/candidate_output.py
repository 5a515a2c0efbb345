"""A candidate output: one regression case replayed through one candidate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

CANDIDATE_OUTPUT_SCHEMA_VERSION = 1

OutputStatus = Literal["completed", "error", "skipped"]
OUTPUT_STATUSES: tuple[str, ...] = get_args(OutputStatus)
"""A replay's status: the one list the GE suite of candidate_outputs and dbt's tests use."""

CANDIDATE_OUTPUT_ARROW_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("candidate_fingerprint", pa.string()),  # Candidate.fingerprint at replay time
        ("case_id", pa.string()),
        ("dataset_version", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("output_text", pa.string()),
        ("tool_calls", pa.string()),  # JSON text
        ("finish_reason", pa.string()),
        ("status", pa.string()),  # OUTPUT_STATUSES
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("latency_ms", pa.float64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()),  # at the candidate's price, also for a cached replay
        ("is_cache_hit", pa.bool_()),
        ("redactions", pa.string()),  # JSON: {"output_text": {"EMAIL": 1}}, see assay/privacy/redaction.py
        ("generated_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "candidate_output", "version": str(CANDIDATE_OUTPUT_SCHEMA_VERSION)},
)

CANDIDATE_OUTPUT_JSON_COLUMNS = frozenset({"tool_calls", "redactions"})

# A shadow replay: one past production call (call_id) replayed through one candidate. The
# same fields as a case replay, keyed by the call instead of (case, dataset version).
SHADOW_OUTPUT_ARROW_SCHEMA = pa.schema(
    [("call_id", pa.string())]
    + [f for f in CANDIDATE_OUTPUT_ARROW_SCHEMA if f.name not in ("case_id", "dataset_version")],
    metadata={"contract": "shadow_output", "version": str(CANDIDATE_OUTPUT_SCHEMA_VERSION)},
)


def output_text(row: Mapping[str, Any] | None) -> str | None:
    """What a replay answered: its text, else its tool calls (as JSON text), else nothing."""
    if not row:
        return None
    return row.get("output_text") or row.get("tool_calls") or None
