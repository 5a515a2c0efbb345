"""`raw_calls` + `rejected_calls`: a day's landing files, normalised to the call record.

Landing layout: `ASSAY_HOME/landing/<source>/<YYYY-MM-DD>/*.jsonl`. Every line either
becomes a call (validated against `CallRecord`) or a rejected row carrying the line verbatim,
its file and line number, and the reason. A bad line never stops the day.

Speed (bench/ingest.py, 1,000,000 native calls of ~2 KB on 2 cores). The first version ran
json.loads + pydantic + model_dump per line into row dicts: ~6,300 calls/s, 10.3 GB peak RSS.
Now:

- native files are read in 32 MB chunks of whole lines, handed to DuckDB as one Arrow string
  array without a copy; one query generated from `CallRecord` decides the plain lines in
  bulk (`assay.formats.native_bulk`), the next chunk in a background thread;
- every line the bulk path leaves (lax types, another day, bad JSON or UTF-8, unknown keys)
  takes the per-line path: `model_validate_json` on the bytes when valid as is, else
  `parse_line` (strict UTF-8, `from_json`, json.loads for the wording) and
  `CallRecord.model_validate`, which decide and word the reason;
- the chunk's calls are put back in line order, deduplicated by call_id, and handed on as
  Arrow batches: costs filled, PII redacted (RE2 picks the texts worth scanning), appended
  to the partition's Parquet file. Memory is two chunks and a batch, not the day;
- other formats go record by record through their adapter into the same batches; their
  non-LLM spans are streamed to `trace_spans` the same way.
"""

import gc
import hashlib
import json
import operator
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from json.encoder import c_make_encoder, encode_basestring
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
from dagster import AssetExecutionContext

from assay.config import RedactionConfig
from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS, SOURCE_COLUMNS, CallRecord
from assay.contracts.rejected import REJECTED_ARROW_SCHEMA
from assay.contracts.span import SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS
from assay.formats import (
    NATIVE_FORMAT,
    UnknownFormatError,
    parse_line,
    read_records,
    sniff_format,
    validate_native_record,
)
from assay.formats.native_bulk import BulkNativeReader, decided_chunks
from assay.lake import Lake, atomic_write_text
from assay.pricing import fill_missing_costs
from assay.redaction import Redactor
from assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assets._metadata import counts_table, partition_metadata
from assets.partitions import daily_partitions
from assets.quality import validate_calls_partition
from assets.resources import AssayResource

LANDING_SUFFIXES = (".jsonl", ".ndjson")
BATCH_ROWS = 10_000
"""Calls per Arrow record batch: bounds the Python objects alive at once (~100 MB)."""



def _json_text_encoder() -> Callable[[Any], str]:
    """The text of a nested column: compact JSON, keys in the order received, as DuckDB
    writes it for the lines `BulkNativeReader` reads (json.dumps(separators=(",", ":"),
    ensure_ascii=False, default=str)), minus json.dumps' per-call setup: the C encoder is
    built once, without the circular-reference check (parsed JSON holds no cycles).
    Measured on demo calls: 17 us -> 9 us per call for the six nested columns."""
    if c_make_encoder is None:  # no C accelerator: the pure-Python encoder, same text
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
    iterencode = c_make_encoder(None, str, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(iterencode(value, 0))


_encode_json = _json_text_encoder()


@dataclass
class FileStats:
    path: str
    calls: int = 0
    rejected: int = 0
    spans: int = 0
    format: str = ""


@dataclass
class IngestedDay:
    calls: pa.Table = field(default_factory=CALL_ARROW_SCHEMA.empty_table)
    """Accepted calls in `CALL_ARROW_SCHEMA` (nested columns as JSON text), in file/line order."""
    rejected: list[dict[str, Any]] = field(default_factory=list)
    """Rows of `REJECTED_ARROW_SCHEMA`, in file/line order."""
    files: list[FileStats] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    """Non-LLM steps of the traces (tools, agents, chains): rows of `SPAN_ARROW_SCHEMA` (with
    `span_sink`: only those not yet handed to it)."""
    span_count: int = 0
    span_kinds: Counter = field(default_factory=Counter)
    landing_fingerprint: str = ""
    """Of the landing files as they were when ingestion started (see landing_fingerprint)."""
    call_count: int = 0
    """Accepted calls: the rows of `calls`, or of the batches given to the sink when streaming."""


LANDING_FINGERPRINT_FILE = "_landing.json"
"""Beside a raw_calls partition: which landing files it was ingested from."""


def landing_fingerprint(landing_root: Path, day: date) -> str:
    """Changes when a file lands, grows or is rewritten for `day` (path, size, mtime)."""
    entries = []
    for path in landing_files(landing_root, day):
        stat = path.stat()
        entries.append((str(path.relative_to(landing_root)), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def ingested_fingerprint(lake: Lake, day_key: str) -> str | None:
    """The landing fingerprint the day's raw_calls partition was built from (None: never)."""
    path = lake.partition_dir("raw_calls", {"day": day_key}) / LANDING_FINGERPRINT_FILE
    try:
        return json.loads(path.read_text())["landing_fingerprint"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def landing_files(landing_root: Path, day: date) -> list[Path]:
    """Files landed for `day` by any source, in a stable order."""
    pattern = f"*/{day.isoformat()}/*"
    return sorted(
        p for p in landing_root.glob(pattern) if p.suffix in LANDING_SUFFIXES and p.is_file()
    )


def _records_batch(
    values: list[tuple[Any, ...]], source_files: list[str], source_offsets: list[int], source_formats: list[str]
) -> pa.RecordBatch:
    """Validated records (as `_MODEL_VALUES` tuples) and where they were read, as a batch of
    `CALL_ARROW_SCHEMA`."""
    columns = dict(zip(_MODEL_COLUMNS, zip(*values, strict=True), strict=True))
    for name in CALL_JSON_COLUMNS:
        columns[name] = [None if v is None else _encode_json(v) for v in columns[name]]
    columns["source_file"] = source_files
    columns["source_offset"] = source_offsets
    columns["source_format"] = source_formats
    arrays = [pa.array(columns[f.name], type=f.type) for f in CALL_ARROW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=CALL_ARROW_SCHEMA)


class _CallColumns:
    """Accepted calls, in file/line order: records are buffered as value tuples and flushed
    to Arrow record batches; bulk-read tables are passed on as they are."""

    def __init__(self, sink: Callable[[pa.RecordBatch], None] | None = None) -> None:
        self.batches: list[pa.RecordBatch] = []
        self._sink = sink
        self.rows = 0
        self._values: list[tuple[Any, ...]] = []
        self._source_files: list[str] = []
        self._source_offsets: list[int] = []
        self._source_formats: list[str] = []

    def append(self, record: CallRecord, source_file: str, line_no: int, source_format: str = NATIVE_FORMAT) -> None:
        # One C-level itemgetter per call instead of 35 Python-level appends.
        self._values.append(_MODEL_VALUES(record.__dict__))
        self._source_files.append(source_file)
        self._source_offsets.append(line_no)
        self._source_formats.append(source_format)
        self.rows += 1
        if len(self._values) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._values:
            return
        batch = _records_batch(self._values, self._source_files, self._source_offsets, self._source_formats)
        self._values, self._source_files, self._source_offsets, self._source_formats = [], [], [], []
        self._pass_on(batch)

    def extend(self, table: pa.Table) -> None:
        """Calls already in `CALL_ARROW_SCHEMA` (a bulk-read chunk), after those appended."""
        self.flush()
        self.rows += table.num_rows
        # A bulk-read chunk comes in DuckDB's small batches (see `native_bulk.SLICE_BYTES`);
        # the sink's costs, redaction and Parquet row group cost less per row in batches of
        # BATCH_ROWS (per 63k rows: 0.31 CPU-s against 0.42 in batches of 2k).
        for batch in table.combine_chunks().to_batches(max_chunksize=BATCH_ROWS):
            self._pass_on(batch)

    def _pass_on(self, batch: pa.RecordBatch) -> None:
        if self._sink is None:
            self.batches.append(batch)
        else:
            self._sink(batch)

    def table(self) -> pa.Table:
        self.flush()
        return pa.Table.from_batches(self.batches, schema=CALL_ARROW_SCHEMA)


_MODEL_COLUMNS = [name for name in CALL_ARROW_SCHEMA.names if name not in SOURCE_COLUMNS]
_MODEL_VALUES = operator.itemgetter(*_MODEL_COLUMNS)


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ingest_day(
    landing_root: Path,
    day: date,
    *,
    default_app: str,
    sink: Callable[[pa.RecordBatch], None] | None = None,
    formats_by_source: Mapping[str, str] | None = None,
    span_sink: Callable[[list[dict[str, Any]]], None] | None = None,
) -> IngestedDay:
    """Read every landing file of `day`. Accepted calls are kept in `calls`, or, with `sink`,
    handed to it as record batches of up to `BATCH_ROWS` calls as they are made (in file/line
    order) and not kept: memory then stays bounded whatever the size of the day. Trace spans
    likewise go to `span_sink`, in lists of up to `BATCH_ROWS` rows.
    `formats_by_source` (from `sources:` in assay.yaml) names the format of a landing folder;
    files of other folders are recognised by content."""
    # Taken before reading: a file that grows meanwhile shows up as a change, and is re-read.
    result = IngestedDay(landing_fingerprint=landing_fingerprint(landing_root, day))
    state = _DayState(day, default_app, _CallColumns(sink), result, span_sink)
    with _gc_paused():
        for path in landing_files(landing_root, day):
            file = state.open_file(path, str(path.relative_to(landing_root)))
            try:
                fmt = (formats_by_source or {}).get(Path(file.relative).parts[0]) or sniff_format(path)
            except UnknownFormatError as exc:
                file.stats.rejected += 1
                result.rejected.append(_rejected_row(file.relative, 0, "unknown", str(exc), _head(path)))
                continue
            file.stats.format = fmt
            if fmt == NATIVE_FORMAT:
                _ingest_native(state, file)
            else:
                _ingest_adapted(state, file, fmt)
        state.close()
    result.calls = state.calls.table()
    result.call_count = state.calls.rows
    return result


@dataclass
class _File:
    path: Path
    relative: str
    """The path under the landing root: what rejected rows and calls name as their source."""
    index: int
    stats: FileStats


class _DayState:
    """What reading one day's files shares: where accepted calls and spans go, the call_ids
    seen so far, and DuckDB for the native files (opened at the first)."""

    def __init__(
        self,
        day: date,
        default_app: str,
        calls: _CallColumns,
        result: IngestedDay,
        span_sink: Callable[[list[dict[str, Any]]], None] | None,
    ) -> None:
        self.day, self.default_app, self.calls, self.result, self.span_sink = day, default_app, calls, result, span_sink
        self.files: list[_File] = []
        # call_id -> (file index << 32 | line): where it was first accepted, for the reason.
        self._seen: dict[str, int] = {}
        self._bulk: BulkNativeReader | None = None

    def open_file(self, path: Path, relative: str) -> _File:
        file = _File(path, relative, len(self.files), FileStats(relative))
        self.files.append(file)
        self.result.files.append(file.stats)
        return file

    def duplicate_reason(self, call_id: str, file: _File, offset: int) -> str | None:
        """None for the first accepted record of `call_id` in the day (now remembered), else
        the reason its later copy is quarantined."""
        first = self._seen.get(call_id)
        if first is None:
            self._seen[call_id] = file.index << 32 | offset
            return None
        where = f"{self.files[first >> 32].relative}:{first & 0xFFFFFFFF}"
        return f"duplicate call_id {call_id!r} (first at {where})"

    def remember_new_call_ids(self, call_ids: list[str], file: _File, offsets: np.ndarray) -> bool:
        """The common case in one step: when none of `call_ids` was seen and none repeats,
        remember them all (as `duplicate_reason` would, one by one) and return True. Otherwise
        remember nothing and return False: the caller goes call by call."""
        if len(set(call_ids)) != len(call_ids) or not self._seen.keys().isdisjoint(call_ids):
            return False
        where = (np.asarray(offsets, dtype=np.int64) | (file.index << 32)).tolist()
        self._seen.update(zip(call_ids, where, strict=True))
        return True

    def add_span(self, row: dict[str, Any], file: _File) -> None:
        result = self.result
        result.spans.append(row)
        result.span_count += 1
        result.span_kinds[str(row.get("kind"))] += 1
        file.stats.spans += 1
        if self.span_sink is not None and len(result.spans) >= BATCH_ROWS:
            self.span_sink(result.spans)
            result.spans = []

    def bulk_reader(self) -> BulkNativeReader:
        if self._bulk is None:
            self._bulk = BulkNativeReader(default_app=self.default_app, day=self.day)
        return self._bulk

    def close(self) -> None:
        if self._bulk is not None:
            self._bulk.close()
        if self.span_sink is not None and self.result.spans:
            self.span_sink(self.result.spans)
            self.result.spans = []


def _ingest_native(state: _DayState, file: _File) -> None:
    """A native JSONL file, chunk by chunk: DuckDB accepts the plain lines in bulk
    (`BulkNativeReader`), the per-line reader decides the rest; then the chunk's calls are
    put back in line order and duplicates quarantined, exactly as line by line."""
    day, relative = state.day, file.relative
    for chunk, fast, undecided in decided_chunks(file.path, state.bulk_reader()):
        values: list[tuple[Any, ...]] = []
        value_lines: list[int] = []
        rejected: list[dict[str, Any]] = []
        for line_no in undecided.tolist():
            # Bytes, decoded strictly: a line that is not UTF-8 is quarantined with why,
            # never accepted with replacement characters in it.
            line_bytes = chunk.line(line_no - chunk.first_line_no)
            if line_no == 1:
                line_bytes = line_bytes.lstrip(b"\xef\xbb\xbf")  # a BOM is not content
            if not line_bytes.strip():
                continue
            record = _validate_fast(line_bytes, day)
            if record is None:  # the reference path decides, and words the reason
                data, line, reason = parse_line(line_bytes)
                if reason is None:
                    record, reason = validate_native(data, day=day, default_app=state.default_app)
                if record is None:
                    rejected.append(_rejected_row(relative, line_no, NATIVE_FORMAT, reason, line))
                    continue
            values.append(_MODEL_VALUES(record.__dict__))
            value_lines.append(line_no)
        table = _with_source(fast, relative)
        if values:
            table = pa.concat_tables([
                table,
                pa.Table.from_batches([_records_batch(values, [relative] * len(values), value_lines, [NATIVE_FORMAT] * len(values))]),
            ]).sort_by("source_offset")
        # Duplicates: the first accepted line of a call_id (across the day's files) keeps it.
        call_ids = table.column("call_id").to_pylist()
        line_nos = table.column("source_offset").to_numpy()
        if not state.remember_new_call_ids(call_ids, file, line_nos):
            keep = np.ones(table.num_rows, dtype=bool)
            for row, (call_id, line_no) in enumerate(zip(call_ids, line_nos.tolist(), strict=True)):
                reason = state.duplicate_reason(call_id, file, line_no)
                if reason is not None:
                    keep[row] = False
                    raw = parse_line(chunk.line(line_no - chunk.first_line_no))[1]
                    rejected.append(_rejected_row(relative, line_no, NATIVE_FORMAT, reason, raw))
            if not keep.all():
                table = table.filter(pa.array(keep))
        state.calls.extend(table)
        file.stats.calls += table.num_rows
        file.stats.rejected += len(rejected)
        state.result.rejected.extend(sorted(rejected, key=operator.itemgetter("source_offset")))


def _with_source(fast: pa.Table, relative: str) -> pa.Table:
    """A bulk-read table (`line_no` + the record's columns) in `CALL_ARROW_SCHEMA`."""
    rows = fast.num_rows
    columns = {
        "source_file": pa.repeat(pa.scalar(relative, pa.string()), rows),
        "source_offset": fast.column("line_no"),
        "source_format": pa.repeat(pa.scalar(NATIVE_FORMAT, pa.string()), rows),
    }
    return pa.Table.from_arrays(
        [columns[f.name] if f.name in columns else fast.column(f.name) for f in CALL_ARROW_SCHEMA],
        schema=CALL_ARROW_SCHEMA,
    )


def _rejected_row(source_file: str, offset: int, fmt: str, reason: str, raw: str) -> dict[str, Any]:
    return {"source_file": source_file, "source_offset": offset, "source_format": fmt, "reason": reason, "raw": raw}


def _head(path: Path, limit: int = 2000) -> str:
    """The start of a file that could not be read as any format, kept as its quarantined raw."""
    with path.open("rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _ingest_adapted(state: _DayState, file: _File, fmt: str) -> None:
    """A landing file in another trace format: the adapter normalises each record; the day,
    duplicate and quarantine rules are the same as for native lines."""
    day, relative = state.day, file.relative
    midnight = datetime.combine(day, time.min, tzinfo=UTC)
    for item in read_records(file.path, fmt, default_app=state.default_app, default_ts=midnight):
        reason = item.reason
        if item.span is not None:
            span_day = item.span["ts"].date() if item.span.get("ts") else day
            if span_day == day:
                state.add_span(item.span | {"source_file": relative, "source_offset": item.offset}, file)
                continue
            reason = f"`ts` {item.span['ts'].isoformat()} is outside the partition day {day.isoformat()}"
        elif item.call is not None:
            record = CallRecord.model_construct(**item.call)  # validated by the adapter
            if record.ts.date() != day:
                reason = f"`ts` {record.ts.isoformat()} is outside the partition day {day.isoformat()}"
            else:
                reason = state.duplicate_reason(record.call_id, file, item.offset)
                if reason is None:
                    state.calls.append(record, relative, item.offset, fmt)
                    file.stats.calls += 1
                    continue
        file.stats.rejected += 1
        state.result.rejected.append(_rejected_row(relative, item.offset, fmt, reason or "unreadable record", item.raw))


_validate_json = CallRecord.model_validate_json


def _validate_fast(line_bytes: bytes, day: date) -> CallRecord | None:
    """The record of a line that is valid as it is, in one step (pydantic parses the bytes
    straight into the model: no intermediate dict), else None.

    Only ever accepts: a line that fails here for any reason (not JSON, not UTF-8, a lone
    surrogate, no `app` to default, a wrong type, another day) goes through `parse_line` +
    `validate_native`, which decide and word the reason exactly as before. What it accepts,
    the reference path accepts with the same values: the same JSON parser (`from_json` is
    pydantic's) and the same model."""
    try:
        record = _validate_json(line_bytes)
    except Exception:  # noqa: BLE001 - any doubt: the reference path decides
        return None
    return record if record.ts.date() == day else None


def validate_native(data: Any, *, day: date, default_app: str) -> tuple[CallRecord | None, str]:
    """One parsed native line -> (validated record, "") or (None, reason), its day included."""
    record, reason = validate_native_record(data, default_app=default_app)
    if record is not None and record.ts.date() != day:
        return None, f"`ts` {record.ts.isoformat()} is outside the partition day {day.isoformat()}"
    return record, reason


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
            span_sink=span_sink,
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
    prices = {model: price.model_dump() for model, price in assay.config.pricing.items()}
    done = materialise_day(
        assay.lake,
        assay.home.landing,
        day,
        default_app=assay.config.project.app,
        prices=prices,
        redaction=assay.config.redaction,
        day_key=context.partition_key,
        formats_by_source={name: source.format for name, source in assay.config.sources.items() if source.format},
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
            "cost_sources": counts_table(cost_sources, "cost_source"),
            "redacted_entities": counts_table(redacted, "entity"),
            "per_file": dg.MetadataValue.md(
                "| file | format | calls | spans | rejected |\n|---|---|---|---|---|\n"
                + "\n".join(f"| {f.path} | {f.format} | {f.calls} | {f.spans} | {f.rejected} |" for f in ingested.files)
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
