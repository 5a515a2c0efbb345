"""Trace and session subjects built from a day's calls and spans (the contract and the midnight
rule: `assay.contracts.agent_subject`).

Plain functions over rows (call records and span records, nested fields decoded), so the
`trace_subjects` / `session_subjects` assets stay thin and the rules are tested without Dagster.

Which tools a trace ran, in order: its tool spans (`kind == "tool"`) by start time, because a
span is a tool that actually ran, with its result and status. Many exporters also repeat the
earlier tool calls in every later LLM call's messages, so the calls' requested `tool_calls`
over-count; they are used only for a trace that has no tool span (a log of chat calls without
a tracer), one call's requests at a time, skipping those of a call that answered in text while
listing the previous call's requests again (a re-report; the same request made again without
an answer is a repeat, and counts).
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from assay.contracts._arrow import as_utc

RESULT_CHARS = 2000
"""A tool result longer than this is cut in the step (with its length noted): the step is
evidence for a judge and a row in the lake, not a copy of every page a search tool returned."""


def _json_or_text(text: Any) -> Any:
    """A span's input/output: JSON text decoded, a Python literal read (some tracers log the
    repr of a dict), anything else as it is."""
    value = text
    for _ in range(2):  # a JSON string holding JSON (or a repr) is unwrapped once more
        if not isinstance(value, str):
            return value
        stripped = value.strip()
        if not stripped:
            return None
        try:
            value = json.loads(stripped)
            continue
        except ValueError:
            pass
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
    return value


def _cut(value: Any) -> Any:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) <= RESULT_CHARS:
        return value
    return f"{text[:RESULT_CHARS]}... ({len(text)} characters)"


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        decoded = _json_or_text(value)
        return decoded if isinstance(decoded, dict | list) else value
    return value


def _order_key(record: Mapping[str, Any]) -> tuple:
    return (as_utc(record["ts"]), record.get("source_offset") or 0)


def _requested_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{name, arguments, call_id}] the LLM calls asked for, in order (see the module doc)."""
    requested: list[dict[str, Any]] = []
    previous: Any = None
    for call in calls:
        asked = [c for c in call.get("tool_calls") or [] if isinstance(c, dict) and c.get("name")]
        answered = bool((call.get("output_text") or "").strip())
        # A call that answered in text while listing the previous call's requests again is
        # re-reporting them; the same request made again without an answer is a repeat (a loop).
        if asked and not (answered and asked == previous):
            requested.extend(
                {"name": str(c["name"]), "arguments": _arguments(c.get("arguments")), "id": c.get("id"),
                 "call_id": call["call_id"]}
                for c in asked
            )
        previous = asked or previous
    return requested


def _tool_steps(tool_spans: list[dict[str, Any]], requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One step per tool span; arguments the span logged, else those of the request it ran
    (same tool call id, else the first unused request of the same tool)."""
    unused = list(requested)
    steps = []
    for span in tool_spans:
        name = span.get("tool_name") or span.get("name") or "tool"
        match = next((r for r in unused if span.get("tool_call_id") and r.get("id") == span["tool_call_id"]), None)
        match = match or next((r for r in unused if r["name"] == name), None)
        if match is not None:
            unused.remove(match)
        arguments = _arguments(_json_or_text(span.get("input")))
        if not isinstance(arguments, dict) and match is not None and isinstance(match["arguments"], dict):
            arguments = match["arguments"]
        steps.append(
            {
                "kind": "tool",
                "name": str(name),
                "id": span["span_id"],
                "ts": as_utc(span["ts"]).isoformat(),
                "arguments": arguments,
                "result": _cut(_json_or_text(span.get("output"))),
                "status": span.get("status") or "success",
                "error_message": span.get("error_message"),
            }
        )
    return steps


def _llm_step(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "llm",
        "name": call.get("model"),
        "id": call["call_id"],
        "ts": as_utc(call["ts"]).isoformat(),
        "requested": [c.get("name") for c in call.get("tool_calls") or [] if isinstance(c, dict)],
        "output": _cut(call.get("output_text")),
        "status": call.get("status") or "success",
        "error_message": call.get("error_message"),
        "input_tokens": call.get("input_tokens"),
        "output_tokens": call.get("output_tokens"),
    }


def final_answer(calls: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The call that gave a trace's final answer: the last one (in time) with text out."""
    answered = [c for c in calls if (c.get("output_text") or "").strip()]
    return answered[-1] if answered else None


def _total(values: Iterable[Any]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def build_trace(trace_id: str, calls: list[dict[str, Any]], spans: list[dict[str, Any]]) -> dict[str, Any]:
    """The trace subject of one trace's calls and spans (any order)."""
    calls = sorted(calls, key=_order_key)
    spans = sorted(spans, key=_order_key)
    requested = _requested_calls(calls)
    tool_spans = [s for s in spans if s.get("kind") == "tool"]
    if tool_spans:
        tool_steps = _tool_steps(tool_spans, requested)
    else:
        tool_steps = [
            {"kind": "tool", "name": r["name"], "id": r.get("id") or r["call_id"], "ts": None,
             "arguments": r["arguments"], "result": None, "status": "success", "error_message": None,
             "requested_by": r["call_id"]}
            for r in requested
        ]
    llm_steps = [_llm_step(c) for c in calls]
    # Requested-only tool steps have no time of their own: they follow the call that asked.
    asked_at = {s["id"]: s["ts"] for s in llm_steps}
    steps = sorted(llm_steps + tool_steps, key=lambda s: (s["ts"] or asked_at[s["requested_by"]], s["kind"] == "tool"))
    for i, step in enumerate(steps, 1):
        step["index"] = i
    first, answer = calls[0], final_answer(calls) or calls[-1]
    ends = [as_utc(s["end_ts"]) for s in spans if s.get("end_ts")]
    starts = [as_utc(c["ts"]) for c in calls] + [as_utc(s["ts"]) for s in spans]
    call_ends = [as_utc(c["ts"]) + timedelta(milliseconds=c.get("latency_ms") or 0) for c in calls]
    start, end = min(starts), max(ends + call_ends)
    tool_calls = [
        {k: s[k] for k in ("name", "arguments", "result", "status", "error_message")} for s in tool_steps
    ]
    input_tokens = _total(c.get("input_tokens") for c in calls)
    output_tokens = _total(c.get("output_tokens") for c in calls)
    costs = [c.get("cost_usd") for c in calls]
    return {
        "trace_id": trace_id,
        "ts": start,
        "end_ts": end,
        "app": first.get("app"),
        "feature": first.get("feature"),
        "environment": first.get("environment"),
        "model": answer.get("model"),
        "session_id": next((c["session_id"] for c in calls if c.get("session_id")), None),
        "user_id": next((c["user_id"] for c in calls if c.get("user_id")), None),
        "messages": first.get("messages") or [],
        "input_text": first.get("input_text"),
        "tools": next((c["tools"] for c in calls if c.get("tools")), None),
        "steps": steps,
        "tool_calls": tool_calls,
        "output_text": (answer.get("output_text") or None),
        "status": "error" if any(c.get("status") == "error" for c in calls) else "success",
        "llm_calls": len(calls),
        "tool_call_count": len(tool_steps),
        "tool_errors": sum(s["status"] == "error" for s in tool_steps),
        "step_count": len(steps),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": None if input_tokens is None and output_tokens is None else (input_tokens or 0) + (output_tokens or 0),
        # Unknown cost stays unknown: a trace with one unpriced call has no total.
        "cost_usd": None if any(c is None for c in costs) else sum(costs),
        "latency_ms": (end - start).total_seconds() * 1000,
        "call_ids": [c["call_id"] for c in calls],
        "expected_output": first.get("expected_output"),
        "metadata": first.get("metadata"),
        "source_format": first.get("source_format"),
        "source_file": first.get("source_file"),
    }


def build_traces(calls: Iterable[Mapping[str, Any]], spans: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The day's trace subjects: every trace_id with at least one LLM call and anything besides
    it (another call or a span). A lone call in a trace of its own is a call subject, not an
    agent run. Sorted by start time."""
    calls_by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    spans_by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        if call.get("trace_id"):
            calls_by_trace[call["trace_id"]].append(dict(call))
    for span in spans:
        if span.get("trace_id"):
            spans_by_trace[span["trace_id"]].append(dict(span))
    traces = [
        build_trace(trace_id, trace_calls, spans_by_trace.get(trace_id, []))
        for trace_id, trace_calls in calls_by_trace.items()
        if len(trace_calls) > 1 or spans_by_trace.get(trace_id)
    ]
    return sorted(traces, key=lambda t: (t["ts"], t["trace_id"]))


# ---------------------------------------------------------------------------- sessions


def session_turns(calls: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A session's calls as turns, in order: one turn per trace (an agent run answers one
    request with many calls), or per call without a trace."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        groups[call.get("trace_id") or f"call:{call['call_id']}"].append(dict(call))
    turns = []
    for key, group in groups.items():
        group.sort(key=_order_key)
        answer = final_answer(group) or group[-1]
        turns.append(
            {
                "call_id": answer["call_id"],
                "trace_id": None if key.startswith("call:") else key,
                "ts": as_utc(group[0]["ts"]),
                "user": group[0].get("input_text") or "",
                "assistant": answer.get("output_text") or "",
                "tool_calls": [c.get("name") for call in group for c in call.get("tool_calls") or [] if isinstance(c, dict)],
                "status": "error" if any(c.get("status") == "error" for c in group) else "success",
                "model": answer.get("model"),
                "input_tokens": _total(c.get("input_tokens") for c in group),
                "output_tokens": _total(c.get("output_tokens") for c in group),
                "cost_usd": None if any(c.get("cost_usd") is None for c in group) else sum(c["cost_usd"] for c in group),
                "call_ids": [c["call_id"] for c in group],
                "feedback_score": next((c["feedback_score"] for c in group if c.get("feedback_score") is not None), None),
            }
        )
    turns.sort(key=lambda t: (t["ts"], t["call_id"]))
    for i, turn in enumerate(turns, 1):
        turn["turn"] = i
    return turns


def turn_messages(turns: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    messages = []
    for turn in turns:
        messages.append({"role": "user", "content": turn["user"]})
        if turn["assistant"]:
            messages.append({"role": "assistant", "content": turn["assistant"]})
    return messages


def build_sessions(
    calls: Iterable[Mapping[str, Any]], previous_day_calls: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The day's session subjects: every session_id among the day's calls, its turns in order,
    with the session's turns of the day before as history (the midnight rule,
    `assay.contracts.agent_subject`)."""
    by_session: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for call in calls:
        if call.get("session_id"):
            by_session[call["session_id"]].append(call)
    earlier: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for call in previous_day_calls:
        if call.get("session_id") in by_session:
            earlier[call["session_id"]].append(call)
    sessions = []
    for session_id, session_calls in by_session.items():
        turns = session_turns(session_calls)
        history = session_turns(earlier.get(session_id, []))
        for turn in turns:
            turn["turn"] += len(history)
        first = min(session_calls, key=_order_key)
        input_tokens = _total(t["input_tokens"] for t in turns)
        output_tokens = _total(t["output_tokens"] for t in turns)
        costs = [t["cost_usd"] for t in turns]
        sessions.append(
            {
                "session_id": session_id,
                "ts": turns[0]["ts"],
                "end_ts": turns[-1]["ts"],
                "app": first.get("app"),
                "feature": first.get("feature"),
                "environment": first.get("environment"),
                "model": turns[-1]["model"],
                "user_id": next((c["user_id"] for c in session_calls if c.get("user_id")), None),
                "messages": turn_messages(history) + turn_messages(turns),
                "turns": [{**t, "ts": t["ts"].isoformat()} for t in turns],
                "turn_count": len(turns),
                "history_turns": len(history),
                "is_continued": bool(history),
                "input_text": turns[-1]["user"],
                "output_text": turns[-1]["assistant"] or None,
                "status": "error" if any(t["status"] == "error" for t in turns) else "success",
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": None if input_tokens is None and output_tokens is None else (input_tokens or 0) + (output_tokens or 0),
                "cost_usd": None if any(c is None for c in costs) else sum(costs),
                "call_ids": [cid for t in turns for cid in t["call_ids"]],
                "trace_ids": sorted({t["trace_id"] for t in turns if t["trace_id"]}),
                "metadata": first.get("metadata"),
            }
        )
    return sorted(sessions, key=lambda s: (s["ts"], s["session_id"]))


def messages_until_turn(session: Mapping[str, Any], turn: int) -> list[dict[str, str]]:
    """The conversation a replay of `turn` (1-based, counting history turns) is given: every
    earlier turn as recorded (user and answer), then that turn's user message."""
    messages = list(session.get("messages") or [])
    kept: list[dict[str, str]] = []
    users = 0
    for message in messages:
        if message.get("role") == "user":
            users += 1
            if users == turn:
                kept.append(message)
                break
        kept.append(message)
    return kept
