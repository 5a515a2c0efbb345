"""`judge_calibration`: how well each scorer agrees with human labels, per scorer series.

A series is one (scorer, scorer version, judge model): a judge-model or rubric change in
assay.yaml starts a new one, so its agreement is plotted apart from the old judge's. Scorers are
LLM judges, deterministic evaluators and imported scores (`assay.calibration`). Each
materialisation writes the day's figures (all time, and per ISO week) to
`judge_calibration/day=<date>` (history in the lake) and emits one numeric metadata entry per
series and figure, which the UI plots over time.
"""

from datetime import UTC, datetime

import dagster as dg
from assay.assets._metadata import partition_metadata
from assay.assets.assay_resource import AssayResource
from dagster import AssetExecutionContext, MetadataValue

from assay.calibration import lake_calibration
from assay.contracts.calibration import CALIBRATION_ARROW_SCHEMA

SERIES_FIGURES = ("cohen_kappa", "cohen_kappa_low", "accuracy", "f1_fail", "n", "position_consistency",
                  "first_position_win_share", "jury_fleiss_kappa")


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _interval(row: dict, name: str) -> str:
    if row[name] is None:
        return "—"
    return f"{row[name]:.3f} [{_fmt(row[name + '_low'])}, {_fmt(row[name + '_high'])}]"


def calibration_markdown(rows: list[dict]) -> str:
    """The all-time row of each series as a Markdown table (figures with their intervals)."""
    lines = [
        "| series | kind | n | kappa | accuracy | F1 (fail) | confusion (human: scorer) | position consistency | first-position wins |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["period"] != "all":
            continue
        lines.append(
            f"| {r['series']} | {r['kind']} | {r['n']} | {_interval(r, 'cohen_kappa')} | {_interval(r, 'accuracy')} | "
            f"{_interval(r, 'f1_fail')} | {r['confusion_matrix'] or '—'} | {_interval(r, 'position_consistency')} | "
            f"{_fmt(r['first_position_win_share'])} |"
        )
    return "\n".join(lines)


@dg.asset(deps=["call_scores"], group_name="evaluate", kinds={"parquet"})
def judge_calibration(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """Agreement of each scorer series with the human labels (`assay labels import FILE`)."""
    now = datetime.now(UTC)
    gate = assay.config.gate
    labels, rows = lake_calibration(assay.lake, computed_at=now, confidence=gate.confidence,
                                    resamples=gate.bootstrap_resamples, seed=gate.seed)
    if not labels:
        context.log.info("no human labels yet: `assay labels import FILE` adds some")
    path = assay.lake.write_partition(
        "judge_calibration", rows, partition={"day": now.date().isoformat()}, schema=CALIBRATION_ARROW_SCHEMA
    )
    per_series = {
        f"{figure}[{row['series']}]": float(row[figure]) if figure != "n" else int(row[figure])
        for row in rows
        if row["period"] == "all"
        for figure in SERIES_FIGURES
        if row[figure] is not None
    }
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "human_labels": len(labels),
            "series": MetadataValue.md(calibration_markdown(rows)) if rows else "no labelled scores yet",
            **per_series,
        }
    )
