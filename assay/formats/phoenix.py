"""Phoenix span exports: the spans Arize Phoenix returns, with OpenInference attributes.

The shapes Phoenix writes (read from Phoenix's REST API and client):

- a span: `{"name", "context": {"trace_id", "span_id"}, "span_kind", "parent_id", "start_time",
  "end_time", "status_code", "status_message", "attributes": {...}, "events": [...]}`, as
  `GET /v1/projects/{project}/spans` returns them (`{"data": [...], "next_cursor": ...}`), as
  `phoenix.client.Client().spans.get_spans(...)` returns them (a JSON list when dumped), or
  one per line;
- a row of `get_spans_dataframe()` written as JSON records (`df.to_json(orient="records")`):
  the same fields with flat column names, `context.span_id`, `context.trace_id`,
  `attributes.llm.token_count.prompt`, ...; times as ISO text or epoch milliseconds.

Attributes come flat (`llm.token_count.prompt`, the REST API's form), nested
(`{"llm": {"token_count": {"prompt": 97}}}`, how Phoenix stores them and its older span JSON
wrote them) or with list values (`llm.input_messages: [{"message.role": ...}]`, the
dataframe's form); all are flattened to OpenInference's dotted keys and read by the same code
as OTLP spans (`otlp.span_item`): LLM spans become calls, every other span (CHAIN, TOOL,
AGENT, RETRIEVER, ...) a span record. `span_kind` is OpenInference's `openinference.span.kind`
(the REST API moves it out of the attributes). `status_code` ERROR -> status error with
`status_message`; an `exception` event names the error type.
"""

from __future__ import annotations

from typing import Any

from assay.formats.base import AdapterItem, Source, compact_json, not_an_object, reject, timestamp
from assay.formats.otlp import SpanHeader, span_item

FORMAT = "phoenix_spans"

_ATTRIBUTE_PREFIX = "attributes."
_KEPT_WHOLE = frozenset({"metadata"})
"""Attributes whose object value is one attribute (OpenInference's `metadata` is JSON)."""


def is_phoenix_span(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    context = record.get("context")
    if isinstance(context, dict) and "span_id" in context:
        return True
    return "context.span_id" in record


def phoenix_spans(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    whole = 1 if offset is None else offset
    spans: list[Any]
    if isinstance(record, list):
        spans = record
    elif isinstance(record, dict) and isinstance(record.get("data"), list) and not is_phoenix_span(record):
        spans = record["data"]  # the REST API's page: {"data": [...], "next_cursor": ...}
    else:
        if (problem := not_an_object(record)) is not None:
            return [reject(whole, raw, problem)]
        return [_span(record, offset=whole, raw=raw, source=source, root_names={})]
    root_names = {
        str(trace_id): str(span.get("name"))
        for span in spans
        if is_phoenix_span(span) and not _parent_id(span) and span.get("name")
        and (trace_id := _context(span, "trace_id"))
    }
    items = []
    for index, span in enumerate(spans, start=1):
        where = index if offset is None else offset
        if not isinstance(span, dict):
            items.append(reject(where, compact_json(span), f"span {index}: expected an object, got "
                                f"{type(span).__name__}"))
            continue
        item = _span(span, offset=where, raw=raw, source=source, root_names=root_names)
        if item.reason is not None:
            item.raw = compact_json(span)  # quarantine the span, not the whole export
        items.append(item)
    return items


def _span(span: dict[str, Any], *, offset: int, raw: str, source: Source, root_names: dict[str, str]) -> AdapterItem:
    span_id = _context(span, "span_id")
    where = f"span {span_id or offset}: "
    if not span_id:
        return reject(offset, raw, where + "`context.span_id`: required field is missing (expected a Phoenix "
                      "span: {\"context\": {\"trace_id\", \"span_id\"}, \"span_kind\", \"attributes\", ...})")
    start, problem = timestamp(span.get("start_time"), "start_time")
    end, problem_end = timestamp(span.get("end_time"), "end_time")
    if problem or problem_end:
        return reject(offset, raw, where + (problem or problem_end or ""))
    attrs = flatten_attributes(span)
    kind = span.get("span_kind")
    if isinstance(kind, str) and kind and kind.upper() != "UNKNOWN":
        attrs.setdefault("openinference.span.kind", kind.upper())
    failed = str(span.get("status_code") or "").upper() == "ERROR"
    header = SpanHeader(
        trace_id=_context(span, "trace_id"),
        span_id=span_id,
        parent_span_id=_parent_id(span),
        name=span.get("name"),
        start=start,
        end=end,
        failed=failed,
        status_message=(span.get("status_message") or None) if failed else None,
        exception_type=_exception_type(span.get("events")) if failed else None,
        start_key="start_time",
    )
    return span_item(header, attrs, {}, fmt=FORMAT, offset=offset, raw=raw, source=source, root_names=root_names)


def flatten_attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A Phoenix span's attributes as OpenInference's flat dotted keys, whichever of the
    nested, flat or dataframe-column forms they came in."""
    out: dict[str, Any] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict) and key not in _KEPT_WHOLE:
            for sub_key, sub in value.items():
                walk(sub, f"{key}.{sub_key}" if key else str(sub_key))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, sub in enumerate(value):
                walk(sub, f"{key}.{index}")
        elif value is not None:
            out[key] = value

    attributes = span.get("attributes")
    if isinstance(attributes, dict):
        walk(attributes, "")
    for key, value in span.items():  # dataframe rows: "attributes.llm.model_name" columns
        if key.startswith(_ATTRIBUTE_PREFIX):
            walk(value, key[len(_ATTRIBUTE_PREFIX):])
    return out


def _context(span: dict[str, Any], key: str) -> str | None:
    context = span.get("context")
    value = context.get(key) if isinstance(context, dict) else None
    if value is None:
        value = span.get(f"context.{key}")
    return str(value) if value else None


def _parent_id(span: dict[str, Any]) -> str | None:
    value = span.get("parent_id")
    return str(value) if value else None


def _exception_type(events: Any) -> str | None:
    for event in events if isinstance(events, list) else ():
        if isinstance(event, dict) and event.get("name") == "exception":
            attributes = event.get("attributes")
            if isinstance(attributes, dict) and attributes.get("exception.type"):
                return str(attributes["exception.type"])
    return None
