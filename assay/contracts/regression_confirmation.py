"""A regression confirmation: one re-run of one critical case for one side of a comparison
(`gate.confirm_regressions`), kept so a flaky or confirmed regression can be traced to its runs."""

from __future__ import annotations

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

CONFIRMATIONS_TABLE = "regression_confirmations"
CONFIRMATION_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("baseline_id", pa.string()),
        ("dataset_version", pa.string()),
        ("case_id", pa.string()),
        ("run", pa.int64()),
        ("side_id", pa.string()),
        ("replay_status", pa.string()),
        ("is_passed", pa.bool_()),
        ("failed_evaluators", pa.string()),
        ("generated_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "regression_confirmation", "version": "1"},
)
