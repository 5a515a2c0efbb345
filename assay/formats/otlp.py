"""OTLP/JSON traces carrying OTel GenAI or OpenInference attributes.

A record is an OTLP/JSON envelope (`resourceSpans -> scopeSpans -> spans`: typed attribute
values, hex ids, unix-nano times), one per file or one per line, or a bare flat attribute map
of one span (`{"gen_ai.request.model": ..., ...}`, what instrumentation tests record).

A span is an LLM call when it carries

- OTel GenAI attributes (`convention: otel_genai`): `gen_ai.operation.name` chat /
  text_completion / generate_content (or no operation and a model or messages), the current
  `gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions` (JSON), the
  deprecated `gen_ai.prompt` / `gen_ai.completion` (JSON, or indexed
  `gen_ai.prompt.N.role/content`), `gen_ai.usage.input_tokens` / `output_tokens` (or the
  deprecated `prompt_tokens` / `completion_tokens`), `gen_ai.request.*` parameters and model,
  `gen_ai.response.model` / `id` / `finish_reasons`, `gen_ai.provider.name` or `gen_ai.system`;
  attributes of span events named `gen_ai.*` count as the span's own;
- or OpenInference attributes (`convention: openinference`): `openinference.span.kind` = LLM,
  `llm.input_messages.N.message.*` / `llm.output_messages.N.message.*` (content, contents,
  tool_calls), `llm.token_count.prompt` / `completion`, `llm.model_name`, `llm.provider` /
  `llm.system`, `llm.invocation_parameters`, `llm.tools.N.tool.json_schema`, `input.value` /
  `output.value` as fallbacks.

Both conventions normalise to the same call (the convention is in `metadata.convention`).
Every other span (tool, chain, agent, retriever, plain) becomes a span record with its ids.

Fields: call_id / span_id = the span id (lower-case hex); app = resource `service.name` (unless
`unknown_service...`) or `assay.app`; feature = `assay.feature`, else the name of the trace's
root span when it is in the same envelope, else "default"; environment = resource
`deployment.environment(.name)`; user/session = `user.id` / `session.id` /
`gen_ai.conversation.id`; cost = `llm.cost.total` / `gen_ai.usage.cost` / `operation.cost`
when present.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assay.formats.base import (
    AdapterItem,
    Source,
    compact_json,
    derive,
    json_text,
    make_call,
    make_span,
    maybe_json,
    millis_between,
    normalise_content,
    normalise_messages,
    normalise_params,
    normalise_tools,
    not_an_object,
    output_messages,
    reject,
    tool_call,
    unix_nanos,
)

FORMAT = "otlp_json"

_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
_OPERATION_KINDS = {
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "embedding",
}
_OPENINFERENCE_KINDS = {
    "TOOL": "tool",
    "CHAIN": "chain",
    "AGENT": "agent",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "RERANKER": "reranker",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
}
_STATUS_ERROR = (2, "2", "STATUS_CODE_ERROR")
_SPAN_IO_KEYS = ("input.value", "output.value", "tool_arguments", "tool_response",
                 "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


def is_span_attribute_map(record: dict[str, Any]) -> bool:
    """A bare attribute map of one span, in either convention."""
    return any(
        key.startswith(("gen_ai.", "llm.", "openinference.")) for key in record
    )


def otlp_json(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    if (problem := not_an_object(record)) is not None:
        return [reject(1 if offset is None else offset, raw, problem)]
    if "resourceSpans" in record:
        return _envelope(record, offset=offset, raw=raw, source=source)
    if is_span_attribute_map(record):
        where = 1 if offset is None else offset
        span = {"attributes": record}
        return [_span_item(span, {}, {}, offset=where, raw=raw, source=source, root_names={})]
    where = 1 if offset is None else offset
    return [reject(where, raw, "expected an OTLP/JSON envelope {\"resourceSpans\": [...]} or a "
                   "flat span attribute map (gen_ai.* / llm.* keys)")]


def _envelope(
    record: dict[str, Any], *, offset: int | None, raw: str, source: Source
) -> list[AdapterItem]:
    resource_spans = record["resourceSpans"]
    if not isinstance(resource_spans, list):
        where = 1 if offset is None else offset
        return [reject(where, raw, f"`resourceSpans`: expected a list, got "
                       f"{type(resource_spans).__name__}")]
    flat: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    problems: list[str] = []
    for r_index, resource_span in enumerate(resource_spans):
        if not isinstance(resource_span, dict):
            problems.append(f"`resourceSpans[{r_index}]`: expected an object")
            continue
        resource = resource_span.get("resource") or {}
        resource_attrs = attribute_map(resource.get("attributes")) if isinstance(resource, dict) else {}
        scopes = resource_span.get("scopeSpans") or resource_span.get("instrumentationLibrarySpans") or []
        for s_index, scope_span in enumerate(scopes if isinstance(scopes, list) else []):
            if not isinstance(scope_span, dict):
                problems.append(f"`resourceSpans[{r_index}].scopeSpans[{s_index}]`: expected an object")
                continue
            scope = scope_span.get("scope") or scope_span.get("instrumentationLibrary") or {}
            for span in scope_span.get("spans") or []:
                flat.append((span, resource_attrs, scope if isinstance(scope, dict) else {}))
    root_names: dict[str, str] = {}
    for span, _, _ in flat:
        if isinstance(span, dict) and not span.get("parentSpanId") and span.get("name"):
            root_names[_hex_id(span.get("traceId")) or ""] = str(span["name"])
    items = [
        reject(1 if offset is None else offset, raw, problem) for problem in problems
    ]
    for index, (span, resource_attrs, scope) in enumerate(flat, start=1):
        where = index if offset is None else offset
        if not isinstance(span, dict):
            items.append(reject(where, compact_json(span), f"span {index}: expected an object, "
                                f"got {type(span).__name__}"))
            continue
        item = _span_item(span, resource_attrs, scope, offset=where, raw=raw, source=source,
                          root_names=root_names)
        if item.reason is not None and len(flat) > 1:
            item.raw = compact_json(span)  # quarantine the span, not the whole envelope
        items.append(item)
    return items


def _span_item(
    span: dict[str, Any],
    resource_attrs: dict[str, Any],
    scope: dict[str, Any],
    *,
    offset: int,
    raw: str,
    source: Source,
    root_names: dict[str, str],
) -> AdapterItem:
    raw_attrs = span.get("attributes")
    attrs = raw_attrs if isinstance(raw_attrs, dict) else attribute_map(raw_attrs)
    for event in span.get("events") or ():
        if isinstance(event, dict) and str(event.get("name", "")).startswith("gen_ai."):
            for key, value in attribute_map(event.get("attributes")).items():
                attrs.setdefault(key, value)
    span_id = _hex_id(span.get("spanId"))
    where = f"span {span_id or offset}: "
    start, problem = unix_nanos(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end, problem_end = unix_nanos(span.get("endTimeUnixNano"), "endTimeUnixNano")
    if problem or problem_end:
        return reject(offset, raw, where + (problem or problem_end or ""))
    status = span.get("status") if isinstance(span.get("status"), dict) else {}
    failed = status.get("code") in _STATUS_ERROR
    header = SpanHeader(
        trace_id=_hex_id(span.get("traceId")),
        span_id=span_id,
        parent_span_id=_hex_id(span.get("parentSpanId")),
        name=span.get("name"),
        start=start,
        end=end,
        failed=failed,
        status_message=status.get("message") if failed else None,
        exception_type=_exception_type(span.get("events")) if failed else None,
        start_key="startTimeUnixNano",
    )
    return span_item(header, attrs, resource_attrs, fmt=FORMAT, offset=offset, raw=raw, source=source,
                     root_names=root_names)


@dataclass(frozen=True)
class SpanHeader:
    """What a span says about itself outside its attribute map, read from its source's shape
    (OTLP/JSON here, Phoenix's span JSON in `phoenix.py`)."""

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    name: Any
    start: datetime | None
    end: datetime | None
    failed: bool
    status_message: str | None
    exception_type: str | None
    start_key: str
    """The source's name of the start time, for the reason when it is missing."""


def span_item(
    header: SpanHeader,
    attrs: dict[str, Any],
    resource_attrs: dict[str, Any],
    *,
    fmt: str,
    offset: int,
    raw: str,
    source: Source,
    root_names: dict[str, str],
) -> AdapterItem:
    """One span with flat OTel GenAI / OpenInference attributes -> a call (an LLM span) or a
    span record (any other step), whatever shape the span came in."""
    span_id, trace_id, failed = header.span_id, header.trace_id, header.failed
    where = f"span {span_id or offset}: "
    start, end = header.start, header.end
    extra: dict[str, Any] = {}
    if start is None:
        if source.default_ts is None:
            return reject(offset, raw, where + f"`{header.start_key}`: required field is missing")
        start = source.default_ts
        extra["ts_assumed"] = True

    convention, kind = _classify(attrs)
    common = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": header.parent_span_id,
        "ts": start,
    }
    if convention is None:
        fields = {
            **common,
            "end_ts": end,
            "kind": kind,
            "name": header.name,
            "tool_name": _first(attrs, "tool.name", "gen_ai.tool.name"),
            "tool_call_id": _first(attrs, "gen_ai.tool.call.id", "tool_call.id"),
            "input": json_text(maybe_json(_first(attrs, "input.value", "gen_ai.tool.call.arguments",
                                                 "tool_arguments"))),
            "output": json_text(maybe_json(_first(attrs, "output.value", "gen_ai.tool.call.result",
                                                  "tool_response"))),
            "status": "error" if failed else "success",
            "error_message": header.status_message,
            "attributes": {**{k: v for k, v in attrs.items() if k not in _SPAN_IO_KEYS}, **extra} or None,
        }
        return make_span(fields, fmt=fmt, offset=offset, raw=raw, source=source, where=where)

    if convention == "openinference":
        call = _openinference_call(attrs)
    else:
        call = _otel_genai_call(attrs)
    extra["convention"] = convention
    meta = maybe_json(attrs.get("metadata"))
    meta = meta if isinstance(meta, dict) else {}
    tags = maybe_json(attrs.get("tag.tags"))
    if tags:
        extra["tags"] = tags
    service = resource_attrs.get("service.name")
    if isinstance(service, str) and service.startswith("unknown_service"):
        service = None
    feature = (attrs.get("assay.feature") or meta.get("assay_feature")
               or resource_attrs.get("assay.feature") or root_names.get(trace_id or ""))
    fields = {
        **common,
        **call,
        "call_id": span_id,
        "app": attrs.get("assay.app") or meta.get("assay_app") or service,
        "feature": feature,
        "environment": resource_attrs.get("deployment.environment.name")
        or resource_attrs.get("deployment.environment"),
        "prompt_id": _str(attrs.get("assay.prompt_id") or meta.get("assay_prompt_id")),
        "prompt_version": _str(attrs.get("assay.prompt_version") or meta.get("assay_prompt_version")
                               or attrs.get("llm.prompt_template.version")),
        "status": "error" if failed else "success",
        "error_type": (_str(attrs.get("error.type")) or header.exception_type) if failed else None,
        "error_message": header.status_message,
        "latency_ms": millis_between(start, end) if "ts_assumed" not in extra else None,
        "user_id": _str(attrs.get("user.id") or meta.get("user_id")),
        "session_id": _str(attrs.get("session.id") or attrs.get("gen_ai.conversation.id")
                           or meta.get("session_id")),
        "metadata": extra,
    }
    return make_call(fields, fmt=fmt, offset=offset, raw=raw, source=source, where=where)


def _classify(attrs: dict[str, Any]) -> tuple[str | None, str]:
    """(convention when the span is an LLM call else None, span kind)."""
    oi_kind = attrs.get("openinference.span.kind")
    if isinstance(oi_kind, str):
        oi_kind = oi_kind.upper()
        if oi_kind == "LLM":
            return "openinference", "llm"
        return None, _OPENINFERENCE_KINDS.get(oi_kind, "span")
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        if operation in _CALL_OPERATIONS:
            return "otel_genai", "llm"
        return None, _OPERATION_KINDS.get(operation, "span")
    if "gen_ai.agent.name" in attrs:
        return None, "agent"
    if "gen_ai.tool.name" in attrs or "tool.name" in attrs:
        return None, "tool"
    if any(key in attrs for key in ("gen_ai.request.model", "gen_ai.response.model",
                                    "gen_ai.input.messages", "gen_ai.prompt",
                                    "gen_ai.prompt.0.role", "gen_ai.prompt.0.content")):
        return "otel_genai", "llm"
    if "llm.model_name" in attrs or "llm.input_messages.0.message.role" in attrs:
        return "openinference", "llm"
    return None, "span"


# --- OTel GenAI --------------------------------------------------------------------------------


def _otel_genai_call(attrs: dict[str, Any]) -> dict[str, Any]:
    messages, found_tools = normalise_messages(
        attrs.get("gen_ai.input.messages", attrs.get("gen_ai.prompt"))
    )
    if not messages:
        messages = indexed_messages(attrs, "gen_ai.prompt.", "")
    instructions = maybe_json(attrs.get("gen_ai.system_instructions"))
    if instructions:
        messages.insert(0, {"role": "system", "content": normalise_content(
            instructions if not isinstance(instructions, list) else
            [p if isinstance(p, dict) else {"type": "text", "content": p} for p in instructions]
        )})
    raw_output = attrs.get("gen_ai.output.messages", attrs.get("gen_ai.completion"))
    outputs, finish = output_messages(raw_output) if raw_output is not None else ([], None)
    if not outputs:
        outputs = indexed_messages(attrs, "gen_ai.completion.", "", default_role="assistant")
    reasons = maybe_json(attrs.get("gen_ai.response.finish_reasons"))
    if isinstance(reasons, list) and reasons:
        finish = str(reasons[0])
    elif isinstance(reasons, str) and reasons:
        finish = reasons
    finish = finish or _indexed_finish(attrs, "gen_ai.completion.0.finish_reason")
    input_text, output_text, tool_calls = derive(messages, outputs)
    params = normalise_params({
        key[len("gen_ai.request."):]: value
        for key, value in attrs.items()
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model"
    })
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
    return {
        "provider": provider.lower() if isinstance(provider, str) else None,
        "model": attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
        "params": params,
        "messages": messages,
        "input_text": input_text,
        "tools": normalise_tools(attrs.get("gen_ai.tool.definitions")) or normalise_tools(found_tools),
        "tool_calls": tool_calls,
        "output_text": output_text,
        "finish_reason": finish,
        "input_tokens": attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens")),
        "output_tokens": attrs.get("gen_ai.usage.output_tokens",
                                   attrs.get("gen_ai.usage.completion_tokens")),
        "cost_usd": _first(attrs, "gen_ai.usage.cost", "operation.cost", "llm.cost.total"),
    }


def _indexed_finish(attrs: dict[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    return str(value) if value else None


# --- OpenInference ---------------------------------------------------------------------------


def _openinference_call(attrs: dict[str, Any]) -> dict[str, Any]:
    messages = indexed_messages(attrs, "llm.input_messages.", "message.")
    found_tools: list[dict[str, Any]] = []
    if not messages:
        prompts = maybe_json(attrs.get("llm.prompts"))
        if isinstance(prompts, list) and prompts:
            messages = [{"role": "user", "content": normalise_content(p)} for p in prompts]
        elif attrs.get("input.value") is not None:
            messages, found_tools = normalise_messages(attrs["input.value"])
    outputs = indexed_messages(attrs, "llm.output_messages.", "message.", default_role="assistant")
    finish = None
    output_value = maybe_json(attrs.get("output.value"))
    if isinstance(output_value, dict):
        finish = output_value.get("finish_reason")
        choices = output_value.get("choices")
        if not finish and isinstance(choices, list) and choices and isinstance(choices[0], dict):
            finish = choices[0].get("finish_reason")
    if not outputs and output_value is not None:
        outputs, parsed_finish = output_messages(output_value)
        finish = finish or parsed_finish
    input_text, output_text, tool_calls = derive(messages, outputs)
    invocation = maybe_json(attrs.get("llm.invocation_parameters"))
    invocation = invocation if isinstance(invocation, dict) else {}
    tools = [attrs[k] for k in sorted(k for k in attrs if k.startswith("llm.tools.")
                                      and k.endswith(".tool.json_schema"))]
    provider = attrs.get("llm.provider") or attrs.get("llm.system")
    return {
        "provider": provider.lower() if isinstance(provider, str) else None,
        "model": attrs.get("llm.model_name") or invocation.get("model"),
        "params": normalise_params(invocation),
        "messages": messages,
        "input_text": input_text,
        "tools": normalise_tools(tools) or normalise_tools(found_tools),
        "tool_calls": tool_calls,
        "output_text": output_text,
        "finish_reason": str(finish) if finish else None,
        "input_tokens": attrs.get("llm.token_count.prompt"),
        "output_tokens": attrs.get("llm.token_count.completion"),
        "cost_usd": attrs.get("llm.cost.total"),
    }


def indexed_messages(
    attrs: dict[str, Any], prefix: str, inner: str, default_role: str = "user"
) -> list[dict[str, Any]]:
    """`<prefix>N.<inner>role|content|contents.K...|tool_calls.M...` keys -> messages.

    Serves OpenInference (`llm.input_messages.0.message.role`, inner = "message.") and the
    deprecated indexed GenAI keys (`gen_ai.prompt.0.role`, inner = "").
    """
    by_index: dict[int, dict[str, Any]] = {}
    cut = len(prefix)
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index_text, _, rest = key[cut:].partition(".")
        if not index_text.isdigit():
            continue
        if inner and rest.startswith(inner):
            rest = rest[len(inner):]
        by_index.setdefault(int(index_text), {})[rest] = value
    messages = []
    for index in sorted(by_index):
        fields = by_index[index]
        role = fields.get("role") or default_role
        content: Any = fields.get("content")
        if content is None:
            parts = _indexed_parts(fields)
            content = normalise_content(parts) if parts else None
        else:
            content = normalise_content(content)
        message: dict[str, Any] = {"role": role, "content": content}
        calls = _indexed_tool_calls(fields)
        if calls:
            message["tool_calls"] = calls
        call_id = fields.get("tool_call_id")
        if call_id:
            message["tool_call_id"] = str(call_id)
        if fields.get("name"):
            message["name"] = str(fields["name"])
        messages.append(message)
    return messages


def _indexed_parts(fields: dict[str, Any]) -> list[dict[str, Any]]:
    parts: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if not key.startswith("contents."):
            continue
        index_text, _, rest = key[len("contents."):].partition(".")
        if index_text.isdigit():
            parts.setdefault(int(index_text), {})[rest.removeprefix("message_content.")] = value
    out = []
    for index in sorted(parts):
        part = parts[index]
        kind = part.get("type", "text")
        if kind == "text":
            out.append({"type": "text", "text": part.get("text")})
        elif kind == "image":
            out.append({"type": "image_url", "image_url": {"url": part.get("image.image.url")}})
        else:
            out.append({"type": kind, **{k: v for k, v in part.items() if k != "type"}})
    return out


def _indexed_tool_calls(fields: dict[str, Any]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if not key.startswith("tool_calls."):
            continue
        index_text, _, rest = key[len("tool_calls."):].partition(".")
        if index_text.isdigit():
            calls.setdefault(int(index_text), {})[rest.removeprefix("tool_call.")] = value
    out = []
    for index in sorted(calls):
        call = calls[index]
        name = call.get("function.name") or call.get("name")
        if name:
            arguments = call.get("function.arguments", call.get("arguments"))
            out.append(tool_call(name, arguments, call.get("id")))
    return out


# --- OTLP/JSON values --------------------------------------------------------------------------


def attribute_map(attributes: Any) -> dict[str, Any]:
    """OTLP `[{"key", "value": {"stringValue" | "intValue" | ...}}]` -> {key: python value}."""
    if not isinstance(attributes, list):
        return {}
    out = {}
    for attribute in attributes:
        if isinstance(attribute, dict) and "key" in attribute:
            out[str(attribute["key"])] = any_value(attribute.get("value"))
    return out


def any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        values = (value["arrayValue"] or {}).get("values") or []
        return [any_value(v) for v in values]
    if "kvlistValue" in value:
        return attribute_map((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _hex_id(value: Any) -> str | None:
    """Span/trace ids as lower-case hex (OTLP/JSON uses hex; protobuf-JSON mappings base64)."""
    if not value or not isinstance(value, str):
        return None
    try:
        int(value, 16)
        return value.lower()
    except ValueError:
        pass
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value


def _exception_type(events: Any) -> str | None:
    for event in events or ():
        if isinstance(event, dict) and event.get("name") == "exception":
            value = attribute_map(event.get("attributes")).get("exception.type")
            if value:
                return str(value)
    return None


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
