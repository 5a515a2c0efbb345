"""A calibration row: one scorer series' agreement with human labels over one period, at one
point in time.

A series is one (scorer, scorer version, judge model); `period` is `all` (every labelled score)
or an ISO week (`2026-W47`) of the scores' time, so agreement can be followed over time.
`kind` is `binary` (pass/fail verdicts) or `pairwise` (a/b/tie winners, each pair judged in
one or both orders). Intervals are percentile bootstrap intervals over the labelled subjects
(`_low`, `_high`); the pairwise figures are None on binary series.
"""

from __future__ import annotations

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

CALIBRATION_SCHEMA_VERSION = 3

CALIBRATION_ARROW_SCHEMA = pa.schema(
    [
        ("series", pa.string()),
        ("evaluator", pa.string()),
        ("evaluator_version", pa.string()),
        ("judge_model", pa.string()),
        ("kind", pa.string()),
        ("period", pa.string()),
        ("n", pa.int64()),
        ("accuracy", pa.float64()),
        ("accuracy_low", pa.float64()),
        ("accuracy_high", pa.float64()),
        ("cohen_kappa", pa.float64()),
        ("cohen_kappa_low", pa.float64()),
        ("cohen_kappa_high", pa.float64()),
        ("f1_fail", pa.float64()),
        ("f1_fail_low", pa.float64()),
        ("f1_fail_high", pa.float64()),
        ("precision_fail", pa.float64()),
        ("recall_fail", pa.float64()),
        ("both_fail", pa.int64()),
        ("both_pass", pa.int64()),
        ("judge_fail_human_pass", pa.int64()),
        ("judge_pass_human_fail", pa.int64()),
        ("confusion_matrix", pa.string()),
        ("confusion_shares", pa.string()),
        ("pairs", pa.int64()),
        ("pairs_both_orders", pa.int64()),
        ("position_consistency", pa.float64()),
        ("position_consistency_low", pa.float64()),
        ("position_consistency_high", pa.float64()),
        ("first_position_win_share", pa.float64()),
        ("accuracy_a_first", pa.float64()),
        ("accuracy_b_first", pa.float64()),
        ("accuracy_both_orders_agree", pa.float64()),
        ("pairs_both_orders_agree", pa.int64()),
        ("jurors", pa.int64()),
        ("jury_fleiss_kappa", pa.float64()),
        ("jury_subjects", pa.int64()),
        ("computed_at", UTC_TIMESTAMP),
    ],
    metadata={"contract": "judge_calibration", "version": str(CALIBRATION_SCHEMA_VERSION)},
)
"""Columns as `assay.calibration.calibration_rows` makes them. `confusion_matrix` is JSON
{human: {scorer: count}} (pass/fail, or a/b/tie); `confusion_shares` the same cells as shares of
the verdicts with their intervals, {human: {scorer: [share, low, high]}} (version 3).
Pairwise: `pairs` labelled or not, `position_consistency` = share of pairs judged in both orders with the same winner in both,
`first_position_win_share` = share of decisive verdicts (not tie) that picked the output shown
first, `accuracy_a_first` / `accuracy_b_first` = accuracy of the verdicts given in each order,
`accuracy_both_orders_agree` = accuracy on the labelled pairs whose two orders agree;
`accuracy` and `cohen_kappa` pool the verdicts of both orders (accuracy averaged over orders).
Jury (an evaluator judged by several models): the jury's series has `jurors`, and the agreement
between them, `jury_fleiss_kappa`, over the `jury_subjects` every juror answered (labelled or
not); each juror is also a series of its own (its model as the judge model)."""
