"""`judge_calibration`: how well each LLM judge agrees with human labels, per judge series.

A series is one (evaluator, evaluator version, judge model): a judge-model or rubric change in
assay.yaml starts a new one, so its agreement is plotted apart from the old judge's. Each
materialisation writes the day's figures to `judge_calibration/day=<date>` (history in the
lake) and emits one numeric metadata entry per series and figure, which the UI plots over time.
"""

from datetime import UTC, datetime

import dagster as dg
from assay.assets._metadata import partition_metadata
from assay.assets.assay_resource import AssayResource
from dagster import AssetExecutionContext, MetadataValue

from assay.calibration import LABELS_TABLE, calibration_rows, latest_labels
from assay.contracts.calibration import CALIBRATION_ARROW_SCHEMA

SERIES_FIGURES = ("cohen_kappa", "accuracy", "f1_fail", "n")


def calibration_markdown(rows: list[dict]) -> str:
    lines = [
        "| series | n | kappa | accuracy | F1 (fail) | both fail | both pass | judge fail, human pass | judge pass, human fail |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value) -> str:
        return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for r in rows:
        lines.append(
            f"| {r['series']} | {r['n']} | {fmt(r['cohen_kappa'])} | {fmt(r['accuracy'])} | {fmt(r['f1_fail'])} | "
            f"{r['both_fail']} | {r['both_pass']} | {r['judge_fail_human_pass']} | {r['judge_pass_human_fail']} |"
        )
    return "\n".join(lines)


@dg.asset(deps=["call_scores"], group_name="evaluate", kinds={"parquet"})
def judge_calibration(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """Agreement of each judge series with the human labels (`assay labels import FILE`)."""
    labels_table = assay.lake.read_table(LABELS_TABLE)
    scores_table = assay.lake.read_table("call_scores")
    labels = latest_labels(labels_table.to_pylist()) if labels_table is not None else {}
    scores = scores_table.to_pylist() if scores_table is not None else []
    now = datetime.now(UTC)
    rows = calibration_rows(labels, scores, computed_at=now)
    if not labels:
        context.log.info("no human labels yet: `assay labels import FILE` adds some")
    path = assay.lake.write_partition(
        "judge_calibration", rows, partition={"day": now.date().isoformat()}, schema=CALIBRATION_ARROW_SCHEMA
    )
    per_series = {
        f"{figure}[{row['series']}]": float(row[figure]) if figure != "n" else int(row[figure])
        for row in rows
        for figure in SERIES_FIGURES
        if row[figure] is not None
    }
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "human_labels": len(labels),
            "series": MetadataValue.md(calibration_markdown(rows)) if rows else "no labelled judge scores yet",
            **per_series,
        }
    )
