"""OpenAI chat completion request/response pairs, one JSON object per line.

    {"request": {"model", "messages", "tools"?, "temperature"?, ...},
     "response": {"id", "created", "model", "choices": [{"message", "finish_reason"}],
                  "usage": {"prompt_tokens", "completion_tokens"}}
                 | {"error": {"message", "type", "code"}},
     "metadata"?: {...}, "latency_ms"?: ..., "ts"?: ...}

An `error` (beside `response` or inside it) makes a call with status `error`. Optional
`metadata` keys `assay_app` / `app`, `assay_feature` / `feature`, `assay_prompt_id`,
`assay_prompt_version`, `user_id` / `user`, `session_id`, `environment` fill those fields; the
rest of `metadata` is kept. `provider` is "openai" unless the record names one (`provider`);
`latency_ms` / `ttft_ms` / `cost_usd` are read when the record has them.
"""

from __future__ import annotations

from typing import Any

from assay.formats.base import (
    AdapterItem,
    Source,
    choice_messages,
    derive,
    make_call,
    normalise_messages,
    normalise_params,
    normalise_tools,
    not_an_object,
    reject,
    timestamp,
)

FORMAT = "openai_chat"

_REQUEST_KEYS = frozenset({"model", "messages", "tools", "functions", "metadata", "user"})


def openai_chat(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    offset = 1 if offset is None else offset
    if (problem := not_an_object(record)) is not None:
        return [reject(offset, raw, problem)]
    request = record.get("request")
    if not isinstance(request, dict):
        return [reject(offset, raw, "`request`: required object is missing (expected "
                       "{\"request\": {model, messages, ...}, \"response\": {...}})")]
    response = record.get("response")
    error = record.get("error")
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        error, response = response["error"], None
    if response is not None and not isinstance(response, dict):
        return [reject(offset, raw, f"`response`: expected an object, got {type(response).__name__}")]
    if response is None and error is None:
        return [reject(offset, raw, "`response`: required object is missing (or an `error` object)")]
    response = response or {}
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}

    raw_messages = request.get("messages", request.get("prompt"))
    if raw_messages is not None and not isinstance(raw_messages, list | str):
        return [reject(offset, raw, f"`request.messages`: expected a list of messages, got "
                       f"{type(raw_messages).__name__}")]
    messages, _ = normalise_messages(raw_messages)
    outputs, finish_reason = choice_messages(response.get("choices") or [])
    input_text, output_text, tool_calls = derive(messages, outputs)

    ts, problem = timestamp(record.get("ts", response.get("created")), "response.created")
    if problem:
        return [reject(offset, raw, problem)]
    if ts is None:
        if source.default_ts is None:
            return [reject(offset, raw, "no start time: expected `response.created` (epoch "
                           "seconds) or a top-level `ts`")]
        ts = source.default_ts
        metadata = {**metadata, "ts_assumed": True}

    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    error_type = error_message = None
    if error is not None:
        if isinstance(error, dict):
            error_type = error.get("type") or error.get("code")
            error_message = error.get("message")
        else:
            error_message = str(error)
    params = normalise_params({k: v for k, v in request.items() if k not in _REQUEST_KEYS})
    known = {"assay_app", "app", "assay_feature", "feature", "assay_prompt_id",
             "assay_prompt_version", "user_id", "user", "session_id", "environment"}
    extra = {k: v for k, v in metadata.items() if k not in known}
    fields = {
        "call_id": response.get("id"),
        "ts": ts,
        "app": metadata.get("assay_app") or metadata.get("app"),
        "feature": metadata.get("assay_feature") or metadata.get("feature"),
        "environment": metadata.get("environment"),
        "prompt_id": metadata.get("assay_prompt_id"),
        "prompt_version": _text(metadata.get("assay_prompt_version")),
        "provider": record.get("provider") or "openai",
        "model": response.get("model") or request.get("model"),
        "params": params,
        "messages": messages,
        "input_text": input_text,
        "tools": normalise_tools(request.get("tools") or request.get("functions")),
        "tool_calls": tool_calls,
        "output_text": output_text,
        "finish_reason": finish_reason,
        "status": "error" if error is not None else "success",
        "error_type": _text(error_type),
        "error_message": error_message,
        "latency_ms": record.get("latency_ms"),
        "ttft_ms": record.get("ttft_ms"),
        "input_tokens": usage.get("prompt_tokens", usage.get("input_tokens")),
        "output_tokens": usage.get("completion_tokens", usage.get("output_tokens")),
        "cost_usd": record.get("cost_usd"),
        "user_id": _text(metadata.get("user_id") or metadata.get("user") or request.get("user")),
        "session_id": _text(metadata.get("session_id")),
        "metadata": extra or None,
    }
    return [make_call(fields, fmt=FORMAT, offset=offset, raw=raw, source=source)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
