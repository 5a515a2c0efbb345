"""`call_scores`: the configured evaluators run over the day's sampled calls.

One row per (call, evaluator, metric). Judge evaluators share one LLM engine per run, so the
run's judge budget, concurrency and cache apply across all of them.
"""

from collections import Counter

import dagster as dg
from dagster import AssetExecutionContext

from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS
from assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assets._metadata import counts_table, partition_metadata
from assets.partitions import daily_partitions
from assets.quality import SCORE_CHECKED_COLUMNS, validate_scores_partition
from assets.resources import AssayResource
from assets.scoring import decode_row, score_subjects, scores_to_rows


def call_subjects(rows: list[dict]) -> list[dict]:
    return [decode_row(row, CALL_JSON_COLUMNS) | {"subject_id": row["call_id"]} for row in rows]


CALL_SCORES_SUITE = "call_scores_expectations"


@dg.asset(
    partitions_def=daily_partitions,
    deps=["sampled_calls"],
    group_name="evaluate",
    kinds={"parquet"},
    pool="llm",
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
def call_scores(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """One score per (sampled call, evaluator, metric): completed, error, skipped or unavailable."""
    partition = {"day": context.partition_key}
    sampled = assay.lake.read_partition("sampled_calls", partition)
    subjects = call_subjects(sampled.to_pylist() if sampled is not None else [])
    engine = assay.llm_engine(context.log.info, budget_usd=assay.config.judge.budget_usd)
    scores = score_subjects(subjects, assay.config, "calls", engine, run_id=context.run_id, log=context.log.info)
    path = assay.lake.write_partition("call_scores", scores_to_rows(scores), partition=partition, schema=SCORE_ARROW_SCHEMA, json_columns=SCORE_JSON_COLUMNS)
    completed = [s for s in scores if s.status == "completed"]
    failed = Counter(s.evaluator for s in completed if s.passed is False)
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(scores)),
            "pass_rate": sum(1 for s in completed if s.passed) / len(completed) if completed else 0.0,
            "by_status": counts_table(Counter(s.status for s in scores), "status"),
            "failures_by_evaluator": counts_table(failed, "evaluator"),
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
