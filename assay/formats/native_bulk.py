"""Bulk reading of native JSONL: DuckDB decides the plain lines of a chunk at once.

The per-line reader (`parse_line` + `CallRecord.model_validate`) costs ~100 us a call in
Python; a million-call day is then minutes. Most lines of a real day are plain: a JSON object
with the contract's keys and the contract's JSON types. DuckDB parses and checks those in
bulk (vectorised, on every core); every other line is left *undecided* and goes to the
per-line reader, which decides it and words the reason exactly as before.

The bulk path only ever accepts, and only lines the per-line reader accepts with the same
values (tests/unit/test_native_bulk.py checks this over thousands of mutated records):

- the SQL is generated from `CallRecord`'s fields (their types, `min_length`, `ge`, literal
  choices, defaults), so the contract has one definition;
- a value is taken only when its JSON type is the one pydantic accepts as is (a string for
  `str`, a number for `float`, an integer for `int`, an object for `dict`, ...); pydantic's
  lax coercions ("12" for an int, 5.0 for an int, an epoch number for `ts`) are left to it;
- `ts` only as `YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+HH:MM]`, read with the same UTC rules;
- an explicit `null` where the contract has a non-null default (`environment`, `status`,
  `messages`, `source_format`, and `app`) is left undecided (pydantic rejects it);
- a number field holding `NaN`, `Infinity` or an integer beyond int64, a line with unknown or
  repeated keys, or one that is not valid UTF-8 or JSON (a lone surrogate escape included)
  is left undecided.

Nested values (`messages`, `params`, ...) are stored as DuckDB writes them: compact JSON, keys
in the order received, big integers exact. The per-line reader writes the same text (see
`raw_calls._encode_json`); only the spelling of a few numbers can differ (1e-7 vs 1e-07).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
import typing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from assay.contracts.call import CALL_ARROW_SCHEMA, SOURCE_COLUMNS, CallRecord

SLICE_BYTES = 512 * 1024
"""About how many bytes of lines DuckDB gets in one Arrow record batch. The query runs
several JSON functions over each vector of lines in turn, each parsing every line again:
with slices that fit a core's L2 cache the re-parses hit the cache. On a 1M-call day of
2 KB lines, 512 KB slices took 3.6-3.9 CPU-s per 253k lines against 5.2-5.3 with 4 MB."""

DECIDING_AHEAD = 2
"""Chunks decided at once, each by its own DuckDB cursor, while the caller handles one."""

_ISO_TS = r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str
    """str | float | int | object | object_list | str_list | ts"""
    optional: bool
    """None is a valid value."""
    has_default: bool
    default: Any
    min_length: int | None = None
    ge: float | None = None
    choices: tuple[str, ...] | None = None


def _fields() -> list[_Field]:
    """`CallRecord`'s fields as the bulk checks need them. Raises on a field type the bulk
    path does not know, so a contract change cannot silently loosen the checks."""
    out = []
    for name, info in CallRecord.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        optional = type(None) in args
        core = next((a for a in args if a is not type(None)), annotation) if optional else annotation
        origin, inner = typing.get_origin(core), typing.get_args(core)
        choices = None
        if origin is typing.Literal:
            kind, choices = "str", tuple(inner)
        elif core is str:
            kind = "str"
        elif core is float:
            kind = "float"
        elif core is int:
            kind = "int"
        elif core.__name__ == "datetime":
            kind = "ts"
        elif origin is dict:
            kind = "object"
        elif origin is list and inner and typing.get_origin(inner[0]) is dict:
            kind = "object_list"
        elif origin is list and inner == (str,):
            kind = "str_list"
        else:
            raise TypeError(f"native_bulk: CallRecord.{name} has a type the bulk reader does not check: {annotation}")
        min_length = ge = None
        for meta in info.metadata:
            min_length = getattr(meta, "min_length", min_length)
            ge = getattr(meta, "ge", ge)
        default = info.get_default(call_default_factory=True) if not info.is_required() else None
        out.append(_Field(name, kind, optional, not info.is_required(), default, min_length, ge, choices))
    return out


FIELDS = _fields()
_JSON_TYPES = {
    "str": ("VARCHAR",),
    "ts": ("VARCHAR",),
    "float": ("DOUBLE", "BIGINT", "UBIGINT"),
    "int": ("BIGINT", "UBIGINT"),  # yyjson types non-negative integers UBIGINT
    "object": ("OBJECT",),
    "object_list": ("ARRAY",),
    "str_list": ("ARRAY",),
}


_SQL_TYPES = {"str": "VARCHAR", "ts": "VARCHAR", "float": "DOUBLE", "int": "BIGINT"}
"""What `json_transform` reads each kind as (nested kinds: their JSON text)."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_sql(f: _Field) -> str:
    v = f"v.{f.name}"
    if f.kind == "ts":
        return f"TRY_CAST({v} AS TIMESTAMPTZ)"
    if f.kind in ("object", "object_list", "str_list"):
        return f"CAST({v} AS VARCHAR)"
    return v


def _check_sql(f: _Field, index: int) -> str:
    """True when the line's value for `f` is one pydantic accepts as is (absent included).
    `types[index]` is the JSON type of the value: NULL when the key is absent, 'NULL' for
    `null` (json_transform gives SQL NULL for both)."""
    v, json_type = f"v.{f.name}", f"types[{index}]"
    checks = [f"{json_type} IN ({', '.join(_quote(t) for t in _JSON_TYPES[f.kind])})"]
    value = _value_sql(f)
    if f.kind == "ts":
        checks += [f"regexp_full_match({v}, {_quote(_ISO_TS)})", f"{value} IS NOT NULL"]
    if f.kind == "int":  # NULL: beyond int64
        checks.append(f"{value} IS NOT NULL")
    if f.kind == "float":  # NaN compares greater than any number in DuckDB, not in pydantic
        checks.append(f"isfinite({value})")
    if f.kind in ("object_list", "str_list"):
        element = "OBJECT" if f.kind == "object_list" else "VARCHAR"
        # (no lambdas here or below: binding one costs ~1 ms, and the query is bound per chunk)
        checks.append(f"list_has_all(['{element}'], json_type({v}, '$[*]'))")
    if f.min_length is not None:
        checks.append(f"length({value}) >= {int(f.min_length)}")
    if f.ge is not None:
        checks.append(f"{value} >= {float(f.ge)!r}")
    if f.choices is not None:
        checks.append(f"{value} IN ({', '.join(_quote(c) for c in f.choices)})")
    typed = " AND ".join(checks)
    if f.optional:
        return f"({json_type} IS NULL OR {json_type} = 'NULL' OR ({typed}))"
    if f.has_default or f.name == "app":  # absent: the default (app: the configured one)
        return f"({json_type} IS NULL OR ({typed}))"
    return f"({json_type} IS NOT NULL AND {typed})"


def _column_sql(f: _Field, default_app: str) -> str:
    value = _value_sql(f)
    if f.name == "app":
        return f"coalesce({value}, {_quote(default_app)}) AS app"
    if f.has_default and f.default is not None and not f.optional:
        default = json.dumps(f.default, separators=(",", ":")) if f.kind in ("object", "object_list", "str_list") else f.default
        return f"coalesce({value}, {_quote(str(default))}) AS {f.name}"
    return f"{value} AS {f.name}"


def bulk_sql(*, default_app: str, day: date) -> str:
    """The query over a table `lines(line_no BIGINT, line VARCHAR)`: `line_no` and the call's
    columns of each line the bulk path accepts; the others are left undecided. Each line
    is parsed three times: the JSON types of the contract's keys, the count of its keys (an
    unknown or repeated key makes it differ), and the typed values."""
    paths = "[" + ", ".join(_quote(f"$.{f.name}") for f in FIELDS) + "]"
    structure = json.dumps({f.name: _SQL_TYPES.get(f.kind, "JSON") for f in FIELDS})
    checks = [_check_sql(f, index) for index, f in enumerate(FIELDS, start=1)]
    if not default_app:
        checks.append(f"types[{[f.name for f in FIELDS].index('app') + 1}] IS NOT NULL")
    columns = [_column_sql(f, default_app) for f in FIELDS if f.name not in SOURCE_COLUMNS]
    return f"""
WITH parsed AS NOT MATERIALIZED (
    -- NULL for a line that is not JSON (or not UTF-8 once unescaped: a lone surrogate),
    -- the parse error caught by TRY (a separate json_valid would parse every line once
    -- more); all NULL for one that is not an object, which then lacks call_id.
    SELECT line_no, line,
        TRY(json_type(line, {paths})) AS types
    FROM lines
), fields AS NOT MATERIALIZED (
    SELECT line_no, types,
        CASE WHEN types IS NOT NULL THEN len(json_type(line, '$.*')) END AS key_count,
        CASE WHEN types IS NOT NULL THEN json_transform(line, {_quote(structure)}) END AS v
    FROM parsed
)
SELECT * EXCLUDE (ok) FROM (
    SELECT line_no,
        coalesce(
            types IS NOT NULL
            AND key_count = list_aggr(types, 'count')  -- the contract's keys present
            AND {' AND '.join(checks)}
            -- another day's call: the per-line reader quarantines it, with its reason
            AND CAST(TRY_CAST(v.ts AS TIMESTAMPTZ) AS DATE) = DATE {_quote(day.isoformat())},
            FALSE
        ) AS ok,
        {', '.join(columns)}
    FROM fields
)
WHERE ok
"""


class BulkNativeReader:
    """Decides the plain lines of native JSONL chunks: one in-memory DuckDB database, a cursor
    per deciding thread."""

    def __init__(self, *, default_app: str, day: date, threads: int | None = None):
        import duckdb

        self.day = day
        # `decided_chunks` runs DECIDING_AHEAD queries at once: the cores are shared between
        # them rather than each query's threads competing with the other's.
        threads = threads or max(1, (os.cpu_count() or 1) // DECIDING_AHEAD)
        self._con = duckdb.connect(config={"threads": threads})
        # Naive timestamps are UTC (as `as_utc` reads them), whatever the machine's zone.
        self._con.execute("SET TimeZone = 'UTC'")
        self._per_thread = threading.local()
        self._sql = bulk_sql(default_app=default_app, day=day)
        self._target = pa.schema([pa.field("line_no", pa.int64())] + [
            field for field in CALL_ARROW_SCHEMA if field.name not in SOURCE_COLUMNS
        ])

    def _cursor(self) -> Any:
        """This thread's connection to the reader's database (chunks are decided in parallel);
        it goes with its thread."""
        con = getattr(self._per_thread, "con", None)
        if con is None:
            con = self._per_thread.con = self._con.cursor()
            con.execute("SET TimeZone = 'UTC'")
        return con

    def close(self) -> None:
        self._con.close()

    def decide(self, lines: pa.StringArray, line_nos: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """(accepted calls of the partition's day with their `line_no`, in line order; the
        line numbers left to the per-line reader, in order)."""
        if len(lines) == 0:
            return self._target.empty_table(), np.empty(0, dtype=np.int64)
        numbers = pa.array(line_nos, pa.int64())
        table = pa.Table.from_arrays([numbers, lines], names=["line_no", "line"])
        slices = max(1, -(-lines.nbytes // SLICE_BYTES))
        step = max(1, -(-len(lines) // slices))
        table = pa.Table.from_batches(table.to_batches(max_chunksize=step))
        con = self._cursor()
        con.register("lines", table)
        try:
            result = con.sql(self._sql).to_arrow_table()
        finally:
            con.unregister("lines")
        if not _ascending(result.column("line_no")):  # DuckDB keeps insertion order; make sure
            result = result.sort_by("line_no")
        # Only accepted lines come back (filtering in DuckDB saves copying the table in Arrow).
        undecided = np.setdiff1d(line_nos, result.column("line_no").to_numpy(), assume_unique=True)
        return result.select(self._target.names).cast(self._target), undecided


def _ascending(column: pa.ChunkedArray) -> bool:
    values = column.to_numpy()
    return bool(np.all(values[1:] > values[:-1]))


CHUNK_BYTES = 64 * 1024 * 1024
"""Bytes of a file read and decided at once: bounds memory whatever the size of the day
(about DECIDING_AHEAD + 2 chunks, their decided calls and DuckDB's working memory). Each
chunk's query is parsed and bound anew, 20-30 ms of CPU: at 32 MB that was 64 times for a
2 GB day. 64 MB chunks measured 0.4-1.6 s faster on that day in 5 of 6 paired runs, for
~230 MB more peak RSS."""


@dataclass
class LineChunk:
    """Consecutive whole lines of a file: `data[starts[i]:ends[i]]` is line `first_line_no + i`
    (with its line break). `data` may run on past the last line (a reused read buffer)."""

    data: bytes | bytearray
    starts: np.ndarray
    ends: np.ndarray
    first_line_no: int

    def __len__(self) -> int:
        return len(self.ends)

    def line(self, index: int) -> bytes:
        return bytes(memoryview(self.data)[self.starts[index] : self.ends[index]])

    @property
    def line_nos(self) -> np.ndarray:
        return np.arange(self.first_line_no, self.first_line_no + len(self.ends), dtype=np.int64)

    def strings(self) -> pa.StringArray:
        """The lines as Arrow strings without a copy; a line that is not UTF-8 is given as
        an empty string (the per-line reader decides it and words the reason)."""
        offsets = np.concatenate(([0], self.ends)).astype(np.int32)
        lines = pa.StringArray.from_buffers(len(self.ends), pa.py_buffer(offsets), pa.py_buffer(self.data))
        try:
            lines.validate(full=True)
            return lines
        except pa.ArrowInvalid:  # rare: find the lines that are not UTF-8
            texts = []
            for index in range(len(self)):
                try:
                    texts.append(self.line(index).decode("utf-8"))
                except UnicodeDecodeError:
                    texts.append("")
            return pa.array(texts, pa.string())


def line_chunks(path: Any, chunk_bytes: int = CHUNK_BYTES) -> Iterator[LineChunk]:
    """A file as chunks of whole lines of about `chunk_bytes` (a longer line: one chunk).

    Each chunk is one read into a reused buffer (`_Blocks`); the partial line after its
    last line break is read again as the start of the next chunk (a seek back)."""
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if compressed:
        yield from _gzip_line_chunks(path, chunk_bytes)
        return
    blocks = _Blocks(chunk_bytes)
    first_line_no = 1
    with open(path, "rb") as handle:
        while size := handle.readinto(data := blocks.take()):
            ends = _line_ends(data, size)
            if len(ends) == 0:  # a line longer than a block, or the last line without a break
                data = bytes(memoryview(data)[:size])  # rare: fresh memory, joined
                while len(ends) == 0 and (more := handle.read(chunk_bytes)):
                    ends = _line_ends(more, len(more)) + len(data)
                    data += more
                size = len(data)
                if len(ends) == 0:
                    yield LineChunk(data, np.array([0]), np.array([size]), first_line_no)
                    return
            if tail := size - int(ends[-1]):
                handle.seek(-tail, os.SEEK_CUR)
            starts = np.concatenate(([0], ends[:-1]))
            yield LineChunk(data, starts, ends, first_line_no)
            first_line_no += len(ends)


def _gzip_line_chunks(path: Any, chunk_bytes: int) -> Iterator[LineChunk]:
    """`line_chunks` of a gzip file: a gzip stream cannot seek back cheaply, so the partial
    last line of each read is carried into the next chunk instead. Damage to the stream
    raises (gzip.BadGzipFile, EOFError or zlib.error) after the last whole chunk."""
    first_line_no = 1
    tail = b""
    with gzip.open(path, "rb") as handle:
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                if tail:
                    yield LineChunk(tail, np.array([0]), np.array([len(tail)]), first_line_no)
                return
            data = tail + block
            ends = _line_ends(data, len(data))
            if len(ends) == 0:
                tail = data
                continue
            cut = int(ends[-1])
            data, tail = data[:cut], data[cut:]
            yield LineChunk(data, np.concatenate(([0], ends[:-1])), ends, first_line_no)
            first_line_no += len(ends)


class _Blocks:
    """Read buffers of `size` bytes, each reused once nothing refers to it any more (its
    chunk, a view of it, Arrow strings over it are all gone). Reading into fresh memory
    cost a page fault every 4 KB: 1.4 CPU-s for a 2 GB day against 0.45 into reused
    buffers. A buffer still referred to is never handed out again."""

    KEEP = 8
    """Buffers kept for reuse; a file in flight holds DECIDING_AHEAD + 2 at most."""

    def __init__(self, size: int):
        self._size = size
        self._kept: list[bytearray] = []

    def take(self) -> bytearray:
        for buffer in self._kept:
            if sys.getrefcount(buffer) == 3:  # the list, `buffer` and getrefcount's argument
                return buffer
        buffer = bytearray(self._size)
        if len(self._kept) < self.KEEP:
            self._kept.append(buffer)
        return buffer


def _line_ends(data: bytes | bytearray, size: int) -> np.ndarray:
    """The offset just past each line break in `data[:size]`. Call records with their
    messages run to kilobytes a line: then `find` line by line (3 ms per 32 MB of 2 KB
    lines) beats numpy's pass over every byte (10-12 ms); on short lines numpy does, and
    takes over."""
    ends: list[int] = []
    find = data.find
    at = find(b"\n", 0, size)
    while at >= 0:
        ends.append(at + 1)
        if len(ends) == 1024 and at < 1024 * 512:  # lines under 512 bytes on average
            return np.flatnonzero(np.frombuffer(data, np.uint8, size) == 10) + 1
        at = find(b"\n", at + 1, size)
    return np.array(ends, dtype=np.int64)


def decided_chunks(path: Any, reader: BulkNativeReader, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[LineChunk, pa.Table, np.ndarray]]:
    """Each chunk of `path` with the bulk decision (`BulkNativeReader.decide`), in order.
    While the caller handles one chunk, the next `DECIDING_AHEAD` are decided in background
    threads (DuckDB releases the GIL), so the per-line work, redaction and Parquet writing
    overlap the parsing, and one query's serial stretches (its start, its Arrow result)
    overlap the other's work: with one query at a time the cores idled through them. At
    most DECIDING_AHEAD + 2 chunks are in memory (the caller's last one included)."""
    chunks = line_chunks(path, chunk_bytes)
    with ThreadPoolExecutor(max_workers=DECIDING_AHEAD, thread_name_prefix="assay-bulk") as pool:
        pending: deque[tuple[LineChunk, Future]] = deque()

        def read_ahead() -> None:
            while len(pending) < DECIDING_AHEAD and (chunk := next(chunks, None)) is not None:
                pending.append((chunk, pool.submit(reader.decide, chunk.strings(), chunk.line_nos)))

        read_ahead()
        while pending:
            chunk, decided = pending.popleft()
            fast, undecided = decided.result()
            read_ahead()
            yield chunk, fast, undecided
