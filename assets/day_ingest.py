"""A day's landing files, normalised to the call record: the plain logic behind the `raw_calls`
and `rejected_calls` assets (`assay.assets.raw_calls`), tested without Dagster.

Landing layout: `ASSAY_HOME/landing/<source>/<YYYY-MM-DD>/<file>` (see assay.landing): any
visible file, in any supported format and shape (JSONL / NDJSON, one JSON document, compact
or pretty-printed, either gzip-compressed), told by content. Every record either becomes a
call (validated against `CallRecord`), a trace span, or a rejected row carrying the record
verbatim, its file and line number (the line of the user's original file, when
`assay ingest` split it by day), and the reason. A bad record never stops the day; a file
that yields nothing at all is itself a rejected row, never silence. Overlapping Langfuse
blob-storage exports give each observation once (`observation_winners`).

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

import numpy as np
import pyarrow as pa

from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS, SOURCE_COLUMNS, CallRecord
from assay.formats import (
    GZIP_ERRORS,
    NATIVE_FORMAT,
    UnknownFormatError,
    is_jsonl_file,
    iter_raw_records,
    parse_line,
    read_records,
    sniff_format,
    validate_native_record,
)
from assay.formats.langfuse import OBSERVATIONS_FORMAT, observation_version
from assay.formats.native_bulk import BulkNativeReader, decided_chunks
from assay.lake import Lake
from assay.landing import LandingNote, landing_files, read_note

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
    undated: int = 0
    """Calls and spans without a timestamp of their own, dated the landing day."""
    superseded: int = 0
    """Observations a later version (another export of the same observation) replaced."""
    elsewhere: int = 0
    """Records of a multi-day document that the copy of another day takes."""


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

    @property
    def undated(self) -> int:
        return sum(f.undated for f in self.files)

    @property
    def superseded(self) -> int:
        return sum(f.superseded for f in self.files)


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


@dataclass(frozen=True)
class DayBounds:
    """The partitions' first day and today: records dated outside them are quarantined with
    a reason that says so (not only "another day")."""

    first_day: date | None = None
    today: date | None = None

    def outside_reason(self, ts: datetime, day: date) -> str:
        when, record_day = ts.isoformat(), ts.date()
        if self.first_day is not None and record_day < self.first_day:
            return (f"`ts` {when} is before the first partition day {self.first_day} (project.start_day): "
                    "set an earlier project.start_day in assay.yaml to ingest it")
        if self.today is not None and record_day > self.today:
            return f"`ts` {when} is in the future (after today, {self.today} UTC)"
        return (f"`ts` {when} is outside the partition day {day.isoformat()} (the day folder the file was "
                "landed in; `assay ingest` files each record under its own day)")


def ingest_day(
    landing_root: Path,
    day: date,
    *,
    default_app: str,
    sink: Callable[[pa.RecordBatch], None] | None = None,
    formats_by_source: Mapping[str, str] | None = None,
    span_sink: Callable[[list[dict[str, Any]]], None] | None = None,
    bounds: DayBounds | None = None,
) -> IngestedDay:
    """Read every landing file of `day`. Accepted calls are kept in `calls`, or, with `sink`,
    handed to it as record batches of up to `BATCH_ROWS` calls as they are made (in file/line
    order) and not kept: memory then stays bounded whatever the size of the day. Trace spans
    likewise go to `span_sink`, in lists of up to `BATCH_ROWS` rows.
    `formats_by_source` (from `sources:` in assay.yaml) names the format of a landing folder;
    files of other folders are recognised by content. `bounds` (the partitions' first day and
    today) word why a record dated outside them is quarantined."""
    # Taken before reading: a file that grows meanwhile shows up as a change, and is re-read.
    result = IngestedDay(landing_fingerprint=landing_fingerprint(landing_root, day))
    state = _DayState(day, default_app, _CallColumns(sink), result, span_sink, bounds or DayBounds())
    with _gc_paused():
        planned = []
        for path in landing_files(landing_root, day):
            file = state.open_file(path, str(path.relative_to(landing_root)))
            try:
                fmt = (formats_by_source or {}).get(Path(file.relative).parts[0]) or sniff_format(path)
            except UnknownFormatError as exc:
                _reject_file(state, file, "unknown", str(exc).replace(str(path), file.relative))
                continue
            except OSError as exc:
                _reject_file(state, file, "unknown", f"{file.relative}: cannot be read: {exc.strerror or exc}")
                continue
            file.stats.format = fmt
            planned.append((file, fmt))
        state.winners = observation_winners([file for file, fmt in planned if fmt == OBSERVATIONS_FORMAT])
        for file, fmt in planned:
            try:
                if fmt == NATIVE_FORMAT and is_jsonl_file(file.path):
                    _ingest_native(state, file)
                else:
                    _ingest_adapted(state, file, fmt)
            except GZIP_ERRORS as exc:  # read up to the damage; the rest cannot be
                _reject_file(state, file, fmt, f"{file.relative}: the gzip stream is damaged or cut short "
                             f"after {file.stats.calls + file.stats.rejected} records: {exc}")
                continue
            stats = file.stats
            if not (stats.calls or stats.rejected or stats.spans or stats.superseded or stats.elsewhere):
                _reject_file(state, file, fmt, f"{file.relative}: no records in it (read as {fmt}: no call, "
                             "span or readable record)")
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
    note: LandingNote | None = None
    """Its sidecar, when `assay ingest` landed it (original file, line map, days)."""

    def original_line(self, line: int) -> int:
        """A line (or record number) of the landed file as it was in the user's file."""
        return self.note.original_line(line) if self.note is not None and self.note.line_runs else line

    def original_lines(self, lines: np.ndarray) -> np.ndarray:
        if self.note is None or not self.note.line_runs:
            return lines
        runs = np.asarray(self.note.line_runs, dtype=np.int64)
        index = np.searchsorted(runs[:, 0], lines, side="right") - 1
        return runs[index, 1] + (lines - runs[index, 0])


def _reject_file(state: "_DayState", file: _File, fmt: str, reason: str) -> None:
    """The whole file as one rejected row (line 0): it could not be read as records at all."""
    file.stats.rejected += 1
    state.result.rejected.append(_rejected_row(file.relative, 0, fmt, reason, _head(file.path)))


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
        bounds: DayBounds,
    ) -> None:
        self.day, self.default_app, self.calls, self.result, self.span_sink = day, default_app, calls, result, span_sink
        self.bounds = bounds
        self.winners: dict[str, tuple[int, int]] = {}
        """Langfuse observation id -> (file index, offset) of the version that wins the day."""
        self.files: list[_File] = []
        # call_id -> (file index << 32 | line): where it was first accepted, for the reason.
        self._seen: dict[str, int] = {}
        self._bulk: BulkNativeReader | None = None

    def open_file(self, path: Path, relative: str) -> _File:
        file = _File(path, relative, len(self.files), FileStats(relative), read_note(path))
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
        first_file = self.files[first >> 32]
        name = first_file.note.original if first_file.note is not None else first_file.relative
        where = f"{name}:{first_file.original_line(first & 0xFFFFFFFF)}"
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
                    record, reason = validate_native(data, day=day, default_app=state.default_app, bounds=state.bounds)
                if record is None:
                    rejected.append(_rejected_row(relative, file.original_line(line_no), NATIVE_FORMAT, reason, line))
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
                    rejected.append(_rejected_row(relative, file.original_line(line_no), NATIVE_FORMAT, reason, raw))
            if not keep.all():
                table = table.filter(pa.array(keep))
        if file.note is not None and file.note.line_runs:  # a split file: the user's line numbers
            offsets = file.original_lines(table.column("source_offset").to_numpy())
            table = table.set_column(table.schema.get_field_index("source_offset"), "source_offset", pa.array(offsets))
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
    """A landing file in another trace format (or a native JSON document): the adapter
    normalises each record; the day, duplicate and quarantine rules are the same as for
    native lines. A document `assay ingest` copied to several days gives each copy only the
    records of its day (those outside the partitions and unreadable ones: the first copy)."""
    day, relative, note = state.day, file.relative, file.note
    day_text = day.isoformat()
    default_day = date.fromisoformat(note.default_day) if note is not None else day
    copy = note if note is not None and note.shape == "document" else None
    quarantines_here = copy is None or copy.first_day == day_text
    winners = state.winners if fmt == OBSERVATIONS_FORMAT else {}
    midnight = datetime.combine(default_day, time.min, tzinfo=UTC)
    for item in read_records(file.path, fmt, default_app=state.default_app, default_ts=midnight):
        reason = item.reason
        record = item.call if item.call is not None else item.span
        if copy is not None:
            owner = copy.owner_day(record["ts"].date().isoformat()) if record is not None else None
            if (owner is not None and owner != day_text) or (owner is None and not quarantines_here):
                file.stats.elsewhere += 1
                continue
        if record is not None and winners:
            key = record.get("call_id") if item.call is not None else record.get("span_id")
            winner = winners.get(key)
            if winner is not None and winner != (file.index, item.offset):
                file.stats.superseded += 1  # an older (or the same) version of an observation
                continue
        offset = file.original_line(item.offset)
        if item.span is not None:
            if item.span["ts"].date() == day:
                file.stats.undated += bool((item.span.get("attributes") or {}).get("ts_assumed"))
                state.add_span(item.span | {"source_file": relative, "source_offset": offset}, file)
                continue
            reason = state.bounds.outside_reason(item.span["ts"], day)
        elif item.call is not None:
            call = CallRecord.model_construct(**item.call)  # validated by the adapter
            if call.ts.date() != day:
                reason = state.bounds.outside_reason(call.ts, day)
            else:
                reason = state.duplicate_reason(call.call_id, file, item.offset)
                if reason is None:
                    state.calls.append(call, relative, offset, fmt)
                    file.stats.calls += 1
                    file.stats.undated += bool((call.metadata or {}).get("ts_assumed"))
                    continue
        file.stats.rejected += 1
        state.result.rejected.append(_rejected_row(relative, offset, fmt, reason or "unreadable record", item.raw))


def observation_winners(files: list[_File]) -> dict[str, tuple[int, int]]:
    """Which version of each Langfuse observation a day keeps, over the day's files of
    enriched observations: (file index, offset) of the winner by observation id.

    Scheduled exports overlap (adjacent windows share their boundary, a re-run rewrites a
    window) and an observation updated after one export (its end, output, usage or cost
    arriving later) is exported again. The version with the latest `updated_at` wins: it is
    what Langfuse holds now. On a tie, or when `updated_at` is not exported, the later file
    wins (landing names sort by export time), and within a file the later line. The other
    versions are counted as superseded, not quarantined: they are not bad records."""
    best: dict[str, tuple[str, int, int]] = {}
    for file in files:
        for offset, row in iter_raw_records(file.path, OBSERVATIONS_FORMAT):
            version = observation_version(row)
            if version is None:
                continue
            observation_id, updated_at = version
            candidate = (updated_at, file.index, offset)
            if observation_id not in best or candidate > best[observation_id]:
                best[observation_id] = candidate
    return {observation_id: (index, offset) for observation_id, (_, index, offset) in best.items()}


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


def validate_native(
    data: Any, *, day: date, default_app: str, bounds: DayBounds | None = None
) -> tuple[CallRecord | None, str]:
    """One parsed native line -> (validated record, "") or (None, reason), its day included."""
    record, reason = validate_native_record(data, default_app=default_app)
    if record is not None and record.ts.date() != day:
        return None, (bounds or DayBounds()).outside_reason(record.ts, day)
    return record, reason
