"""`raw_calls` + `rejected_calls` (+ `trace_spans`): a day's landing files ingested
(`assay.assets.day_ingest`: formats, validation, rejected rows, speed), written to the lake, and
checked by the Great Expectations suite before anything downstream reads them."""

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from assay.assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.day_ingest import LANDING_FINGERPRINT_FILE, DayBounds, IngestedDay, ingest_day
from assay.assets.partitions import FIRST_DAY, daily_partitions
from assay.assets.quality import validate_calls_partition
from dagster import AssetExecutionContext

from assay.config import RedactionConfig
from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.contracts.rejected import REJECTED_ARROW_SCHEMA
from assay.contracts.span import SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS
from assay.lake import Lake, atomic_write_text
from assay.pricing import fill_missing_costs
from assay.privacy.redaction import Redactor

RAW_CALLS_SUITE = "raw_calls_expectations"

RAW_CALLS_CHECK = blocking_suite_spec(
    RAW_CALLS_SUITE,
    "raw_calls",
    daily_partitions,
    "Great Expectations suite: required fields, unique call_id, ts inside the day, "
    "non-negative latency/tokens/cost, plausible cost per token.",
)


CHECKED_COLUMNS = [
    "call_id", "ts", "app", "feature", "model", "status",
    "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd",
]
"""The columns `validate_calls_partition` reads: loading only these keeps the check's
DataFrame small (all columns of a million calls are several GB in pandas)."""


def _write_the_rest(lake: Lake, day_key: str, ingested: IngestedDay, calls_path: Path) -> Path:
    """The day's rejected_calls partition, then its landing fingerprint."""
    rejected_path = lake.write_partition(
        "rejected_calls", ingested.rejected, partition={"day": day_key}, schema=REJECTED_ARROW_SCHEMA
    )
    # Written last: if anything above failed, the sensor still sees the day as stale.
    atomic_write_text(
        calls_path.parent / LANDING_FINGERPRINT_FILE,
        json.dumps({"landing_fingerprint": ingested.landing_fingerprint, "files": len(ingested.files)}),
    )
    return rejected_path


@dataclass
class MaterialisedDay:
    """What `materialise_day` wrote."""

    ingested: IngestedDay
    """Files, rejected rows and spans; its `calls` table is empty (they were streamed)."""
    calls: int
    calls_path: Path
    rejected_path: Path
    cost_sources: Counter
    redacted: Counter


def materialise_day(
    lake: Lake,
    landing_root: Path,
    day: date,
    *,
    default_app: str,
    prices: dict[str, dict[str, float]],
    redaction: RedactionConfig,
    day_key: str | None = None,
    formats_by_source: Mapping[str, str] | None = None,
    bounds: DayBounds | None = None,
) -> MaterialisedDay:
    """The `raw_calls` asset's work for one day, streaming: each batch of accepted calls gets
    its missing costs filled and its PII redacted, then is appended to the partition's
    temporary Parquet file, which replaces the partition only once the whole day is read;
    trace spans the same way. Memory holds a batch of calls and spans at a time (plus the
    rejected rows), not the day."""
    day_key = day_key or day.isoformat()
    redactor = Redactor.from_config(redaction) if redaction.enabled else None
    cost_sources: Counter = Counter()
    redacted: Counter = Counter()
    priced: dict[str, Any] = {}  # price lookups made by an earlier batch, reused

    def sink(batch: pa.RecordBatch) -> None:
        table, sources = fill_missing_costs(pa.Table.from_batches([batch]), prices, priced)
        cost_sources.update(sources)
        if redactor is not None:
            table, found = redactor.calls(table)
            redacted.update(found)
        writer.write(table)

    def span_sink(rows: list[dict[str, Any]]) -> None:
        if redactor is not None:
            redacted.update(redactor.spans(rows))
        span_writer.write(rows_to_table(rows, SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS))

    partition = {"day": day_key}
    with (
        lake.partition_writer("raw_calls", partition=partition, schema=CALL_ARROW_SCHEMA) as writer,
        lake.partition_writer("trace_spans", partition=partition, schema=SPAN_ARROW_SCHEMA) as span_writer,
    ):
        ingested = ingest_day(
            landing_root, day, default_app=default_app, sink=sink, formats_by_source=formats_by_source,
            span_sink=span_sink, bounds=bounds,
        )
    if redactor is not None:
        redacted.update(redactor.rejected(ingested.rejected))
    rejected_path = _write_the_rest(lake, day_key, ingested, writer.path)
    return MaterialisedDay(ingested, writer.rows, writer.path, rejected_path, cost_sources, redacted)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "raw_calls",
            description="One row per LLM call of the day, normalised to the call record.",
            group_name="ingest",
            kinds={"parquet"},
        ),
        dg.AssetSpec(
            "rejected_calls",
            description="Every input record that could not be ingested, verbatim, with why.",
            group_name="ingest",
            kinds={"parquet"},
        ),
        dg.AssetSpec(
            "trace_spans",
            description="The non-LLM steps of each trace (tools, agents, chains), in their place "
            "in the span tree (trace_id, span_id, parent_span_id).",
            group_name="ingest",
            kinds={"parquet"},
        ),
    ],
    partitions_def=daily_partitions,
    check_specs=[RAW_CALLS_CHECK],
)
def raw_calls(context: AssetExecutionContext, assay: AssayResource):
    day = date.fromisoformat(context.partition_key)
    prices = {model: price.model_dump(exclude_none=True) for model, price in assay.config.pricing.items()}
    done = materialise_day(
        assay.lake,
        assay.home.landing,
        day,
        default_app=assay.config.project.app,
        prices=prices,
        redaction=assay.config.redaction,
        day_key=context.partition_key,
        formats_by_source={name: source.format for name, source in assay.config.sources.items() if source.format},
        bounds=DayBounds(first_day=date.fromisoformat(FIRST_DAY), today=datetime.now(UTC).date()),
    )
    ingested, cost_sources, redacted = done.ingested, done.cost_sources, done.redacted
    calls_path, rejected_path = done.calls_path, done.rejected_path
    if not ingested.files:
        context.log.warning(f"no landing files for {day} under {assay.home.landing}/*/{day}/")
    yield dg.MaterializeResult(
        asset_key="raw_calls",
        metadata={
            **partition_metadata(calls_path, done.calls),
            "landing_files": len(ingested.files),
            # Records with no timestamp of their own, dated the landing day (assay.landing).
            "undated_records": ingested.undated,
            # Older versions of Langfuse observations that a later export replaced.
            "superseded_observations": ingested.superseded,
            "cost_sources": counts_table(cost_sources, "cost_source"),
            "redacted_entities": counts_table(redacted, "entity"),
            "per_file": dg.MetadataValue.md(
                "| file | format | calls | spans | rejected | undated |\n|---|---|---|---|---|---|\n"
                + "\n".join(
                    f"| {f.path} | {f.format} | {f.calls} | {f.spans} | {f.rejected} | {f.undated} |" for f in ingested.files
                )
            ),
        },
    )
    reasons = {}
    for row in ingested.rejected:
        key = row["reason"].split(":")[0][:60]
        reasons[key] = reasons.get(key, 0) + 1
    yield dg.MaterializeResult(
        asset_key="trace_spans",
        metadata={
            "dagster/row_count": ingested.span_count,
            "by_kind": counts_table(ingested.span_kinds, "kind"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="rejected_calls",
        metadata={
            **partition_metadata(rejected_path, len(ingested.rejected)),
            "reasons": counts_table(reasons, "reason"),
        },
    )
    suite = validate_calls_partition(read_for_suite(calls_path, CHECKED_COLUMNS), day)
    yield suite_check_result("raw_calls", RAW_CALLS_SUITE, suite)
