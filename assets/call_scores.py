"""`call_scores`: the configured evaluators run over the day's sampled calls.

One row per (call, evaluator, metric). Judge evaluators share one LLM engine per run, so the
run's judge budget, concurrency and cache apply across all of them.

Incremental: a re-materialisation keeps the partition's scores whose evaluator series (config,
class version, judge model: `evaluator_series`) is unchanged, as they are, and scores only what
is missing. Adding an evaluator and backfilling past days computes that evaluator alone; a
changed evaluator (a new version, other params) is a new series and is rescored. The series of
each evaluator is kept beside the partition (`_series.json`).
"""

import json
from pathlib import Path

import dagster as dg
from assay.assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource, BatchesOpen, batches_open_check
from assay.assets.partitions import daily_partitions
from assay.assets.quality import SCORE_CHECKED_COLUMNS, validate_scores_partition
from assay.assets.scoring import (
    ScoreTally,
    build_evaluators,
    evaluator_series,
    reusable_scores,
    score_call_partition,
    subject_fingerprints,
    unchanged_subjects,
)
from dagster import AssetExecutionContext

from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.lake import PART_FILE, atomic_write_text

CALL_SCORES_SUITE = "call_scores_expectations"
SERIES_FILE = "_series.json"
SUBJECTS_FILE = "_subjects.json"
"""call_id -> fingerprint of the content each call was scored on (`subject_fingerprints`)."""


def read_series(folder: Path, name: str = SERIES_FILE) -> dict[str, str] | None:
    """A mapping kept beside the partition: the evaluator series its scores were computed
    under, or the subjects' fingerprints (None: not recorded)."""
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@dg.asset(
    partitions_def=daily_partitions,
    deps=["sampled_calls"],
    group_name="evaluate",
    kinds={"parquet"},
    pool="llm",
    # Batch mode (judge.mode: batch): a run that submitted judge batches writes nothing; the
    # judge_batch_sensor re-runs the day once they are collected.
    output_required=False,
    check_specs=[
        blocking_suite_spec(
            CALL_SCORES_SUITE,
            "call_scores",
            daily_partitions,
            "Great Expectations suite: one score per (call, evaluator, metric), a verdict on every "
            "completed score, a reason on every other, known failure categories, non-negative spend.",
        )
    ],
)
def call_scores(context: AssetExecutionContext, assay: AssayResource):
    """One score per (sampled call, evaluator, metric): completed, error, skipped or unavailable."""
    partition = {"day": context.partition_key}
    engine = assay.llm_engine(context.log.info, budget_usd=assay.config.judge.budget_usd)
    if assay.config.judge.mode == "batch":
        engine.batch = assay.batch_judge(engine, context.log.info)
        engine.batch_scope = f"call_scores/day={context.partition_key}"
    sampled = assay.lake.partition_dir("sampled_calls", partition) / PART_FILE
    folder = assay.lake.partition_dir("call_scores", partition)
    evaluators = build_evaluators(assay.config.evaluators, assay.config.judge.model, assay.config.judge.params)
    series = evaluator_series(assay.config, evaluators)
    fingerprints = subject_fingerprints(sampled) if sampled.exists() else {}
    kept = reusable_scores(
        assay.lake.read_partition("call_scores", partition),
        # Still sampled, and with the content it was scored on (a re-delivered call that
        # changed is rescored).
        subject_ids=unchanged_subjects(fingerprints, read_series(folder, SUBJECTS_FILE)),
        stored_series=read_series(folder),
        series=series,
        versions={name: getattr(e, "version", "?") for name, e in evaluators.items()},
    )
    done = set(zip(kept.column("evaluator").to_pylist(), kept.column("subject_id").to_pylist(), strict=True)) if kept else set()
    if kept is not None:
        context.log.info(f"kept {kept.num_rows} existing scores (unchanged evaluator series); scoring the rest")
    tally = ScoreTally()
    new_rows = 0
    try:
        with assay.lake.partition_writer("call_scores", partition=partition, schema=SCORE_ARROW_SCHEMA) as writer:
            if kept is not None and kept.num_rows:
                writer.write(kept)
                tally.add(kept)
            for scores in score_call_partition(sampled, assay.config, engine, run_id=context.run_id, log=context.log.info, done=done):
                writer.write(scores)
                tally.add(scores)
                new_rows += scores.num_rows
            if engine.stats.batch_pending:
                raise BatchesOpen  # discards the staged partition: the day's scores are not all known
    except BatchesOpen:
        yield batches_open_check(engine, assay, CALL_SCORES_SUITE, context.log.info)
        return
    atomic_write_text(folder / SERIES_FILE, json.dumps(series, sort_keys=True, indent=1))
    atomic_write_text(folder / SUBJECTS_FILE, json.dumps(fingerprints, sort_keys=True))
    path = folder / PART_FILE
    yield dg.MaterializeResult(
        metadata={
            **partition_metadata(path, tally.rows),
            "scores_kept": tally.rows - new_rows,
            "scores_new": new_rows,
            "pass_rate": tally.pass_rate,
            "by_status": counts_table(tally.by_status, "status"),
            "failures_by_evaluator": counts_table(tally.failures_by_evaluator, "evaluator"),
            **{f"judge_{k}": v for k, v in engine.stats.as_metadata().items()},
        },
        check_results=[
            suite_check_result(
                "call_scores",
                CALL_SCORES_SUITE,
                validate_scores_partition(read_for_suite(path, SCORE_CHECKED_COLUMNS), name="call_scores"),
            )
        ],
    )
