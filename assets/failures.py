"""`failures`: the day's failing scores (calls, agent runs, conversations), classified into the
failure taxonomy."""

from typing import Any

import dagster as dg
from assay.assets._metadata import count_by, counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.partitions import daily_partitions
from assay.assets.scoring import decode_row
from dagster import AssetExecutionContext

from assay.agent_subjects import messages_until_turn
from assay.contracts.agent_subject import SESSION_SUBJECT_JSON_COLUMNS, TRACE_SUBJECT_JSON_COLUMNS
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.failure import FAILURE_ARROW_SCHEMA, FAILURE_JSON_COLUMNS
from assay.contracts.score import SCORE_JSON_COLUMNS
from assay.contracts.taxonomy import DEFAULT_SEVERITY

# An evaluator that names no category still produced a failure; it is filed here rather
# than dropped, so it shows up and someone can classify the evaluator.
UNCLASSIFIED_CATEGORY = "reasoning_error"


def classify_failures(calls: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One failure row per completed, failing score, with the call's input and output."""
    by_id = {c["call_id"]: c for c in calls}
    failures = []
    for score in scores:
        if score["status"] != "completed" or score["passed"] is not False:
            continue
        call = by_id.get(score["subject_id"])
        if call is None:
            continue
        category = score.get("failure_category") or UNCLASSIFIED_CATEGORY
        failures.append(
            {
                "call_id": call["call_id"],
                "ts": call["ts"],
                "app": call["app"],
                "feature": call["feature"],
                "model": call["model"],
                "prompt_version": call.get("prompt_version"),
                "evaluator": score["evaluator"],
                "metric": score["metric"],
                "failure_category": category,
                "severity": DEFAULT_SEVERITY.get(category, "medium"),
                "evidence": score.get("explanation"),
                "messages": call.get("messages"),
                "input_text": call.get("input_text"),
                "context": call.get("context"),
                "tools": call.get("tools"),
                "output_text": call.get("output_text"),
                "subject_kind": "call",
                "subject_id": call["call_id"],
            }
        )
    return failures


def _failing(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in scores if s["status"] == "completed" and s["passed"] is False]


def failing_turn(session: dict[str, Any], score: dict[str, Any]) -> dict[str, Any]:
    """The turn a session's failure is replayed at: the one the evaluator named
    (`details.turn`: a repeated question, an escalation), else the last turn of the day."""
    turns = session.get("turns") or []
    named = (score.get("details") or {}).get("turn") if isinstance(score.get("details"), dict) else None
    by_number = {t["turn"]: t for t in turns}
    return by_number.get(named) or turns[-1]


def classify_agent_failures(
    traces: list[dict[str, Any]], sessions: list[dict[str, Any]],
    trace_scores: list[dict[str, Any]], session_scores: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Failure rows of agent runs and conversations, each shaped as a case can be built from it:
    a trace's task (its first call's messages and tools, replayed from its start); a session's
    conversation up to the failing turn, as recorded, with that turn's user message last (a
    multi-turn case, replayed at the failing turn)."""
    failures = []
    by_trace = {t["trace_id"]: t for t in traces}
    for score in _failing(trace_scores):
        trace = by_trace.get(score["subject_id"])
        if trace is None:
            continue
        category = score.get("failure_category") or UNCLASSIFIED_CATEGORY
        failures.append({
            "call_id": trace["call_ids"][-1], "ts": trace["ts"], "app": trace["app"], "feature": trace["feature"],
            "model": trace["model"], "prompt_version": None, "evaluator": score["evaluator"], "metric": score["metric"],
            "failure_category": category, "severity": DEFAULT_SEVERITY.get(category, "medium"),
            "evidence": score.get("explanation"), "messages": trace.get("messages"), "input_text": trace.get("input_text"),
            "context": None, "tools": trace.get("tools"), "output_text": trace.get("output_text"),
            "subject_kind": "trace", "subject_id": trace["trace_id"], "turn": None,
        })
    by_session = {s["session_id"]: s for s in sessions}
    for score in _failing(session_scores):
        session = by_session.get(score["subject_id"])
        if session is None or not session.get("turns"):
            continue
        turn = failing_turn(session, score)
        category = score.get("failure_category") or UNCLASSIFIED_CATEGORY
        failures.append({
            "call_id": turn["call_id"], "ts": turn["ts"], "app": session["app"], "feature": session["feature"],
            "model": turn.get("model") or session.get("model"), "prompt_version": None, "evaluator": score["evaluator"],
            "metric": score["metric"], "failure_category": category, "severity": DEFAULT_SEVERITY.get(category, "medium"),
            "evidence": score.get("explanation"), "messages": messages_until_turn(session, turn["turn"]),
            "input_text": turn["user"], "context": None, "tools": None, "output_text": turn["assistant"],
            "subject_kind": "session", "subject_id": session["session_id"], "turn": turn["turn"],
        })
    return failures


def _decoded(table, json_columns) -> list[dict[str, Any]]:
    return [decode_row(r, json_columns) for r in (table.to_pylist() if table is not None else [])]


@dg.asset(
    partitions_def=daily_partitions,
    deps=["call_scores", "trace_scores", "session_scores"],
    group_name="evaluate",
    kinds={"parquet"},
)
def failures(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """The day's failing scores of calls, agent runs and conversations, with category, severity,
    evidence and the input/output a regression case is built from."""
    partition = {"day": context.partition_key}
    read = assay.lake.read_partition
    calls = _decoded(read("sampled_calls", partition), CALL_JSON_COLUMNS)
    rows = classify_failures(calls, _decoded(read("call_scores", partition), SCORE_JSON_COLUMNS))
    rows += classify_agent_failures(
        _decoded(read("trace_subjects", partition), TRACE_SUBJECT_JSON_COLUMNS),
        _decoded(read("session_subjects", partition), SESSION_SUBJECT_JSON_COLUMNS),
        _decoded(read("trace_scores", partition), SCORE_JSON_COLUMNS),
        _decoded(read("session_scores", partition), SCORE_JSON_COLUMNS),
    )
    path = assay.lake.write_partition(
        "failures", rows, partition=partition, schema=FAILURE_ARROW_SCHEMA, json_columns=FAILURE_JSON_COLUMNS
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "failing_calls": len({r["call_id"] for r in rows if r["subject_kind"] == "call"}),
            "failing_traces": len({r["subject_id"] for r in rows if r["subject_kind"] == "trace"}),
            "failing_sessions": len({r["subject_id"] for r in rows if r["subject_kind"] == "session"}),
            "by_category": counts_table(count_by(rows, "failure_category"), "failure_category"),
        }
    )
