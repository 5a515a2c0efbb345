"""Format adapters: each trace format normalises to call / span records; bad input to reasons.

Every fixture here is written by the test, in the shape of the real exports.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CallRecord
from assay.contracts.span import SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS, SpanRecord
from assay.formats import FORMATS, UnknownFormatError, read_records, sniff_format
from assay.formats.base import Source
from assay.formats.otlp import otlp_json

DAY = datetime(2025, 3, 1, tzinfo=UTC)
T0 = 1740830400  # 2025-03-01T12:00:00Z


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def read(path: Path, fmt: str | None = None) -> tuple[list[dict], list[dict], list[Any]]:
    items = list(read_records(path, fmt, default_app="shop", default_ts=DAY))
    for item in items:
        assert sum(x is not None for x in (item.call, item.span, item.reason)) == 1
    calls = [i.call for i in items if i.call]
    spans = [i.span for i in items if i.span]
    rejected = [i for i in items if i.reason]
    for call in calls:
        CallRecord.model_validate(call)
    for span in spans:
        SpanRecord.model_validate(span)
    return calls, spans, rejected


# --- fixtures in the shape of each format ------------------------------------------------------


def openai_pair(**overrides: Any) -> dict[str, Any]:
    record = {
        "request": {
            "model": "gpt-4o-mini",
            "temperature": 0.2,
            "max_completion_tokens": 300,
            "messages": [
                {"role": "system", "content": "You are a shop assistant."},
                {"role": "user", "content": "Where is my order 42?"},
            ],
            "tools": [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}],
        },
        "response": {
            "id": "chatcmpl-abc",
            "created": T0,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "lookup_order", "arguments": '{"order_id": 42}'},
                            }
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 55, "completion_tokens": 12, "total_tokens": 67},
        },
        "metadata": {"assay_feature": "orders", "user_id": "u-1", "ab_bucket": "B"},
        "latency_ms": 812.5,
    }
    record.update(overrides)
    return record


def litellm_success(**overrides: Any) -> dict[str, Any]:
    payload = {
        "id": "chatcmpl-lite-1",
        "trace_id": "trace-lite",
        "call_type": "acompletion",
        "stream": True,
        "status": "success",
        "custom_llm_provider": "openai",
        "startTime": T0 + 0.0,
        "endTime": T0 + 1.5,
        "completionStartTime": T0 + 0.25,
        "model": "gpt-4o",
        "metadata": {
            "user_api_key_hash": None,
            "requester_metadata": {
                "assay_app": "helpdesk",
                "assay_feature": "refunds",
                "assay_prompt_id": "refund-policy",
                "assay_prompt_version": 3,
                "session_id": "s-9",
            },
        },
        "response_cost": 0.000225,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "request_tags": ["beta"],
        "end_user": "u-7",
        "messages": [{"role": "user", "content": "Can I get a refund?"}],
        "response": {
            "id": "chatcmpl-lite-1",
            "created": T0,
            "model": "gpt-4o",
            "object": "chat.completion",
            "choices": [
                {"finish_reason": "stop", "index": 0,
                 "message": {"content": "Yes, within 30 days.", "role": "assistant", "tool_calls": None}}
            ],
            "usage": {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30},
        },
        "model_parameters": {"temperature": 0.0, "max_tokens": 100},
        "hidden_params": {"litellm_model_name": "gpt-4o"},
        "error_str": None,
        "error_information": {"error_code": "", "error_class": "", "error_message": ""},
    }
    payload.update(overrides)
    return payload


def litellm_failure() -> dict[str, Any]:
    return litellm_success(
        id="fail-1",
        status="failure",
        stream=False,
        response=None,
        response_cost=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        error_str="litellm.RateLimitError: slow down",
        error_information={"error_code": "429", "error_class": "RateLimitError",
                           "error_message": "litellm.RateLimitError: slow down"},
    )


GENAI_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Oslo?"}]},
    {"role": "assistant", "parts": [
        {"type": "text", "content": "Let me check."},
        {"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Oslo"}},
    ]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1", "response": "snow, -3C"}]},
]
GENAI_OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "It is snowing."}],
                 "finish_reason": "stop"}]


def genai_attributes() -> dict[str, Any]:
    return {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.request.max_tokens": 200,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.model": "gpt-4-0613",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.input.messages": json.dumps(GENAI_INPUT),
        "gen_ai.output.messages": json.dumps(GENAI_OUTPUT),
    }


def openinference_attributes() -> dict[str, Any]:
    p = "llm.input_messages"
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4-0613",
        "llm.provider": "openai",
        "llm.invocation_parameters": json.dumps(
            {"model": "gpt-4", "temperature": 0.5, "max_completion_tokens": 200}
        ),
        f"{p}.0.message.role": "user",
        f"{p}.0.message.contents.0.message_content.type": "text",
        f"{p}.0.message.contents.0.message_content.text": "Weather in Oslo?",
        f"{p}.1.message.role": "assistant",
        f"{p}.1.message.content": "Let me check.",
        f"{p}.1.message.tool_calls.0.tool_call.id": "t1",
        f"{p}.1.message.tool_calls.0.tool_call.function.name": "get_weather",
        f"{p}.1.message.tool_calls.0.tool_call.function.arguments": '{"city": "Oslo"}',
        f"{p}.2.message.role": "tool",
        f"{p}.2.message.content": "snow, -3C",
        f"{p}.2.message.tool_call_id": "t1",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "It is snowing.",
        "output.value": json.dumps({"text": "It is snowing.", "finish_reason": "stop"}),
        "llm.token_count.prompt": 40,
        "llm.token_count.completion": 9,
    }


def typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [typed(v) for v in value]}}
    return {"stringValue": value}


def otlp_span(span_id: str, parent: str | None, name: str, attrs: dict[str, Any], **extra: Any) -> dict:
    span = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(T0 * 10**9),
        "endTimeUnixNano": str(T0 * 10**9 + 750_000_000),
        "attributes": [{"key": k, "value": typed(v)} for k, v in attrs.items()],
        **extra,
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def otlp_envelope() -> dict[str, Any]:
    spans = [
        otlp_span("AAAAAAAAAAAAAAA1", None, "weather-agent", {"gen_ai.operation.name": "invoke_agent",
                                                             "gen_ai.agent.name": "weather"}),
        otlp_span("AAAAAAAAAAAAAAA2", "AAAAAAAAAAAAAAA1", "chat gpt-4", genai_attributes()),
        otlp_span("AAAAAAAAAAAAAAA3", "AAAAAAAAAAAAAAA1", "execute_tool get_weather", {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "t1",
            "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
            "gen_ai.tool.call.result": "snow, -3C",
        }),
        otlp_span("AAAAAAAAAAAAAAA4", "AAAAAAAAAAAAAAA1", "chat gpt-4", {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 5,
            "llm.token_count.completion": 1,
            "input.value": "ping",
            "output.value": "pong",
        }, status={"code": 2, "message": "upstream timeout"}),
    ]
    return {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "weather-app"}}]},
            "scopeSpans": [{"scope": {"name": "genai-sdk"}, "spans": spans}],
        }]
    }


def langfuse_export() -> dict[str, Any]:
    trace_id = "e1fde3efec57ce8a69bafd3fb928a7eb"

    def obs(obs_id: str, obs_type: str, name: str, parent: str | None, **fields: Any) -> dict:
        base = {
            "id": obs_id, "traceId": trace_id, "type": obs_type, "name": name,
            "parentObservationId": parent, "startTime": "2025-03-01T09:38:56.232Z",
            "endTime": "2025-03-01T09:38:57.080Z", "completionStartTime": None, "level": "DEFAULT",
            "statusMessage": None, "model": None, "modelParameters": None, "input": None,
            "output": None, "metadata": {"resourceAttributes": {"service.name": "unknown_service"}},
            "usageDetails": {}, "costDetails": {}, "totalCost": 0, "inputUsage": 0, "outputUsage": 0,
            "promptName": None, "promptVersion": None, "environment": "default",
        }
        base.update(fields)
        return base

    return {
        "trace": {
            "id": trace_id, "name": "LangGraph", "timestamp": "2025-03-01T09:38:56.228Z",
            "environment": "default", "tags": ["graph"], "userId": "u-5", "sessionId": "s-5",
            "metadata": json.dumps({"resourceAttributes": {"service.name": "unknown_service"}}),
        },
        "observations": [
            obs("root", "SPAN", "LangGraph", None),
            obs("gen1", "GENERATION", "ChatOpenAI", "root", model="gpt-4o-2024-08-06",
                modelParameters={"temperature": 0},
                input=[{"role": "user", "content": "Search the web for 'example'."},
                       {"role": "tool", "content": {"type": "function", "function": {
                           "name": "Web-Search", "parameters": {"type": "object"}}}}],
                output={"role": "assistant", "content": "", "additional_kwargs": {"tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "Web-Search", "arguments": {"query": "example"}}}]}},
                usageDetails={"input": 60, "output": 15, "total": 75},
                costDetails={"input": 6e-05, "output": 1.5e-05, "total": 7.5e-05}, totalCost=7.5e-05,
                completionStartTime="2025-03-01T09:38:56.532Z"),
            obs("tool1", "TOOL", "Web-Search", "root", input={"query": "example"},
                output=[{"url": "https://example.com"}]),
            obs("gen2", "GENERATION", "ChatOpenAI", "root", model="gpt-4o-2024-08-06",
                input=[{"role": "user", "content": "Summarise."}], output="Example is a placeholder.",
                usageDetails={"input": 108, "output": 51, "total": 159},
                costDetails={"total": 0.000159}, totalCost=0.000159, promptName="summarise",
                promptVersion=4),
            obs("gen3", "GENERATION", "ChatOpenAI", "root", model="gpt-4o-2024-08-06",
                input="hi", output=None, level="ERROR", statusMessage="RateLimitError: 429"),
        ],
    }


# --- each format ---------------------------------------------------------------------------


def test_openai_chat_pairs(tmp_path: Path) -> None:
    error_pair = openai_pair(response={"error": {"message": "Rate limit", "type": "rate_limit_error"}},
                             ts="2025-03-01T12:00:05Z")
    path = write_jsonl(tmp_path / "pairs.jsonl", [openai_pair(), error_pair])
    assert sniff_format(path) == "openai_chat"
    calls, spans, rejected = read(path)
    assert (len(calls), len(spans), rejected) == (2, 0, [])
    ok, failed = calls
    assert ok["call_id"] == "chatcmpl-abc"
    assert ok["ts"] == datetime.fromtimestamp(T0, tz=UTC)
    assert (ok["model"], ok["provider"], ok["app"], ok["feature"]) == (
        "gpt-4o-mini-2024-07-18", "openai", "shop", "orders")
    assert (ok["input_tokens"], ok["output_tokens"], ok["cost_usd"]) == (55, 12, None)
    assert ok["params"] == {"temperature": 0.2, "max_tokens": 300}
    assert ok["input_text"] == "Where is my order 42?"
    assert ok["tool_calls"] == [{"name": "lookup_order", "arguments": {"order_id": 42}}]
    assert ok["finish_reason"] == "tool_calls" and ok["latency_ms"] == 812.5
    assert ok["user_id"] == "u-1" and ok["metadata"] == {"ab_bucket": "B"}
    assert ok["source_format"] == "openai_chat" and ok["source_offset"] == 1
    assert failed["status"] == "error" and failed["error_type"] == "rate_limit_error"
    assert failed["model"] == "gpt-4o-mini" and failed["source_offset"] == 2
    assert len(failed["call_id"]) == 64  # no response id: a content hash


def test_litellm_payloads(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "litellm.jsonl", [litellm_success(), litellm_failure()])
    assert sniff_format(path) == "litellm_payload"
    calls, _, rejected = read(path)
    assert rejected == [] and len(calls) == 2
    ok, failed = calls
    assert (ok["call_id"], ok["trace_id"], ok["model"], ok["provider"]) == (
        "chatcmpl-lite-1", "trace-lite", "gpt-4o", "openai")
    assert (ok["input_tokens"], ok["output_tokens"], ok["cost_usd"]) == (10, 20, 0.000225)
    assert ok["latency_ms"] == pytest.approx(1500) and ok["ttft_ms"] == pytest.approx(250)
    assert (ok["app"], ok["feature"], ok["prompt_id"], ok["prompt_version"]) == (
        "helpdesk", "refunds", "refund-policy", "3")
    assert (ok["user_id"], ok["session_id"]) == ("u-7", "s-9")
    assert ok["metadata"]["tags"] == ["beta"]
    assert (ok["input_text"], ok["output_text"], ok["finish_reason"]) == (
        "Can I get a refund?", "Yes, within 30 days.", "stop")
    assert ok["params"] == {"temperature": 0.0, "max_tokens": 100}
    assert failed["status"] == "error" and failed["error_type"] == "RateLimitError"
    assert "slow down" in failed["error_message"]
    assert failed["ttft_ms"] is None and failed["output_text"] is None


def test_litellm_single_pretty_printed_payload(tmp_path: Path) -> None:
    path = write_json(tmp_path / "payload.json", litellm_success())
    assert sniff_format(path) == "litellm_payload"
    calls, _, rejected = read(path)
    assert rejected == [] and [c["call_id"] for c in calls] == ["chatcmpl-lite-1"]


def test_otlp_envelope_calls_and_spans(tmp_path: Path) -> None:
    path = write_json(tmp_path / "trace.json", otlp_envelope())
    assert sniff_format(path) == "otlp_json"
    calls, spans, rejected = read(path)
    assert rejected == []
    assert [c["span_id"] for c in calls] == ["aaaaaaaaaaaaaaa2", "aaaaaaaaaaaaaaa4"]
    assert [(s["span_id"], s["kind"]) for s in spans] == [
        ("aaaaaaaaaaaaaaa1", "agent"), ("aaaaaaaaaaaaaaa3", "tool")]
    genai, failed = calls
    assert genai["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert genai["parent_span_id"] == "aaaaaaaaaaaaaaa1" and genai["call_id"] == "aaaaaaaaaaaaaaa2"
    assert (genai["app"], genai["feature"]) == ("weather-app", "weather-agent")
    assert (genai["input_tokens"], genai["output_tokens"], genai["model"]) == (40, 9, "gpt-4-0613")
    assert genai["latency_ms"] == pytest.approx(750)
    assert genai["metadata"] == {"convention": "otel_genai"}
    assert failed["status"] == "error" and failed["error_message"] == "upstream timeout"
    assert (failed["input_text"], failed["output_text"]) == ("ping", "pong")
    assert failed["metadata"] == {"convention": "openinference"}
    tool = spans[1]
    assert (tool["tool_name"], tool["tool_call_id"], tool["parent_span_id"]) == (
        "get_weather", "t1", "aaaaaaaaaaaaaaa1")
    assert json.loads(tool["input"]) == {"city": "Oslo"} and json.loads(tool["output"]) == "snow, -3C"
    table = rows_to_table(spans, SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS)
    assert table.num_rows == 2 and table.schema == SPAN_ARROW_SCHEMA


def test_otlp_envelope_per_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "spans.jsonl", [otlp_envelope(), otlp_envelope()])
    calls, spans, rejected = read(path)
    assert (len(calls), len(spans), rejected) == (4, 4, [])
    assert [c["source_offset"] for c in calls] == [1, 1, 2, 2]


def test_both_conventions_give_the_same_record(tmp_path: Path) -> None:
    genai_path = write_json(tmp_path / "genai.json", genai_attributes())
    oi_path = write_json(tmp_path / "oi.json", openinference_attributes())
    assert sniff_format(genai_path) == sniff_format(oi_path) == "otlp_json"
    (genai,), _, _ = read(genai_path)
    (oi,), _, _ = read(oi_path)
    assert genai["metadata"].pop("convention") == "otel_genai"
    assert oi["metadata"].pop("convention") == "openinference"
    for record in (genai, oi):
        record.pop("source_file")
    assert genai == oi
    assert (genai["input_tokens"], genai["output_tokens"]) == (40, 9)
    assert genai["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert genai["input_text"] == "Weather in Oslo?" and genai["output_text"] == "It is snowing."
    assert genai["params"] == {"temperature": 0.5, "max_tokens": 200}
    assert genai["ts"] == DAY and genai["metadata"] == {"ts_assumed": True}
    assert genai["messages"][2] == {"role": "tool", "content": "snow, -3C", "tool_call_id": "t1"}


def test_otel_genai_deprecated_indexed_prompt() -> None:
    attrs = {
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-3-5-haiku",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "2+2?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "4",
        "gen_ai.completion.0.finish_reason": "end_turn",
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 1,
    }
    (item,) = otlp_json(attrs, offset=7, raw="{}", source=Source("shop", default_ts=DAY))
    call = item.call
    assert call is not None, item.reason
    assert (call["provider"], call["model"], call["input_text"], call["output_text"]) == (
        "anthropic", "claude-3-5-haiku", "2+2?", "4")
    assert (call["input_tokens"], call["output_tokens"], call["finish_reason"]) == (12, 1, "end_turn")
    assert call["source_offset"] == 7


def test_langfuse_export(tmp_path: Path) -> None:
    path = write_json(tmp_path / "export.json", langfuse_export())
    assert sniff_format(path) == "langfuse"
    calls, spans, rejected = read(path)
    assert rejected == []
    assert [c["call_id"] for c in calls] == ["gen1", "gen2", "gen3"]
    assert [(s["span_id"], s["kind"], s["parent_span_id"]) for s in spans] == [
        ("root", "span", None), ("tool1", "tool", "root")]
    gen1, gen2, gen3 = calls
    assert {c["trace_id"] for c in calls} == {"e1fde3efec57ce8a69bafd3fb928a7eb"}
    assert {c["parent_span_id"] for c in calls} == {"root"}
    assert (gen1["app"], gen1["feature"], gen1["environment"]) == ("shop", "LangGraph", "production")
    assert (gen1["input_tokens"], gen1["output_tokens"], gen1["cost_usd"]) == (60, 15, 7.5e-05)
    assert gen1["latency_ms"] == pytest.approx(848) and gen1["ttft_ms"] == pytest.approx(300)
    assert gen1["tool_calls"] == [{"name": "Web-Search", "arguments": {"query": "example"}}]
    assert gen1["tools"][0]["function"]["name"] == "Web-Search"  # a tool definition, not a message
    assert [m["role"] for m in gen1["messages"]] == ["user"]
    assert (gen1["user_id"], gen1["session_id"], gen1["metadata"]["tags"]) == ("u-5", "s-5", ["graph"])
    assert (gen2["prompt_id"], gen2["prompt_version"], gen2["output_text"]) == (
        "summarise", "4", "Example is a placeholder.")
    assert gen3["status"] == "error" and gen3["error_message"] == "RateLimitError: 429"
    assert gen3["cost_usd"] is None  # zero with no cost details: unknown, not free
    assert sum(c["input_tokens"] or 0 for c in calls) == 168
    assert sum(c["cost_usd"] or 0 for c in calls) == pytest.approx(0.000234)
    assert [i for i in (1, 2, 3, 4, 5)] == sorted(
        [c["source_offset"] for c in calls] + [s["source_offset"] for s in spans])
    assert json.loads(spans[1]["output"]) == [{"url": "https://example.com"}]


def test_langfuse_per_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "exports.jsonl", [langfuse_export(), langfuse_export()])
    calls, spans, rejected = read(path)
    assert (len(calls), len(spans), rejected) == (6, 4, [])


def test_native_assay_jsonl(tmp_path: Path) -> None:
    record = {"call_id": "c1", "ts": "2025-03-01T10:00:00Z", "feature": "f", "model": "m"}
    path = write_jsonl(tmp_path / "calls.jsonl", [record])
    assert sniff_format(path) == "assay_jsonl"
    (call,), _, _ = read(path)
    assert (call["app"], call["source_format"], call["source_offset"]) == ("shop", "assay_jsonl", 1)


# --- sniffing ----------------------------------------------------------------------------------


def test_sniff_rejects_an_unknown_format_naming_file_and_formats(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mystery.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(UnknownFormatError) as info:
        sniff_format(path)
    message = str(info.value)
    assert "mystery.jsonl" in message and "foo, bar" in message
    assert all(fmt in message for fmt in FORMATS)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(UnknownFormatError, match="empty"):
        sniff_format(empty)
    with pytest.raises(ValueError, match="valid formats"):
        list(read_records(path, "parquet", default_app="shop"))


def test_sniff_a_large_document_from_its_first_bytes(tmp_path: Path) -> None:
    export = langfuse_export()
    export["trace"]["input"] = "x" * 200_000  # the head that sniffing reads is not parseable JSON
    path = write_json(tmp_path / "big.json", export)
    assert sniff_format(path) == "langfuse"


# --- bad input: reasons, never exceptions ------------------------------------------------------


def test_bad_records_become_reasons(tmp_path: Path) -> None:
    no_model = openai_pair()
    del no_model["request"]["model"]
    del no_model["response"]["model"]
    wrong_types = openai_pair()
    wrong_types["response"]["usage"]["prompt_tokens"] = "many"
    lines = [
        json.dumps(openai_pair()),
        json.dumps(no_model),
        json.dumps(wrong_types),
        '{"request": {"model": "x", "messages": [',  # truncated
        json.dumps([openai_pair()]),  # an array where an object is expected
        json.dumps({"request": "not an object", "response": {}}),
        json.dumps(openai_pair(response={"created": "yesterday-ish", "choices": []})),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"request": "\xff\xfe"}\n')
    calls, _, rejected = read(path, "openai_chat")
    assert len(calls) == 1
    reasons = {item.offset: item.reason for item in rejected}
    assert reasons[2] == "`model`: required field is missing"
    assert reasons[3].startswith("`input_tokens`:")
    assert reasons[4].startswith("not valid JSON:")
    assert reasons[5] == "expected a JSON object per record, got list"
    assert reasons[6].startswith("`request`: required object is missing")
    assert reasons[7].startswith("`response.created`:")
    assert reasons[8].startswith("not valid UTF-8 text")
    assert rejected[2].raw == lines[3]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_that_is_not_json_gives_a_reason_per_line(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n\n<xml/>\n")
    items = list(read_records(path, fmt, default_app="shop"))
    assert [(i.offset, i.call, i.span) for i in items] == [(1, None, None), (2, None, None),
                                                           (4, None, None)]
    assert all(i.reason.startswith("not valid JSON") for i in items)


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_shapes_never_raise(tmp_path: Path, fmt: str) -> None:
    shapes = [None, 1, "text", [], {}, {"trace": 1}, {"resourceSpans": [1, {"scopeSpans": [{"spans": [1]}]}]},
              {"trace": {}, "observations": [1, {"type": "GENERATION", "startTime": 5}]},
              {"request": {}, "response": {"choices": "no"}}, {"gen_ai.request.model": 3},
              {"startTime": "later", "model": "m"}]
    path = write_jsonl(tmp_path / "shapes.jsonl", shapes)
    items = list(read_records(path, fmt, default_app="shop"))
    assert items and all(sum(x is not None for x in (i.call, i.span, i.reason)) == 1 for i in items)


def test_missing_start_time_is_a_reason_without_a_default(tmp_path: Path) -> None:
    payload = litellm_success()
    del payload["startTime"]
    (item,) = otlp_json(genai_attributes(), offset=1, raw="{}", source=Source("shop"))
    assert item.reason == "span 1: `startTimeUnixNano`: required field is missing"
    from assay.formats.litellm_payload import litellm_payload

    (item,) = litellm_payload(payload, offset=3, raw="{}", source=Source("shop"))
    assert item.reason.startswith("`startTime`: required field is missing")


def test_a_malformed_first_record_does_not_decide_the_format(tmp_path: Path) -> None:
    """The first line of a day can be the truncated or invalid one; the next records decide."""
    good = json.dumps({"call_id": "c1", "ts": "2026-11-20T10:00:00Z", "app": "a", "feature": "f", "model": "m"})
    for first in ('{"call_id": "c0", "ts": "2026-11-20T1', '{"ts": "2026-11-20T10:00:00Z", "latency_ms": -1}', "not json"):
        path = tmp_path / "day.jsonl"
        path.write_text(first + "\n" + good + "\n" + good.replace("c1", "c2") + "\n", encoding="utf-8")
        assert sniff_format(path) == "assay_jsonl", first
