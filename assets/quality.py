"""Great Expectations suites that guard each stage (blocking asset checks).

GE costs ~4 s and ~245 MB to import, so it is imported inside the check, never at module top.
The suite validates a DataFrame read from the partition (GE's SQL datasource has no DuckDB
dialect). Value sets come from the code contracts (`assay.contracts`), never spelled out here
(docs/architecture.md, "Data contracts").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd

from assay.contracts.call import CALL_STATUSES
from assay.contracts.candidate_output import OUTPUT_STATUSES
from assay.contracts.score import JUDGE_MODES, SCORE_STATUSES
from assay.contracts.taxonomy import FAILURE_CATEGORIES

# The most any listed model charges is well under $0.001 per token; above that a cost is
# almost certainly in the wrong unit (cents, or per-1K pricing applied per token).
MAX_PLAUSIBLE_USD_PER_TOKEN = 0.001


@dataclass
class SuiteResult:
    passed: bool
    evaluated: int
    failed: list[str]
    """One line per failed expectation: what and how many rows."""


def run_suite(name: str, frame: pd.DataFrame, expectations: list) -> SuiteResult:
    """Validate a partition's DataFrame against a list of GE expectations."""
    import great_expectations as gx

    context = _ephemeral_context(gx)
    suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    source = context.data_sources.add_pandas("lake")
    batch = (
        source.add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("partition")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    # BASIC: each expectation's success and unexpected_count, all a failure line says. GE's
    # default (SUMMARY) also counts the unexpected values and lists their row indices: about
    # 40% of each validation's CPU (0.33 s -> 0.2 s on a day's raw_calls), read by nobody.
    result = batch.validate(suite, result_format="BASIC")
    failed = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            where = cfg.kwargs.get("column") or cfg.kwargs.get("column_list")
            unexpected = (r.result or {}).get("unexpected_count")
            failed.append(f"{cfg.type} on {where}: {unexpected} rows")
    return SuiteResult(passed=bool(result.success), evaluated=len(result.results), failed=failed)


def validate_calls_partition(df: pd.DataFrame, day: date) -> SuiteResult:
    """raw_calls: required fields, unique call_id, ts inside the day, non-negative numbers,
    plausible cost per token."""
    import great_expectations.expectations as gxe

    # Naive UTC bounds, matching the naive-UTC ts column below.
    start = datetime.combine(day, time.min, tzinfo=UTC).replace(tzinfo=None)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    frame = df.copy()
    # Compare timestamps naive-UTC: GE's between on tz-aware columns is brittle across pandas.
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None)
    tokens = frame["input_tokens"].fillna(0) + frame["output_tokens"].fillna(0)
    frame["usd_per_token"] = (frame["cost_usd"] / tokens.where(tokens > 0)).astype("float64")
    expectations = [
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("call_id", "ts", "app", "feature", "model", "status")),
        gxe.ExpectColumnValuesToBeUnique(column="call_id"),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(CALL_STATUSES)),
        gxe.ExpectColumnValuesToBeBetween(column="ts", min_value=start, max_value=end),
        *(
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)
            for c in ("latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd")
        ),
        gxe.ExpectColumnValuesToBeBetween(column="usd_per_token", min_value=0, max_value=MAX_PLAUSIBLE_USD_PER_TOKEN),
    ]
    return run_suite("raw_calls", frame, expectations)


SCORE_CHECKED_COLUMNS = [
    "subject_id", "evaluator", "evaluator_version", "metric", "status", "passed", "explanation",
    "failure_category", "judge_input_tokens", "judge_output_tokens", "judge_cost_usd", "duration_ms", "judge_mode",
]


def validate_scores_partition(df: pd.DataFrame, *, name: str) -> SuiteResult:
    """call_scores / candidate_scores: one score per (subject, evaluator, metric); a completed
    score has a verdict, any other status says why; known categories; non-negative spend."""
    import great_expectations.expectations as gxe

    expectations = [
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("subject_id", "evaluator", "evaluator_version", "metric", "status")),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["subject_id", "evaluator", "metric"]),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(SCORE_STATUSES)),
        gxe.ExpectColumnValuesToNotBeNull(column="passed", row_condition='status=="completed"', condition_parser="pandas"),
        gxe.ExpectColumnValuesToNotBeNull(column="explanation", row_condition='status!="completed"', condition_parser="pandas"),
        gxe.ExpectColumnValuesToBeInSet(column="failure_category", value_set=list(FAILURE_CATEGORIES)),
        # judge_mode came with batch judging (score contract v3): a frame read from before has none.
        *([gxe.ExpectColumnValuesToBeInSet(column="judge_mode", value_set=list(JUDGE_MODES))] if "judge_mode" in df.columns else []),
        *(
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)
            for c in ("judge_input_tokens", "judge_output_tokens", "judge_cost_usd", "duration_ms")
        ),
    ]
    return run_suite(name, df, expectations)


CANDIDATE_OUTPUT_CHECKED_COLUMNS = [
    "candidate_id", "case_id", "dataset_version", "status", "error_type", "latency_ms",
    "input_tokens", "output_tokens", "cost_usd",
]


def validate_candidate_outputs_partition(df: pd.DataFrame) -> SuiteResult:
    """candidate_outputs: one replay per case, a known status, an error type on every failed
    replay, non-negative latency, tokens and cost."""
    import great_expectations.expectations as gxe

    expectations = [
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("candidate_id", "case_id", "dataset_version", "status")),
        gxe.ExpectColumnValuesToBeUnique(column="case_id"),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(OUTPUT_STATUSES)),
        gxe.ExpectColumnValuesToNotBeNull(column="error_type", row_condition='status!="completed"', condition_parser="pandas"),
        *(
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)
            for c in ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
        ),
    ]
    return run_suite("candidate_outputs", df, expectations)


def _ephemeral_context(gx):
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # tqdm bars would fill Dagster's logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context
