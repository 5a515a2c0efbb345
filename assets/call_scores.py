"""`call_scores`: the configured evaluators run over the day's sampled calls.

One row per (call, evaluator, metric). Judge evaluators share one LLM engine per run, so the
run's judge budget, concurrency and cache apply across all of them.
"""

import dagster as dg
from dagster import AssetExecutionContext

from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.lake import PART_FILE
from assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assets._metadata import counts_table, partition_metadata
from assets.partitions import daily_partitions
from assets.quality import SCORE_CHECKED_COLUMNS, validate_scores_partition
from assets.resources import AssayResource
from assets.scoring import ScoreTally, score_call_partition

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
    engine = assay.llm_engine(context.log.info, budget_usd=assay.config.judge.budget_usd)
    sampled = assay.lake.partition_dir("sampled_calls", partition) / PART_FILE
    tally = ScoreTally()
    with assay.lake.partition_writer("call_scores", partition=partition, schema=SCORE_ARROW_SCHEMA) as writer:
        for scores in score_call_partition(sampled, assay.config, engine, run_id=context.run_id, log=context.log.info):
            writer.write(scores)
            tally.add(scores)
    path = assay.lake.partition_dir("call_scores", partition) / PART_FILE
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, tally.rows),
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
