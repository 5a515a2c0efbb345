"""`trace_scores` + `session_scores`: the evaluators whose `applies_to.subjects` names `traces` or
`sessions`, run over the day's agent runs and conversations.

Same scoring path as `call_scores` (`assay.assets.scoring.score_subjects`): one row per
(subject, evaluator, metric) in the score contract, `subject_id` the trace id or the session id,
judges through the one judge engine (one budget for both tables).
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.partitions import daily_partitions
from assay.assets.scoring import (
    ScoreTally,
    build_evaluators,
    decode_row,
    score_subjects,
    scores_to_rows,
)
from dagster import AssetExecutionContext

from assay.config import AssayConfig
from assay.contracts._arrow import rows_to_table
from assay.contracts.agent_subject import SESSION_SUBJECT_JSON_COLUMNS, TRACE_SUBJECT_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS
from assay.lake import Lake
from assay.llm.engine import LLMEngine

AGENT_TABLES = {
    # subject kind -> (subjects table, id column, JSON columns, scores table)
    "traces": ("trace_subjects", "trace_id", TRACE_SUBJECT_JSON_COLUMNS, "trace_scores"),
    "sessions": ("session_subjects", "session_id", SESSION_SUBJECT_JSON_COLUMNS, "session_scores"),
}


def agent_subjects_of(lake: Lake, kind: str, day: str) -> list[dict[str, Any]]:
    """The day's trace or session subjects as evaluator subjects (`subject_id` = their id)."""
    table, id_column, json_columns, _ = AGENT_TABLES[kind]
    stored = lake.read_partition(table, {"day": day})
    rows = stored.to_pylist() if stored is not None else []
    return [decode_row(row, json_columns) | {"subject_id": row[id_column]} for row in rows]


def score_agent_day(
    lake: Lake, config: AssayConfig, engine: LLMEngine, day: str, *, run_id: str | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, list[dict[str, Any]]]:
    """Score rows by scores table (`trace_scores`, `session_scores`) for one day."""
    evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    scored = {}
    for kind, (_, _, _, scores_table) in AGENT_TABLES.items():
        subjects = agent_subjects_of(lake, kind, day)
        scores = score_subjects(subjects, config, kind, engine, run_id=run_id, log=log, evaluators=evaluators)
        scored[scores_table] = scores_to_rows(scores)
    return scored


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "trace_scores", deps=["trace_subjects"], group_name="evaluate", kinds={"parquet"},
            description="One score per (agent run, evaluator, metric): trajectory, loops, tool "
            "errors, steps and tokens, judged task completion and plan quality.",
        ),
        dg.AssetSpec(
            "session_scores", deps=["session_subjects"], group_name="evaluate", kinds={"parquet"},
            description="One score per (conversation, evaluator, metric): resolution, frustration, "
            "coherence, knowledge retention, turn count, repeated questions, escalation.",
        ),
    ],
    partitions_def=daily_partitions,
    pool="llm",
)
def agent_scores(context: AssetExecutionContext, assay: AssayResource):
    partition = {"day": context.partition_key}
    engine = assay.llm_engine(context.log.info, budget_usd=assay.config.judge.budget_usd)
    scored = score_agent_day(assay.lake, assay.config, engine, context.partition_key, run_id=context.run_id, log=context.log.info)
    for table, rows in scored.items():
        path = assay.lake.write_partition(table, rows, partition=partition, schema=SCORE_ARROW_SCHEMA,
                                          json_columns=SCORE_JSON_COLUMNS)
        tally = ScoreTally()
        tally.add(rows_to_table(rows, SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS))
        yield dg.MaterializeResult(
            asset_key=table,
            metadata={
                **partition_metadata(path, len(rows)),
                "pass_rate": tally.pass_rate,
                "by_status": counts_table(tally.by_status, "status"),
                "failures_by_evaluator": counts_table(tally.failures_by_evaluator, "evaluator"),
            },
        )
