"""Great Expectations suites that guard each stage (blocking asset checks).

GE costs ~4 s and ~245 MB to import, so it is imported inside the check, never at module top.
The suite validates a DataFrame read from the partition (GE's SQL datasource has no DuckDB
dialect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd

# The most any listed model charges is well under $0.001 per token; above that a cost is
# almost certainly in the wrong unit (cents, or per-1K pricing applied per token).
MAX_PLAUSIBLE_USD_PER_TOKEN = 0.001


@dataclass
class SuiteResult:
    passed: bool
    evaluated: int
    failed: list[str]
    """One line per failed expectation: what and how many rows."""


def validate_calls_partition(df: pd.DataFrame, day: date) -> SuiteResult:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = _ephemeral_context(gx)
    # Naive UTC bounds, matching the naive-UTC ts column below.
    start = datetime.combine(day, time.min, tzinfo=UTC).replace(tzinfo=None)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    frame = df.copy()
    # Compare timestamps naive-UTC: GE's between on tz-aware columns is brittle across pandas.
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None)
    tokens = frame["input_tokens"].fillna(0) + frame["output_tokens"].fillna(0)
    frame["usd_per_token"] = (frame["cost_usd"] / tokens.where(tokens > 0)).astype("float64")

    suite = gx.ExpectationSuite(name="raw_calls")
    for column in ("call_id", "ts", "app", "feature", "model", "status"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="call_id"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["success", "error"]))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="ts", min_value=start, max_value=end))
    for column in ("latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="usd_per_token", min_value=0, max_value=MAX_PLAUSIBLE_USD_PER_TOKEN)
    )
    source = context.data_sources.add_pandas("lake")
    asset = source.add_dataframe_asset("raw_calls")
    batch = asset.add_batch_definition_whole_dataframe("partition").get_batch(
        batch_parameters={"dataframe": frame}
    )
    result = batch.validate(suite)
    failed = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            unexpected = (r.result or {}).get("unexpected_count")
            failed.append(f"{cfg.type} on {cfg.kwargs.get('column')}: {unexpected} rows")
    return SuiteResult(passed=bool(result.success), evaluated=len(result.results), failed=failed)


def _ephemeral_context(gx):
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # tqdm bars would fill Dagster's logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context
