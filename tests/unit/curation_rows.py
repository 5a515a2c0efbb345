"""Rows the curation code reads, built the same way by every test of it: a failing
(call, evaluator) row of `classified_failures` and a passing call of `sampled_calls`."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SYSTEM = "Answer from the context."


def failure_row(call_id: str, question: str, *, category="hallucination", feature="rag_answer",
                evaluator="faithfulness", ts=T0, system=SYSTEM, context=None, tools=None) -> dict:
    return {
        "call_id": call_id,
        "ts": ts,
        "feature": feature,
        "evaluator": evaluator,
        "failure_category": category,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "context": context,
        "tools": tools,
    }


def passing_row(call_id: str, question: str, *, feature="rag_answer", ts=T0) -> dict:
    return {
        "call_id": call_id,
        "ts": ts,
        "feature": feature,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "context": None,
        "tools": None,
    }
