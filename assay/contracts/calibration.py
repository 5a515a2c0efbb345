"""A calibration row: one judge series' agreement with human labels at one point in time."""

from __future__ import annotations

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

CALIBRATION_SCHEMA_VERSION = 1

CALIBRATION_ARROW_SCHEMA = pa.schema(
    [
        ("series", pa.string()),
        ("evaluator", pa.string()),
        ("evaluator_version", pa.string()),
        ("judge_model", pa.string()),
        ("n", pa.int64()),
        ("accuracy", pa.float64()),
        ("cohen_kappa", pa.float64()),
        ("f1_fail", pa.float64()),
        ("precision_fail", pa.float64()),
        ("recall_fail", pa.float64()),
        ("both_fail", pa.int64()),
        ("both_pass", pa.int64()),
        ("judge_fail_human_pass", pa.int64()),
        ("judge_pass_human_fail", pa.int64()),
        ("computed_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "judge_calibration", "version": str(CALIBRATION_SCHEMA_VERSION)},
)
"""Columns as `assay.calibration.calibration_rows` makes them (`agreement` + the series)."""
