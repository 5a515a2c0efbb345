"""Read LLM call logs in the common trace formats and normalise them to assay's call record.

    from assay.formats import read_records, sniff_format
    for item in read_records(path, default_app="support-bot"):
        item.call     # a CallRecord-valid dict (an LLM call to score), or
        item.span     # a SpanRecord-valid dict (a tool / agent / chain step of the trace), or
        item.reason   # why the record could not be read (quarantine `item.raw` with it)

Formats (`FORMATS`), chosen by content (`sniff_format`) or by name:

- `assay_jsonl`: assay's own call records, one per line;
- `openai_chat`: OpenAI chat completion request/response pairs (`openai_chat.py`);
- `litellm_payload`: litellm `StandardLoggingPayload`s (`litellm_payload.py`);
- `otlp_json`: OTLP/JSON traces with OTel GenAI or OpenInference attributes (`otlp.py`);
- `langfuse`: Langfuse trace exports (`langfuse.py`);
- `langfuse_observations`: Langfuse's blob-storage export of enriched observations, and the
  public API's observation rows (`langfuse.py`);
- `phoenix_spans`: Arize Phoenix span exports (`phoenix.py`).

A file is JSONL / NDJSON (one record per line) or one JSON document (a record, or an array of
records, compact or pretty-printed); which one is decided from its first line. Either may be
gzip-compressed: a file that starts with gzip's magic bytes is read through gzip, whatever its
name. Nothing in a file makes `read_records` raise: a line that is not JSON, not UTF-8, or not
a record of the format becomes an item with a reason (a damaged gzip stream too, at the line
where it breaks). Records that carry no start time at all (a bare span attribute map) are dated
`default_ts`, which defaults to the landing day in the path (`.../YYYY-MM-DD/...`) or else the
file's modification day, and say so in `metadata.ts_assumed`.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError
from pydantic_core import from_json

from assay.contracts.call import CallRecord
from assay.formats.base import (
    AdapterItem,
    Source,
    compact_json,
    describe_validation_error,
    not_an_object,
    reject,
)
from assay.formats.langfuse import (
    OBSERVATIONS_FORMAT,
    is_observation_row,
    langfuse,
    langfuse_observations,
    observation_rows,
)
from assay.formats.litellm_payload import litellm_payload
from assay.formats.openai_chat import openai_chat
from assay.formats.otlp import is_span_attribute_map, otlp_json
from assay.formats.phoenix import is_phoenix_span, phoenix_spans

__all__ = [
    "FORMATS",
    "AdapterItem",
    "UnknownFormatError",
    "adapter_for",
    "is_gzip",
    "is_jsonl_file",
    "iter_raw_records",
    "open_bytes",
    "read_records",
    "sniff_format",
]

NATIVE_FORMAT = "assay_jsonl"
SNIFF_BYTES = 64 * 1024
"""How much of a file sniffing reads."""
DOCUMENT_LIMIT_BYTES = 256 * 1024 * 1024
"""Largest single JSON document read whole; bigger files must be JSONL."""

Adapter = Callable[..., list[AdapterItem]]


class UnknownFormatError(ValueError):
    """A file whose content matches none of the formats assay reads."""


def validate_native_record(record: Any, *, default_app: str, **overrides: Any) -> tuple[CallRecord | None, str]:
    """assay's own call record -> (validated record, "") or (None, reason): validated as is,
    `app` defaulting to the configured app, `overrides` set first."""
    if (problem := not_an_object(record)) is not None:
        return None, problem
    fields = dict(record)
    fields.setdefault("app", default_app)
    fields.update(overrides)
    try:
        return CallRecord.model_validate(fields), ""
    except ValidationError as exc:
        return None, describe_validation_error(exc, CallRecord)


def assay_jsonl(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    """assay's own call record (see `validate_native_record`)."""
    offset = 1 if offset is None else offset
    call, reason = validate_native_record(
        record, default_app=source.default_app, source_format=NATIVE_FORMAT, source_file=source.file, source_offset=offset
    )
    if call is None:
        return [reject(offset, raw, reason)]
    return [AdapterItem(offset=offset, raw=raw, call=call.model_dump())]


_ADAPTERS: dict[str, Adapter] = {
    NATIVE_FORMAT: assay_jsonl,
    "openai_chat": openai_chat,
    "litellm_payload": litellm_payload,
    "otlp_json": otlp_json,
    "langfuse": langfuse,
    OBSERVATIONS_FORMAT: langfuse_observations,
    "phoenix_spans": phoenix_spans,
}
FORMATS: tuple[str, ...] = tuple(_ADAPTERS)
_LIST_ADAPTERS = frozenset({OBSERVATIONS_FORMAT, "phoenix_spans"})
"""Adapters given a whole JSON array (or API page) at once: they number its records
themselves, and a span list needs all its spans to name each trace's root."""


def adapter_for(fmt: str) -> Adapter:
    """The adapter function of a format name; ValueError naming the valid ones otherwise."""
    try:
        return _ADAPTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}") from None


# --- sniffing --------------------------------------------------------------------------------


def classify_record(record: Any) -> str | None:
    """The format one parsed record (or the first record of an array, or of an API page's
    `data`) belongs to, if any."""
    if isinstance(record, list):
        record = next((r for r in record if isinstance(r, dict)), None)
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("data"), list) and record["data"] and not (
        is_phoenix_span(record) or is_observation_row(record)
    ):
        page = classify_record(record["data"])  # Phoenix's and Langfuse's API pages
        return page if page in ("phoenix_spans", OBSERVATIONS_FORMAT) else None
    if "resourceSpans" in record:
        return "otlp_json"
    if is_phoenix_span(record):
        return "phoenix_spans"
    if is_observation_row(record):
        return OBSERVATIONS_FORMAT
    trace = record.get("trace")
    if "observations" in record or (isinstance(trace, dict) and ("observations" in trace or "id" in trace)):
        return "langfuse"
    if "standard_logging_object" in record or "call_type" in record or "hidden_params" in record or (
        "response_cost" in record and "startTime" in record
    ):
        return "litellm_payload"
    if isinstance(record.get("request"), dict) and ("response" in record or "error" in record):
        return "openai_chat"
    if is_span_attribute_map(record):
        return "otlp_json"
    if "call_id" in record and ("ts" in record or "model" in record):
        return NATIVE_FORMAT
    return None


# Signature keys for a document too large to parse from its first bytes, in priority order.
_HEAD_SIGNATURES = (
    ("otlp_json", re.compile(r'"resourceSpans"\s*:')),
    ("langfuse", re.compile(r'^\s*\{\s*"trace"\s*:\s*\{|"observations"\s*:')),
    ("litellm_payload", re.compile(r'"(?:standard_logging_object|call_type|hidden_params)"\s*:')),
    ("openai_chat", re.compile(r'"request"\s*:\s*\{')),
    ("phoenix_spans", re.compile(r'"context"\s*:\s*\{\s*"(?:trace_id|span_id)"\s*:|"context\.span_id"\s*:')),
    (OBSERVATIONS_FORMAT, re.compile(r'"(?:parent_observation_id|trace_name|provided_model_name)"\s*:')),
    ("otlp_json", re.compile(r'"(?:gen_ai\.|llm\.|openinference\.span\.kind)[^"]*"\s*:')),
    (NATIVE_FORMAT, re.compile(r'"call_id"\s*:')),
)


SNIFF_LINES = 50
"""Lines of a JSONL head that sniffing may try: a day's first record can be the malformed one."""


def sniff_format(path: Path) -> str:
    """Tell a file's format from its first records (read from the first `SNIFF_BYTES`).

    The first line that parses and belongs to a known format decides, so a truncated or
    malformed first record (quarantined later like any other) does not mislabel the file.
    A file that is one JSON document (an OTLP export, a Langfuse trace) is parsed whole."""
    path = Path(path)
    head_bytes, complete = _head_bytes(path, SNIFF_BYTES)
    if b"\x00" in head_bytes[:4096]:
        raise UnknownFormatError(f"{path}: a binary file, not JSON text; known formats: {', '.join(FORMATS)} "
                                 "(as JSON Lines or one JSON document, optionally gzip-compressed)")
    head = head_bytes.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not head.strip():
        raise UnknownFormatError(f"{path}: the file is empty; known formats: {', '.join(FORMATS)}")
    lines = [line for line in head.splitlines() if line.strip()]
    if not complete and not head.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line is cut off at SNIFF_BYTES
    first_parsed: Any = None
    for line in lines[:SNIFF_LINES]:
        if not line.lstrip().startswith(("{", "[")):
            continue  # a line of a pretty-printed document, not a JSONL record
        try:
            record = json.loads(line)
        except ValueError:
            continue
        fmt = classify_record(record)
        if fmt:
            return fmt
        if first_parsed is None:
            first_parsed = record
    if complete:
        try:
            document = json.loads(head)
        except ValueError:
            document = None
        if document is not None:
            fmt = classify_record(document)
            if fmt:
                return fmt
            first_parsed = document if first_parsed is None else first_parsed
    if first_parsed is not None:
        detail = _describe(first_parsed)
    else:
        for fmt, pattern in _HEAD_SIGNATURES:
            if pattern.search(head):
                return fmt
        detail = "its first lines are not JSON and no known format's keys appear in its first bytes"
    raise UnknownFormatError(
        f"{path}: cannot tell the format from its content ({detail}); known formats: "
        f"{', '.join(FORMATS)} — pass the format explicitly if the file is one of these"
    )


def _head_bytes(path: Path, limit: int) -> tuple[bytes, bool]:
    """(the first `limit` bytes of the content, whether that is all of it). A gzip stream is
    decompressed as far as it goes: a damaged or cut-short file still shows its head (its
    records are then read up to the damage, which becomes a reason)."""
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC:
            handle.seek(0)
            data = handle.read(limit)
            return data, len(handle.read(1)) == 0
        handle.seek(0)
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        try:
            while len(out) <= limit and not stream.eof and (chunk := handle.read(1 << 16)):
                out += stream.decompress(chunk)
        except zlib.error as exc:
            if not out:
                raise UnknownFormatError(f"{path}: starts like a gzip file but cannot be decompressed ({exc})") from None
        complete = stream.eof and not stream.unused_data and not handle.read(1) and len(out) <= limit
    return out[:limit], complete


def _describe(record: Any) -> str:
    if isinstance(record, list):
        first = next((r for r in record if isinstance(r, dict)), None)
        if first is None:
            return "a JSON array without objects"
        record = first
    if isinstance(record, dict):
        keys = ", ".join(list(record)[:12])
        return f"first record has keys: {keys}" if keys else "first record is an empty object"
    return f"first record is a JSON {type(record).__name__}"


# --- reading ---------------------------------------------------------------------------------


def read_records(
    path: Path,
    fmt: str | None = None,
    *,
    default_app: str,
    default_ts: datetime | None = None,
) -> Iterator[AdapterItem]:
    """Stream the items of one file: calls, spans and rejections with their reasons.

    `fmt` None sniffs the format (UnknownFormatError when nothing matches); an unknown `fmt`
    is a ValueError naming the valid ones. Bad records never raise.
    """
    path = Path(path)
    fmt = fmt or sniff_format(path)
    adapter = adapter_for(fmt)
    source = Source(
        default_app=default_app,
        file=str(path),
        default_ts=default_ts if default_ts is not None else assumed_day(path),
    )
    if is_jsonl_file(path):
        yield from _read_lines(path, adapter, source)
        return
    document = _read_document(path)
    if document is None:
        yield from _read_lines(path, adapter, source)
        return
    record, text = document
    if isinstance(record, list) and fmt not in _LIST_ADAPTERS:
        for index, element in enumerate(record, start=1):
            for item in adapter(element, offset=index, raw="", source=source):
                if item.reason is not None:
                    item.raw = compact_json(element)  # serialised only when quarantined
                yield item
    else:
        yield from adapter(record, offset=None, raw=text, source=source)


def iter_raw_records(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    """(offset, parsed record or None) as `read_records` numbers them, without the adapter:
    for a first pass that needs only a few keys of each record."""
    path = Path(path)
    document = None if is_jsonl_file(path) else _read_document(path)
    if document is None:
        for line_no, line_bytes in iter_lines(path):
            if line_bytes is None:
                return
            if line_bytes.strip():
                yield line_no, parse_line(line_bytes)[0]
        return
    record = document[0]
    rows = record if isinstance(record, list) else observation_rows(record) if fmt == OBSERVATIONS_FORMAT else None
    if rows is None:
        yield 1, record
    else:
        yield from enumerate(rows, start=1)


def assumed_day(path: Path) -> datetime:
    """Midnight UTC of the landing day in the path (`.../YYYY-MM-DD/...`), else of the file's
    modification day: the date given to records that carry no time of their own."""
    for part in reversed(path.parts[:-1]):
        if _DAY.fullmatch(part):
            try:
                return datetime.strptime(part, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                break
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return modified.replace(hour=0, minute=0, second=0, microsecond=0)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


GZIP_MAGIC = b"\x1f\x8b"
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
"""What reading a damaged or truncated gzip stream raises."""


def is_gzip(path: Path) -> bool:
    """Whether the file is gzip-compressed (by its first bytes, not its name)."""
    with Path(path).open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip."""
    return gzip.open(path, "rb") if is_gzip(path) else Path(path).open("rb")  # type: ignore[return-value]


def is_jsonl_file(path: Path) -> bool:
    """Whether the file is JSONL (its first non-blank line is a whole JSON value), not one
    JSON document: spread over lines (pretty-printed), or a compact array alone on its line
    (whose elements are then numbered as records, not all as line 1)."""
    try:
        with open_bytes(path) as handle:
            for line in handle:
                if line.strip():
                    try:
                        first = from_json(line.lstrip(b"\xef\xbb\xbf"))
                    except ValueError:
                        return False
                    return not isinstance(first, list) or any(rest.strip() for rest in handle)
    except GZIP_ERRORS:
        return True  # read line by line, where the damage becomes a reason
    return True


def _read_document(path: Path) -> tuple[Any, str] | None:
    """The whole file as one JSON document, or None (too big, not UTF-8, or not JSON)."""
    try:
        with open_bytes(path) as handle:
            data = handle.read(DOCUMENT_LIMIT_BYTES + 1)
    except GZIP_ERRORS:
        return None
    if len(data) > DOCUMENT_LIMIT_BYTES:
        return None
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
        return json.loads(text), text
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def _read_lines(path: Path, adapter: Adapter, source: Source) -> Iterator[AdapterItem]:
    for line_no, line_bytes in iter_lines(path):
        if line_bytes is None:
            yield reject(line_no, "", f"the gzip stream is damaged or cut short here: {_gzip_damage(path)}")
            return
        if not line_bytes.strip():
            continue
        record, raw, reason = parse_line(line_bytes)
        if reason is not None:
            yield reject(line_no, raw, reason)
            continue
        yield from adapter(record, offset=line_no, raw=raw, source=source)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, line bytes, BOM removed) of a file, decompressed when gzip; a
    damaged gzip stream ends with (the next line number, None)."""
    line_no = 0
    with open_bytes(path) as handle:
        try:
            for line_no, line_bytes in enumerate(handle, start=1):
                yield line_no, line_bytes.lstrip(b"\xef\xbb\xbf") if line_no == 1 else line_bytes
        except GZIP_ERRORS:
            yield line_no + 1, None


def _gzip_damage(path: Path) -> str:
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except GZIP_ERRORS as exc:
        return str(exc)
    return "unknown"


def parse_line(line_bytes: bytes) -> tuple[Any, str, str | None]:
    """(record, raw text, None) or (None, raw text, reason) for one JSONL line."""
    try:
        raw = line_bytes.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raw = line_bytes.decode("utf-8", errors="replace").rstrip("\r\n")
        return None, raw, f"not valid UTF-8 text: {exc.reason} at byte {exc.start + 1}"
    try:
        return from_json(raw), raw, None
    except ValueError:
        pass
    # The reference parser words the reason, and decides what the fast parser refused.
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, raw, f"not valid JSON: {exc.msg} at column {exc.colno}"
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # Parquet stores UTF-8: such a value would fail the whole day's write. Name the key.
        key = next(
            (k for k, v in record.items() if not _utf8_encodable(v)), None
        ) if isinstance(record, dict) else None
        where = f"`{key}`: " if key else ""
        return None, raw, (f"{where}holds an unpaired surrogate escape (\\ud800-\\udfff), which is "
                           "not valid UTF-8 text")
    return record, raw, None


def _utf8_encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
