"""litellm `StandardLoggingPayload`s, one per line.

What a litellm `CustomLogger` receives as `kwargs["standard_logging_object"]`, for successes
and failures alike (a line may also wrap it as `{"standard_logging_object": {...}}`).

- `id` -> call_id, `trace_id` -> trace_id, `status` success | failure, `error_str` /
  `error_information` -> error_type / error_message;
- `startTime` / `endTime` / `completionStartTime` (epoch seconds; ISO text is accepted too)
  -> ts, latency_ms and, for streamed calls, ttft_ms;
- `response_cost` -> cost_usd (absent stays None: the cost stage prices it);
- `prompt_tokens` / `completion_tokens`, `model`, `custom_llm_provider`, `model_parameters`;
- `messages` -> messages / input_text; `response` (a chat completion) -> output_text,
  tool_calls, finish_reason;
- the caller's metadata (`metadata`, `metadata.requester_metadata`,
  `metadata.spend_logs_metadata`) may name `assay_app`, `assay_feature`, `assay_prompt_id`,
  `assay_prompt_version`, `user_id`, `session_id`, `environment`; `request_tags` -> metadata.tags.
"""

from __future__ import annotations

from typing import Any

from assay.formats.base import (
    AdapterItem,
    Source,
    derive,
    make_call,
    millis_between,
    normalise_messages,
    normalise_params,
    normalise_tools,
    not_an_object,
    output_messages,
    reject,
    timestamp,
)

FORMAT = "litellm_payload"


def litellm_payload(
    record: Any, *, offset: int | None, raw: str, source: Source
) -> list[AdapterItem]:
    offset = 1 if offset is None else offset
    if isinstance(record, dict) and isinstance(record.get("standard_logging_object"), dict):
        record = record["standard_logging_object"]
    if (problem := not_an_object(record)) is not None:
        return [reject(offset, raw, problem)]

    start, problem = timestamp(record.get("startTime"), "startTime")
    end, problem_end = timestamp(record.get("endTime"), "endTime")
    first, problem_first = timestamp(record.get("completionStartTime"), "completionStartTime")
    problem = problem or problem_end or problem_first
    if problem:
        return [reject(offset, raw, problem)]
    payload_meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    caller = _caller_metadata(payload_meta)
    extra: dict[str, Any] = {}
    if start is None:
        if source.default_ts is None:
            return [reject(offset, raw, "`startTime`: required field is missing "
                           "(epoch seconds when the call started)")]
        start = source.default_ts
        extra["ts_assumed"] = True

    raw_messages = record.get("messages")
    messages, found_tools = normalise_messages(raw_messages)
    response = record.get("response")
    outputs, finish_reason = output_messages(response) if response else ([], None)
    input_text, output_text, tool_calls = derive(messages, outputs)

    status = record.get("status")
    failed = status == "failure" or (status is None and bool(record.get("error_str")))
    error_info = record.get("error_information")
    error_info = error_info if isinstance(error_info, dict) else {}
    error_type = error_message = None
    if failed:
        error_type = error_info.get("error_class") or error_info.get("error_code") or None
        error_message = error_info.get("error_message") or record.get("error_str") or None
    elif status not in (None, "success"):
        return [reject(offset, raw, f"`status`: expected 'success' or 'failure', got {status!r}")]

    tags = record.get("request_tags")
    if tags:
        extra["tags"] = tags
    for key in ("call_type", "cache_hit", "api_base", "model_group", "model_id"):
        value = record.get(key)
        if value not in (None, ""):
            extra[key] = value
    for key, value in caller.items():
        if not key.startswith("assay_") and key not in _CALLER_FIELDS:
            extra.setdefault(key, value)
    hidden = record.get("hidden_params") if isinstance(record.get("hidden_params"), dict) else {}
    model_params = record.get("model_parameters")
    tools = None
    if isinstance(model_params, dict):
        tools = model_params.get("tools")
    fields = {
        "call_id": record.get("id"),
        "trace_id": record.get("trace_id"),
        "ts": start,
        "app": caller.get("assay_app"),
        "feature": caller.get("assay_feature"),
        "environment": caller.get("environment"),
        "prompt_id": _text(caller.get("assay_prompt_id")),
        "prompt_version": _text(caller.get("assay_prompt_version")),
        "provider": record.get("custom_llm_provider") or None,
        "model": record.get("model") or hidden.get("litellm_model_name") or None,
        "params": normalise_params(model_params),
        "messages": messages,
        "input_text": input_text,
        "tools": normalise_tools(tools) or normalise_tools(found_tools),
        "tool_calls": tool_calls,
        "output_text": output_text,
        "finish_reason": finish_reason,
        "status": "error" if failed else "success",
        "error_type": _text(error_type),
        "error_message": _text(error_message),
        "latency_ms": millis_between(start, end) if not extra.get("ts_assumed") else None,
        "ttft_ms": millis_between(start, first) if record.get("stream") and first else None,
        "input_tokens": record.get("prompt_tokens"),
        "output_tokens": record.get("completion_tokens"),
        "cost_usd": record.get("response_cost"),
        "user_id": _text(
            caller.get("user_id")
            or record.get("end_user")
            or payload_meta.get("user_api_key_end_user_id")
            or payload_meta.get("user_api_key_user_id")
        ),
        "session_id": _text(caller.get("session_id") or record.get("session_id")),
        "metadata": extra or None,
    }
    if failed and fields["input_tokens"] == 0 and fields["output_tokens"] == 0:
        fields["input_tokens"] = fields["output_tokens"] = None  # litellm's placeholder zeros
    return [make_call(fields, fmt=FORMAT, offset=offset, raw=raw, source=source)]


_CALLER_FIELDS = frozenset({"user_id", "session_id", "environment"})
_STANDARD_META_PREFIXES = ("user_api_key", "requester_", "spend_logs", "applied_", "mcp_",
                           "vector_store", "guardrail", "prompt_management", "usage_object",
                           "routing", "cold_storage", "user_agent", "team_", "used_client")


def _caller_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The keys the application passed (litellm nests them under requester/spend metadata)."""
    merged: dict[str, Any] = {
        k: v for k, v in meta.items()
        if v not in (None, "", [], {}) and not k.startswith(_STANDARD_META_PREFIXES)
    }
    for key in ("spend_logs_metadata", "requester_metadata"):
        nested = meta.get(key)
        if isinstance(nested, dict):
            for k, v in nested.items():
                if v not in (None, ""):
                    merged.setdefault(k, v)
    return merged


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
