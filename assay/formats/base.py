"""What every format adapter shares: the item it yields and the normalisation helpers.

An adapter is a pure function from one parsed input record to a list of `AdapterItem`s: a call
(a `CallRecord`-valid dict), a span (a `SpanRecord`-valid dict) or a rejection with its reason.
It never raises for bad input.

Derived call fields mean the same whatever the source:

- `messages`: what was sent to the model, in OpenAI chat shape
  (`{"role", "content", "tool_calls"?: [{"id", "type": "function", "function": {"name",
  "arguments": <compact JSON text>}}], "tool_call_id"?, "name"?}`), whatever the source's shape
  (OpenAI, OTel GenAI `parts`, OpenInference, LangChain, OpenAI Responses items);
- `input_text`: the text of the last user message;
- `output_text`: the text of the model's reply;
- `tool_calls`: `[{"name", "arguments"}]` for the tool calls of the current turn: those the
  assistant made after the last user message (already in `messages`, answered by tool results)
  and those in the reply. A span that closes an agent turn ("Weather in Paris?" -> get_weather
  -> "rainy") therefore carries the turn's tool calls, which is what tool-use evaluators judge.
  `arguments` is the parsed JSON object when the text parses, else the text as given;
- `call_id`: the source's id when it has one, else a sha256 of the normalised call (so the
  same call read twice, or in two conventions, gets the same id).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from assay.contracts._arrow import as_utc
from assay.contracts.call import CallRecord
from assay.contracts.span import SpanRecord


@dataclass(slots=True)
class AdapterItem:
    """One outcome of reading a record: exactly one of `call`, `span`, `reason` is set."""

    offset: int
    """1-based line for JSONL, or the index of the record within a JSON document."""
    raw: str
    """The input record verbatim (for the quarantine)."""
    call: dict[str, Any] | None = None
    span: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """Where records come from and the defaults for what they do not say."""

    default_app: str
    file: str | None = None
    default_ts: datetime | None = None
    """Start time for records that carry none (a bare attribute map); None rejects them."""


def reject(offset: int, raw: str, reason: str) -> AdapterItem:
    return AdapterItem(offset=offset, raw=raw, reason=reason)


def not_an_object(record: Any) -> str | None:
    """Why a record that is not a JSON object cannot be read (None when it is one)."""
    return None if isinstance(record, dict) else f"expected a JSON object per record, got {type(record).__name__}"


def describe_validation_error(exc: ValidationError, model: type) -> str:
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(record)"
        message = error["msg"]
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = f"unknown field; valid fields: {', '.join(sorted(model.model_fields))}"
        parts.append(f"`{key}`: {message}")
    return "; ".join(parts)


_HASH_EXCLUDED = frozenset({"source_format", "source_file", "source_offset", "call_id", "metadata"})


def content_id(fields: dict[str, Any]) -> str:
    """sha256 of a normalised record (source location and the convention name left out)."""
    content = {k: v for k, v in fields.items() if k not in _HASH_EXCLUDED and v is not None}
    metadata = fields.get("metadata")
    if metadata:
        content["metadata"] = {k: v for k, v in metadata.items() if k != "convention"}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def make_call(
    fields: dict[str, Any], *, fmt: str, offset: int, raw: str, source: Source, where: str = ""
) -> AdapterItem:
    """Validate a normalised call; None values fall back to the contract's defaults."""
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("app", source.default_app)
    fields.setdefault("feature", "default")
    if not fields.get("call_id"):
        fields["call_id"] = content_id(fields)
    return _validated(CallRecord, "call", fields, fmt=fmt, offset=offset, raw=raw, source=source, where=where)


def make_span(
    fields: dict[str, Any], *, fmt: str, offset: int, raw: str, source: Source, where: str = ""
) -> AdapterItem:
    """Validate a normalised non-LLM span."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields.get("span_id"):
        fields["span_id"] = content_id(fields)
    return _validated(SpanRecord, "span", fields, fmt=fmt, offset=offset, raw=raw, source=source, where=where)


def _validated(
    model: type, kind: str, fields: dict[str, Any], *, fmt: str, offset: int, raw: str, source: Source, where: str
) -> AdapterItem:
    """The record as its contract validates it (with where it came from), or the reason not."""
    fields.update(source_format=fmt, source_file=source.file, source_offset=offset)
    try:
        record = model.model_validate(fields).model_dump()
    except ValidationError as exc:
        return reject(offset, raw, where + describe_validation_error(exc, model))
    return AdapterItem(offset=offset, raw=raw, **{kind: record})


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def json_text(value: Any) -> str | None:
    """A span input/output as JSON text (a string stays a JSON string)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def maybe_json(value: Any) -> Any:
    """Parse text that holds a JSON object or array; anything else is returned as given."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- time -------------------------------------------------------------------------------------


def timestamp(value: Any, key: str) -> tuple[datetime | None, str | None]:
    """(aware UTC datetime, None), (None, None) when absent, or (None, reason)."""
    if value is None or value == "":
        return None, None
    try:
        return as_utc(value), None
    except (ValueError, TypeError) as exc:
        return None, f"`{key}`: {exc} (expected ISO 8601 text or epoch seconds)"


def unix_nanos(value: Any, key: str) -> tuple[datetime | None, str | None]:
    """OTLP `...UnixNano` (a decimal string or an integer) -> aware UTC datetime."""
    if value is None or value == "" or value == "0" or value == 0:
        return None, None
    try:
        nanos = int(value)
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC), None
    except (ValueError, TypeError, OverflowError, OSError):
        return None, f"`{key}`: expected unix nanoseconds (a decimal string), got {value!r}"


def millis_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000.0


# --- messages ---------------------------------------------------------------------------------

_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "chatbot": "assistant",
    "function": "tool",
}
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as compact JSON text (text that parses is re-serialised compactly)."""
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        parsed = maybe_json(arguments)
        return arguments if parsed is arguments else compact_json(parsed)
    return compact_json(arguments)


def parsed_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def tool_call(name: Any, arguments: Any, call_id: Any = None) -> dict[str, Any]:
    call: dict[str, Any] = {
        "type": "function",
        "function": {"name": str(name), "arguments": arguments_text(arguments)},
    }
    if call_id:
        call = {"id": str(call_id), **call}
    return call


def normalise_tool_call(value: Any) -> dict[str, Any] | None:
    """OpenAI / LangChain / OTel part / Responses item / flat {name, arguments} -> OpenAI shape."""
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    if isinstance(function, dict) and function.get("name"):
        return tool_call(function["name"], function.get("arguments"), value.get("id"))
    name = value.get("name")
    if not name:
        return None
    arguments = value.get("arguments", value.get("args", value.get("input")))
    return tool_call(name, arguments, value.get("id") or value.get("call_id"))


def content_text(content: Any) -> str | None:
    """The text of a message content (a string, or the text parts of a list)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", part.get("content"))
            for part in content
            if isinstance(part, dict) and part.get("type") in _TEXT_PART_TYPES
        ]
        texts = [t for t in texts if isinstance(t, str)]
        return "\n".join(texts) if texts else None
    return None


def normalise_content(content: Any) -> Any:
    """str | None stays; a list of only text parts becomes one string; other parts are kept
    (images, files); anything else (a tool's JSON result, say) becomes compact JSON text."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
    ):
        if all(p["type"] in _TEXT_PART_TYPES for p in content):
            return content_text(content) or ""
        return [
            {"type": "text", "text": p.get("text", p.get("content"))}
            if p["type"] in _TEXT_PART_TYPES
            else p
            for p in content
        ]
    if isinstance(content, dict) and content.get("type") in _TEXT_PART_TYPES:
        return content.get("text", content.get("content"))
    if isinstance(content, int | float | bool):
        return str(content)
    return compact_json(content)


def _is_tool_definition(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "function" and "function" in value


def _parts_messages(role: str, parts: list[Any], message: dict[str, Any]) -> list[dict[str, Any]]:
    """An OTel GenAI message (`{"role", "parts": [...]}`) -> OpenAI-shape messages."""
    content: list[Any] = []
    calls = []
    results = []
    reasoning = []
    for part in parts:
        if not isinstance(part, dict):
            content.append({"type": "text", "text": str(part)})
            continue
        kind = part.get("type")
        if kind == "text":
            content.append({"type": "text", "text": part.get("content", part.get("text"))})
        elif kind == "tool_call":
            call = normalise_tool_call(part)
            if call:
                calls.append(call)
        elif kind == "tool_call_response":
            result = {"role": "tool", "content": normalise_content(part.get("response"))}
            if part.get("id"):
                result["tool_call_id"] = str(part["id"])
            results.append(result)
        elif kind == "reasoning":
            reasoning.append(part.get("content"))
        else:
            content.append(part)
    out = list(results)
    if content or calls or not results:
        msg: dict[str, Any] = {"role": role, "content": normalise_content(content) if content else None}
        if calls:
            msg["tool_calls"] = calls
        if reasoning and all(isinstance(r, str) for r in reasoning):
            msg["reasoning"] = "\n".join(reasoning)
        if message.get("name"):
            msg["name"] = str(message["name"])
        out.append(msg)
    return out


def normalise_message(value: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One source message -> zero or more OpenAI-shape messages.

    Tool definitions that some integrations log as `role: tool` messages (LangChain via
    Langfuse) are moved to `tools`.
    """
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, dict):
        return [{"role": "user", "content": normalise_content(value)}]
    kind = value.get("type")
    role = value.get("role")
    if role is None:
        if kind == "function_call":  # OpenAI Responses API input item
            return [{"role": "assistant", "content": None, "tool_calls": [normalise_tool_call(value)]}]
        if kind == "function_call_output":
            msg = {"role": "tool", "content": normalise_content(value.get("output"))}
            if value.get("call_id"):
                msg["tool_call_id"] = str(value["call_id"])
            return [msg]
        role = kind  # LangChain: {"type": "human" | "ai" | "tool", "content": ...}
    role = _ROLE_ALIASES.get(role, role) if isinstance(role, str) else "user"
    parts = value.get("parts")
    if isinstance(parts, list):
        return _parts_messages(role, parts, value)
    content = value.get("content")
    if role == "tool" and not value.get("tool_call_id") and _is_tool_definition(content):
        tools.append(content)
        return []
    msg: dict[str, Any] = {"role": role, "content": normalise_content(content)}
    raw_calls = value.get("tool_calls")
    if not raw_calls and isinstance(value.get("additional_kwargs"), dict):
        raw_calls = value["additional_kwargs"].get("tool_calls")
    if isinstance(raw_calls, list):
        calls = [c for c in map(normalise_tool_call, raw_calls) if c]
        if calls:
            msg["tool_calls"] = calls
    if value.get("tool_call_id"):
        msg["tool_call_id"] = str(value["tool_call_id"])
    if value.get("name") and isinstance(value["name"], str):
        msg["name"] = value["name"]
    return [msg]


def normalise_messages(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A logged prompt in any common shape -> (messages, tool definitions found among them).

    Accepts a list of messages, `{"messages": [...], "tools"?: [...]}`, a plain prompt string,
    `{"args": [...]}` / `{"prompt": ...}` / `{"input": ...}` wrappers, or JSON text of these.
    """
    tools: list[dict[str, Any]] = []
    value = maybe_json(value)
    if isinstance(value, dict):
        if isinstance(value.get("tools"), list):
            tools.extend(t for t in value["tools"] if isinstance(t, dict))
        for key in ("messages", "input", "prompt", "args", "prompts"):
            if key in value:
                value = value[key]
                break
        else:
            value = [value] if ("role" in value or "type" in value) else compact_json(value)
    if value is None:
        return [], tools
    if not isinstance(value, list):
        value = [value]
    messages: list[dict[str, Any]] = []
    for item in value:
        messages.extend(normalise_message(item, tools))
    return messages, tools


def output_messages(value: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A logged model reply in any common shape -> (assistant messages, finish_reason).

    Accepts a chat completion (`choices`), an OpenAI Responses object (`output` items), one
    message, a list of (OTel GenAI) messages, `{"text": ...}`, or plain text.
    """
    value = maybe_json(value)
    if value is None:
        return [], None
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}], None
    if isinstance(value, dict):
        choices = value.get("choices")
        if isinstance(choices, list):
            return choice_messages(choices)
        if value.get("object") == "response" or (
            isinstance(value.get("output"), list) and "role" not in value
        ):
            return _responses_output(value)
        if "role" in value or "parts" in value or value.get("type") in ("ai", "AIMessage"):
            value = [value]
        elif isinstance(value.get("messages"), list) and value["messages"]:
            value = value["messages"][-1:]
        elif "text" in value or "content" in value:
            text = value.get("text", value.get("content"))
            finish = value.get("finish_reason")
            return [{"role": "assistant", "content": normalise_content(text)}], finish
        else:
            return [{"role": "assistant", "content": compact_json(value)}], None
    if not isinstance(value, list):
        return [{"role": "assistant", "content": normalise_content(value)}], None
    tools: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    finish = None
    for item in value:
        if isinstance(item, dict) and "role" not in item and "type" not in item:
            item = {"role": "assistant", **item}
        elif isinstance(item, str):
            item = {"role": "assistant", "content": item}
        messages.extend(normalise_message(item, tools))
        if isinstance(item, dict) and item.get("finish_reason"):
            finish = str(item["finish_reason"])
    return messages, finish


def choice_messages(choices: list[Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Chat completion `choices` -> (the first choice's message, its finish_reason)."""
    if not choices or not isinstance(choices[0], dict):
        return [], None
    choice = choices[0]
    message = choice.get("message")
    if message is None and "text" in choice:  # text completion
        message = {"role": "assistant", "content": choice["text"]}
    tools: list[dict[str, Any]] = []
    messages = normalise_message(message, tools) if isinstance(message, dict) else []
    for msg in messages:
        if msg["role"] == "user":
            msg["role"] = "assistant"
    finish = choice.get("finish_reason")
    return messages, str(finish) if finish else None


def _responses_output(value: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    messages: list[dict[str, Any]] = []
    calls = []
    for item in value.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            call = normalise_tool_call(item)
            if call:
                calls.append(call)
        elif item.get("type") == "message" or "content" in item:
            messages.append(
                {"role": "assistant", "content": normalise_content(item.get("content"))}
            )
    if calls:
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    status = value.get("status")
    finish = "tool_calls" if calls else ("stop" if status == "completed" else status)
    return messages, finish


def derive(
    messages: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> tuple[str | None, str | None, list[dict[str, Any]] | None]:
    """(input_text, output_text, tool_calls of the current turn) — see the module docstring."""
    last_user = -1
    for index, message in enumerate(messages):
        if message.get("role") == "user" and content_text(message.get("content")):
            last_user = index
    input_text = content_text(messages[last_user]["content"]) if last_user >= 0 else None
    calls = [
        call
        for message in (*messages[last_user + 1 :], *outputs)
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
    ]
    texts = [t for t in (content_text(m.get("content")) for m in outputs) if t]
    tool_calls = [
        {"name": c["function"]["name"], "arguments": parsed_arguments(c["function"]["arguments"])}
        for c in calls
    ]
    return input_text, "\n".join(texts) if texts else None, tool_calls or None


def normalise_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Tool definitions -> OpenAI `{"type": "function", "function": {...}}` shape."""
    tools = maybe_json(tools)
    if not isinstance(tools, list) or not tools:
        return None
    out = []
    for tool in tools:
        tool = maybe_json(tool)
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("function"), dict):
            out.append(tool)
        elif tool.get("name"):
            function = {k: v for k, v in tool.items() if k in ("name", "description", "parameters")}
            out.append({"type": "function", "function": function})
        else:
            out.append(tool)
    return out or None


# --- params -----------------------------------------------------------------------------------

_PARAM_ALIASES = {
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "max_new_tokens": "max_tokens",
    "stop_sequences": "stop",
    "choice.count": "n",
    "choice_count": "n",
}
_FLOAT_PARAMS = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})
_INT_PARAMS = frozenset({"max_tokens", "top_k", "n", "seed"})
_BOOL_TEXT = {"true": True, "false": False}
_OTHER_PARAMS = frozenset(
    {"stop", "response_format", "tool_choice", "parallel_tool_calls", "reasoning_effort",
     "logprobs", "top_logprobs", "stream", "user", "service_tier"}
)


def normalise_params(params: Any) -> dict[str, Any] | None:
    """Sampling parameters under one vocabulary (`max_completion_tokens` -> `max_tokens`, ...).

    Keeps the known request parameters only: invocation-parameter blobs also carry the model,
    the messages, response ids and SDK settings, which are not parameters of the call.
    """
    params = maybe_json(params)
    if not isinstance(params, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        key = _PARAM_ALIASES.get(key, key)
        if value is None or value == "" or key in out:
            continue
        if key in _FLOAT_PARAMS or key in _INT_PARAMS:
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if key in _INT_PARAMS:
                if not float(value).is_integer() or (value < 0 and key != "seed"):
                    continue  # -1 is how some SDKs say "not set"
                value = int(value)
            out[key] = value
        elif key in _OTHER_PARAMS:
            value = _BOOL_TEXT.get(value, value) if isinstance(value, str) else value
            value = maybe_json(value)
            if key == "stop" and not isinstance(value, str | list):
                continue  # e.g. an OTel typed value that leaked through as {"arrayValue": {}}
            out[key] = value
    return out or None
