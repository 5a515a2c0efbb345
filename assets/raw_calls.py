"""`raw_calls` + `rejected_calls`: a day's landing files, normalised to the call record.

Landing layout: `ASSAY_HOME/landing/<source>/<YYYY-MM-DD>/*.jsonl`. Every line either
becomes a call (validated against `CallRecord`) or a rejected row carrying the line verbatim,
its file and line number, and the reason. A bad line never stops the day.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import ValidationError

from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS, CallRecord
from assay.contracts.rejected import REJECTED_ARROW_SCHEMA
from assets._metadata import counts_table, partition_metadata
from assets.partitions import daily_partitions
from assets.quality import validate_calls_partition
from assets.resources import AssayResource

NATIVE_FORMAT = "assay_jsonl"
LANDING_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class FileStats:
    path: str
    calls: int = 0
    rejected: int = 0


@dataclass
class IngestedDay:
    calls: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)


def landing_files(landing_root: Path, day: date) -> list[Path]:
    """Files landed for `day` by any source, in a stable order."""
    pattern = f"*/{day.isoformat()}/*"
    return sorted(
        p for p in landing_root.glob(pattern) if p.suffix in LANDING_SUFFIXES and p.is_file()
    )


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(record)"
        message = error["msg"]
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = f"unknown field; valid fields: {', '.join(sorted(CallRecord.model_fields))}"
        parts.append(f"`{key}`: {message}")
    return "; ".join(parts)


def ingest_day(landing_root: Path, day: date, *, default_app: str) -> IngestedDay:
    result = IngestedDay()
    seen: dict[str, str] = {}
    for path in landing_files(landing_root, day):
        relative = str(path.relative_to(landing_root))
        stats = FileStats(relative)
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                call, reason = parse_native_line(line, day=day, default_app=default_app)
                if call is not None and call["call_id"] in seen:
                    call, reason = (
                        None,
                        f"duplicate call_id {call['call_id']!r} (first at {seen[call['call_id']]})",
                    )
                if call is None:
                    stats.rejected += 1
                    result.rejected.append(
                        {
                            "source_file": relative,
                            "source_offset": line_no,
                            "source_format": NATIVE_FORMAT,
                            "reason": reason,
                            "raw": line.rstrip("\n"),
                        }
                    )
                    continue
                call.update(
                    source_file=relative, source_offset=line_no, source_format=NATIVE_FORMAT
                )
                seen[call["call_id"]] = f"{relative}:{line_no}"
                stats.calls += 1
                result.calls.append(call)
        result.files.append(stats)
    return result


def parse_native_line(
    line: str, *, day: date, default_app: str
) -> tuple[dict[str, Any] | None, str]:
    """One native JSONL line -> (call dict, "") or (None, reason)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(data, dict):
        return None, f"expected a JSON object per line, got {type(data).__name__}"
    data.setdefault("app", default_app)
    try:
        record = CallRecord.model_validate(data)
    except ValidationError as exc:
        return None, describe_validation_error(exc)
    if record.ts.date() != day:
        return None, f"`ts` {record.ts.isoformat()} is outside the partition day {day.isoformat()}"
    return record.model_dump(), ""


CALLS_SCHEMA = CALL_ARROW_SCHEMA
CALLS_JSON_COLUMNS = CALL_JSON_COLUMNS


RAW_CALLS_SUITE = "raw_calls_expectations"


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
    ],
    partitions_def=daily_partitions,
    check_specs=[
        dg.AssetCheckSpec(
            RAW_CALLS_SUITE,
            asset="raw_calls",
            blocking=True,
            description="Great Expectations suite: required fields, unique call_id, ts inside the "
            "day, non-negative latency/tokens/cost, plausible cost per token.",
        )
    ],
)
def raw_calls(context: AssetExecutionContext, assay: AssayResource):
    day = date.fromisoformat(context.partition_key)
    ingested = ingest_day(assay.home.landing, day, default_app=assay.config.project.app)
    partition = {"day": context.partition_key}
    calls_path = assay.lake.write_partition(
        "raw_calls",
        ingested.calls,
        partition=partition,
        schema=CALLS_SCHEMA,
        json_columns=CALLS_JSON_COLUMNS,
    )
    rejected_path = assay.lake.write_partition(
        "rejected_calls", ingested.rejected, partition=partition, schema=REJECTED_ARROW_SCHEMA
    )
    if not ingested.files:
        context.log.warning(f"no landing files for {day} under {assay.home.landing}/*/{day}/")
    yield dg.MaterializeResult(
        asset_key="raw_calls",
        metadata={
            **partition_metadata(calls_path, len(ingested.calls)),
            "landing_files": len(ingested.files),
            "per_file": dg.MetadataValue.md(
                "| file | calls | rejected |\n|---|---|---|\n"
                + "\n".join(f"| {f.path} | {f.calls} | {f.rejected} |" for f in ingested.files)
            ),
        },
    )
    reasons = {}
    for row in ingested.rejected:
        key = row["reason"].split(":")[0][:60]
        reasons[key] = reasons.get(key, 0) + 1
    yield dg.MaterializeResult(
        asset_key="rejected_calls",
        metadata={
            **partition_metadata(rejected_path, len(ingested.rejected)),
            "reasons": counts_table(reasons, "reason"),
        },
    )
    frame = assay.lake.read_partition("raw_calls", partition).to_pandas()
    suite = validate_calls_partition(frame, day)
    yield dg.AssetCheckResult(
        asset_key="raw_calls",
        check_name=RAW_CALLS_SUITE,
        passed=suite.passed,
        metadata={
            "expectations": suite.evaluated,
            "failed": dg.MetadataValue.md("\n".join(f"- {f}" for f in suite.failed) or "none"),
        },
    )
