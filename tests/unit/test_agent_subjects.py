"""Trace and session subjects (`assay.agent_subjects`, `assay.assets.agent_subjects`).

The Langfuse exports in ../shared/fixtures (found relative to the repository; the test FAILS
when they are missing) become one trace subject each, with the tools that ran in order. The
expected figures were counted by hand from each export's observations (GENERATION = an LLM
call, TOOL or a span named after a tool = a tool that ran; tokens from `usageDetails`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.agent_subjects import build_sessions, build_traces, messages_until_turn
from assay.contracts.agent_subject import SESSION_SUBJECT_ARROW_SCHEMA, TRACE_SUBJECT_ARROW_SCHEMA
from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS
from assay.contracts.span import SPAN_ARROW_SCHEMA, SPAN_JSON_COLUMNS
from assay.formats import read_records
from assay.lake import Lake

REPOSITORY = Path(__file__).resolve().parents[2]
LANGFUSE = REPOSITORY.parent / "shared" / "fixtures" / "trace_formats" / "langfuse"

HAND_COUNTED = {
    # export -> (LLM calls, steps, tokens, [(tool, arguments)] in the order they ran, session)
    "agno-2025-06-11.json": (
        4, 5, 3839, [("duckduckgo_search", {"query": "currently trending on Twitter"})],
        "35cc6c90-b657-4819-b66c-c931c03ad569",
    ),
    # The tool span logs its input as a Python repr inside a JSON string: read as a dict.
    "langgraph-2025-08-22.json": (2, 3, 234, [("Web-Search", {"query": "example"})], None),
    "llamaindex-2025-06-05.json": (1, 1, 94, [], "session_abc"),
    "openai-agents-2025-09-30.json": (2, 3, 184, [("get_weather", {"city": "Tokyo"})], None),
    "pydantic-ai-tools-2025-12-04.json": (
        4, 7, 1524,
        [("get_pun_suggestion", {"topic": "programming"}), ("get_dad_joke_suggestion", {"topic": "programming"}),
         ("get_one_liner_suggestion", {"topic": "programming"})],
        None,
    ),
}


def _read(path: Path) -> tuple[list[dict], list[dict]]:
    items = list(read_records(path, default_app="dev", default_ts=datetime(2025, 1, 1, tzinfo=UTC)))
    return [i.call for i in items if i.call], [i.span for i in items if i.span]


def test_the_langfuse_exports_are_beside_the_repository() -> None:
    assert LANGFUSE.is_dir(), f"{LANGFUSE} is missing: clone the shared fixtures beside the repository"
    assert {p.name for p in LANGFUSE.glob("*.json")} == set(HAND_COUNTED)


@pytest.mark.parametrize("name", sorted(HAND_COUNTED))
def test_each_langfuse_export_is_one_trace_subject_with_its_tools_in_order(name: str) -> None:
    calls, steps, tokens, tools, session = HAND_COUNTED[name]
    [trace] = build_traces(*_read(LANGFUSE / name))
    assert (trace["llm_calls"], trace["step_count"], trace["total_tokens"]) == (calls, steps, tokens)
    assert [(t["name"], t["arguments"]) for t in trace["tool_calls"]] == tools
    assert trace["tool_call_count"] == len(tools) and trace["tool_errors"] == 0
    assert trace["session_id"] == session
    assert trace["output_text"], "the final answer is the last call with text"
    # Steps are in time order and numbered.
    assert [s["index"] for s in trace["steps"]] == list(range(1, steps + 1))
    assert [s["ts"] for s in trace["steps"]] == sorted(s["ts"] for s in trace["steps"])


def test_pydantic_ai_final_answer_and_step_order() -> None:
    [trace] = build_traces(*_read(LANGFUSE / "pydantic-ai-tools-2025-12-04.json"))
    # llm (asks for 3 tools) -> the 3 tools -> llm -> llm (the joke) -> llm (evaluator's final_result tool)
    assert [s["kind"] for s in trace["steps"]] == ["llm", "tool", "tool", "tool", "llm", "llm", "llm"]
    assert trace["output_text"].startswith("Why do programmers hate nature?")


def _call(call_id: str, ts: str, *, trace: str | None = None, session: str | None = None, user: str = "",
          answer: str = "", tool_calls=None, tokens=(10, 5)) -> dict:
    return {
        "call_id": call_id, "ts": datetime.fromisoformat(ts), "app": "shop", "feature": "support",
        "model": "gpt-4o-mini", "trace_id": trace, "session_id": session, "input_text": user,
        "messages": [{"role": "user", "content": user}], "output_text": answer, "tool_calls": tool_calls,
        "status": "success", "input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": 0.001,
        "latency_ms": 100.0, "source_format": "assay_jsonl",
    }


def _span(span_id: str, ts: str, trace: str, tool: str, args: dict, *, status: str = "success") -> dict:
    return {
        "span_id": span_id, "trace_id": trace, "ts": datetime.fromisoformat(ts), "kind": "tool", "name": tool,
        "tool_name": tool, "input": __import__("json").dumps(args), "output": '"ok"', "status": status,
        "source_format": "otlp_json",
    }


def test_a_trace_without_tool_spans_takes_the_requested_calls_once() -> None:
    """Chat logs without a tracer: each call's requests, a repeat of the previous call's skipped."""
    ask = [{"name": "lookup_order", "arguments": '{"order_id": "A1"}'}]
    calls = [
        _call("c1", "2026-01-02T10:00:00+00:00", trace="t1", user="where is A1?", tool_calls=ask),
        _call("c2", "2026-01-02T10:00:02+00:00", trace="t1", answer="It shipped.", tool_calls=ask),
        _call("lone", "2026-01-02T11:00:00+00:00", trace="t2", user="hi", answer="hello"),
    ]
    [trace] = build_traces(calls, [])
    assert trace["tool_calls"] == [
        {"name": "lookup_order", "arguments": {"order_id": "A1"}, "result": None, "status": "success", "error_message": None}
    ]
    assert [s["kind"] for s in trace["steps"]] == ["llm", "tool", "llm"]
    assert (trace["total_tokens"], trace["cost_usd"], trace["output_text"]) == (30, pytest.approx(0.002), "It shipped.")


def test_a_failed_tool_span_is_a_tool_error() -> None:
    calls = [_call("c1", "2026-01-02T10:00:00+00:00", trace="t1", user="refund A1"),
             _call("c2", "2026-01-02T10:00:03+00:00", trace="t1", answer="Done.")]
    spans = [_span("s1", "2026-01-02T10:00:01+00:00", "t1", "refund", {"order_id": "A1"}, status="error")]
    [trace] = build_traces(calls, spans)
    assert (trace["tool_errors"], trace["tool_calls"][0]["status"]) == (1, "error")


def test_sessions_are_turns_in_order_and_a_session_across_midnight_carries_its_history() -> None:
    yesterday = [_call("y1", "2026-01-01T23:58:00+00:00", session="s1", user="my order is late", answer="Which order?")]
    today = [
        # An agent run is one turn, however many calls it makes.
        _call("a1", "2026-01-02T00:01:00+00:00", trace="t1", session="s1", user="order A1"),
        _call("a2", "2026-01-02T00:01:05+00:00", trace="t1", session="s1", answer="A1 ships tomorrow."),
        _call("b1", "2026-01-02T00:03:00+00:00", session="s1", user="thanks", answer="You're welcome."),
        _call("other", "2026-01-02T09:00:00+00:00", session="s2", user="hello", answer="Hi!"),
        _call("no_session", "2026-01-02T09:30:00+00:00", user="x", answer="y"),
    ]
    sessions = {s["session_id"]: s for s in build_sessions(today, yesterday)}
    assert set(sessions) == {"s1", "s2"}
    s1 = sessions["s1"]
    assert (s1["turn_count"], s1["history_turns"], s1["is_continued"]) == (2, 1, True)
    assert [t["turn"] for t in s1["turns"]] == [2, 3]
    assert [m["content"] for m in s1["messages"]] == [
        "my order is late", "Which order?", "order A1", "A1 ships tomorrow.", "thanks", "You're welcome."]
    assert s1["call_ids"] == ["a1", "a2", "b1"] and s1["trace_ids"] == ["t1"]
    assert (s1["input_text"], s1["output_text"]) == ("thanks", "You're welcome.")
    # A replay of turn 3 gets turns 1 and 2 as recorded, then turn 3's user message.
    assert [m["content"] for m in messages_until_turn(s1, 3)] == [
        "my order is late", "Which order?", "order A1", "A1 ships tomorrow.", "thanks"]
    assert (sessions["s2"]["turn_count"], sessions["s2"]["is_continued"]) == (1, False)


def test_build_day_subjects_reads_the_lake_partitions(tmp_path: Path) -> None:
    from assay.assets.agent_subjects import build_day_subjects

    lake = Lake(tmp_path / "lake")
    calls, spans = _read(LANGFUSE / "pydantic-ai-tools-2025-12-04.json")
    day = "2025-12-04"
    lake.write_partition("raw_calls", calls, partition={"day": day}, schema=CALL_ARROW_SCHEMA, json_columns=CALL_JSON_COLUMNS)
    lake.write_partition("trace_spans", spans, partition={"day": day}, schema=SPAN_ARROW_SCHEMA, json_columns=SPAN_JSON_COLUMNS)
    built = build_day_subjects(lake, day)
    assert [t["tool_call_count"] for t in built.traces] == [3] and built.sessions == []
    # The rows fit their contracts.
    from assay.contracts._arrow import rows_to_table
    from assay.contracts.agent_subject import (
        SESSION_SUBJECT_JSON_COLUMNS,
        TRACE_SUBJECT_JSON_COLUMNS,
    )

    assert rows_to_table(built.traces, TRACE_SUBJECT_ARROW_SCHEMA, TRACE_SUBJECT_JSON_COLUMNS).num_rows == 1
    sessions = build_sessions([_call("x", "2025-12-04T10:00:00+00:00", session="s", user="a", answer="b")])
    assert rows_to_table(sessions, SESSION_SUBJECT_ARROW_SCHEMA, SESSION_SUBJECT_JSON_COLUMNS).num_rows == 1
