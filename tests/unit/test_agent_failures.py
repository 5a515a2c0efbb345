"""Agent runs and conversations into the loop: their failing scores become failures in the
taxonomy (a wrong tool is `tool_misuse`, an unresolved conversation `unresolved`), then
regression cases (a conversation's is multi-turn, cut at the failing turn), which a candidate
replays with the recorded history."""

from __future__ import annotations

from datetime import UTC, datetime

from assay.assets.candidate_outputs import case_subject, replay_request
from assay.assets.failures import classify_agent_failures
from assay.assets.regression_dataset import build_dataset
from assay.evaluators import build_evaluator

from assay.agent_subjects import build_sessions, build_traces
from assay.config import DatasetConfig
from assay.contracts.candidate import Candidate
from assay.contracts.taxonomy import DEFAULT_SEVERITY, FAILURE_CATEGORIES


def _call(call_id, minute, *, trace=None, session=None, user="", answer="", tool_calls=None):
    return {
        "call_id": call_id, "ts": datetime(2026, 3, 2, 10, minute, tzinfo=UTC), "app": "shop", "feature": "support",
        "model": "sim/support-v1", "trace_id": trace, "session_id": session, "input_text": user,
        "messages": [{"role": "user", "content": user}], "output_text": answer, "tool_calls": tool_calls,
        "tools": [{"type": "function", "function": {"name": "lookup_order"}}], "status": "success",
        "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0, "latency_ms": 10.0,
    }


def _score(evaluator, subject_id, *, category, details=None):
    return {"subject_id": subject_id, "evaluator": evaluator, "metric": evaluator, "status": "completed",
            "passed": False, "failure_category": category, "explanation": "why", "details": details}


SESSION_CALLS = [
    _call("c1", 1, session="s1", user="Where is my order A1?", answer="Please check your email."),
    _call("c2", 2, session="s1", user="Where is my order A1? It has not arrived.", answer="Orders ship in 3 days."),
    _call("c3", 3, session="s1", user="I want to talk to a human", answer="I am sorry to hear that."),
]


def test_unresolved_is_a_category_of_the_taxonomy() -> None:
    assert "unresolved" in FAILURE_CATEGORIES and DEFAULT_SEVERITY["unresolved"] == "medium"


def test_a_session_failure_is_a_multi_turn_case_replayed_at_its_failing_turn() -> None:
    [session] = build_sessions(SESSION_CALLS)
    [repeat] = build_evaluator("repeats", "repeated_user_questions", {}).evaluate(session | {"subject_id": "s1"})
    assert (repeat.passed, repeat.details["turn"], repeat.failure_category) == (False, 2, "unresolved")
    [failure] = classify_agent_failures([], [session], [], [repeat.model_dump()])
    assert (failure["subject_kind"], failure["subject_id"], failure["turn"], failure["call_id"]) == ("session", "s1", 2, "c2")
    assert failure["failure_category"] == "unresolved"
    # The conversation up to turn 2 as recorded, ending with turn 2's user message.
    assert [m["content"] for m in failure["messages"]] == [
        "Where is my order A1?", "Please check your email.", "Where is my order A1? It has not arrived."]
    assert failure["output_text"] == "Orders ship in 3 days."

    _, cases, _ = build_dataset([failure], [], DatasetConfig(passing_samples_per_feature=0))
    [case] = cases
    assert case["tags"] == ["multi_turn"] and case["failure_category"] == "unresolved"
    assert case["metadata"] == {"subject_kind": "session", "session_id": "s1", "replay_turn": 2, "history_messages": 2}
    # A candidate replays turn 2 with the recorded history before it.
    candidate = Candidate(candidate_id="next", model="sim/support-v2", prompt_template="You help with {feature}.")
    request = replay_request(candidate, case)
    assert [m["role"] for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[2]["content"] == "Please check your email."
    # Scored on replay as a conversation: the case subject carries the history as messages.
    subject = case_subject(case, {"output_text": "A1 arrives tomorrow.", "status": "completed"})
    assert subject["input_text"] == "Where is my order A1? It has not arrived." and len(subject["messages"]) == 3


def test_an_escalation_is_replayed_at_the_turn_the_user_asked_for_a_human() -> None:
    [session] = build_sessions(SESSION_CALLS)
    [escalated] = build_evaluator("escalation", "escalation", {}).evaluate(session | {"subject_id": "s1"})
    [failure] = classify_agent_failures([], [session], [], [escalated.model_dump()])
    assert (failure["turn"], failure["call_id"], failure["failure_category"]) == (3, "c3", "unresolved")


def test_a_judged_session_failure_without_a_turn_is_replayed_at_the_last_turn() -> None:
    [session] = build_sessions(SESSION_CALLS)
    [failure] = classify_agent_failures([], [session], [], [_score("resolution", "s1", category="unresolved")])
    assert failure["turn"] == 3 and len(failure["messages"]) == 5


def test_a_wrong_tool_order_is_tool_misuse_and_a_case_from_the_runs_task() -> None:
    lookup, refund = {"name": "lookup_order", "arguments": {}}, {"name": "issue_refund", "arguments": {}}
    calls = [
        _call("t1a", 1, trace="t1", user="refund order A1", tool_calls=[refund]),
        _call("t1b", 2, trace="t1", tool_calls=[lookup]),
        _call("t1c", 3, trace="t1", answer="Refunded."),
    ]
    [trace] = build_traces(calls, [])
    evaluator = build_evaluator("trajectory", "tool_trajectory", {"reference": ["lookup_order", "issue_refund"]})
    [score] = evaluator.evaluate(trace | {"subject_id": "t1"})
    assert (score.passed, score.failure_category) == (False, "tool_misuse")
    [failure] = classify_agent_failures([trace], [], [score.model_dump()], [])
    assert (failure["subject_kind"], failure["subject_id"], failure["call_id"]) == ("trace", "t1", "t1c")
    assert failure["messages"] == [{"role": "user", "content": "refund order A1"}] and failure["tools"]
    _, [case], _ = build_dataset([failure], [], DatasetConfig(passing_samples_per_feature=0))
    assert case["tags"] == ["agent_run"] and case["metadata"] == {"subject_kind": "trace", "trace_id": "t1"}
    assert case["failure_category"] == "tool_misuse"
