"""`trace_subjects` + `session_subjects`: the day's agent runs and conversations, built from
`raw_calls` and `trace_spans` (rules: `assay.agent_subjects`; contract and the midnight rule:
`assay.contracts.agent_subject`)."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from assay.assets._metadata import partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.partitions import daily_partitions
from assay.assets.scoring import decode_row
from dagster import AssetExecutionContext

from assay.agent_subjects import build_sessions, build_traces
from assay.contracts.agent_subject import (
    SESSION_SUBJECT_ARROW_SCHEMA,
    SESSION_SUBJECT_JSON_COLUMNS,
    TRACE_SUBJECT_ARROW_SCHEMA,
    TRACE_SUBJECT_JSON_COLUMNS,
)
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.span import SPAN_JSON_COLUMNS
from assay.lake import Lake


def _rows(table: pa.Table | None, json_columns: frozenset[str], *, linked_only: bool = True) -> list[dict[str, Any]]:
    """Decoded rows; with `linked_only`, only calls in a trace or a session (the others can be
    neither part of an agent run nor of a conversation, and a day can hold millions)."""
    if table is None or table.num_rows == 0:
        return []
    if linked_only:
        table = table.filter(pc.or_(pc.is_valid(table.column("trace_id")), pc.is_valid(table.column("session_id"))))
    return [decode_row(row, json_columns) for row in table.to_pylist()]


@dataclass
class DaySubjects:
    traces: list[dict[str, Any]]
    sessions: list[dict[str, Any]]


def build_day_subjects(lake: Lake, day: str) -> DaySubjects:
    """The day's trace and session subjects from its lake partitions (and, for sessions that
    continue across midnight, the day before's calls)."""
    partition = {"day": day}
    calls = _rows(lake.read_partition("raw_calls", partition), CALL_JSON_COLUMNS)
    spans = _rows(lake.read_partition("trace_spans", partition), SPAN_JSON_COLUMNS, linked_only=False)
    previous = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    earlier = _rows(lake.read_partition("raw_calls", {"day": previous}), CALL_JSON_COLUMNS)
    return DaySubjects(build_traces(calls, spans), build_sessions(calls, earlier))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "trace_subjects",
            description="One row per agent run of the day (a trace with more than one call, or "
            "with spans): its LLM calls and tool calls in order, the final answer, steps and tokens.",
            group_name="evaluate",
            kinds={"parquet"},
            deps=["raw_calls", "trace_spans"],
        ),
        dg.AssetSpec(
            "session_subjects",
            description="One row per conversation (session_id) of the day, its turns in order; a "
            "session that continues across midnight carries the day before's turns as history.",
            group_name="evaluate",
            kinds={"parquet"},
            # The day before too: a session that crossed midnight takes its earlier turns as history.
            deps=[dg.AssetDep("raw_calls", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))],
        ),
    ],
    partitions_def=daily_partitions,
)
def agent_subjects(context: AssetExecutionContext, assay: AssayResource):
    partition = {"day": context.partition_key}
    built = build_day_subjects(assay.lake, context.partition_key)
    trace_path = assay.lake.write_partition(
        "trace_subjects", built.traces, partition=partition, schema=TRACE_SUBJECT_ARROW_SCHEMA,
        json_columns=TRACE_SUBJECT_JSON_COLUMNS,
    )
    session_path = assay.lake.write_partition(
        "session_subjects", built.sessions, partition=partition, schema=SESSION_SUBJECT_ARROW_SCHEMA,
        json_columns=SESSION_SUBJECT_JSON_COLUMNS,
    )
    yield dg.MaterializeResult(
        asset_key="trace_subjects",
        metadata={
            **partition_metadata(trace_path, len(built.traces)),
            "tool_calls": sum(t["tool_call_count"] for t in built.traces),
            "tool_errors": sum(t["tool_errors"] for t in built.traces),
        },
    )
    yield dg.MaterializeResult(
        asset_key="session_subjects",
        metadata={
            **partition_metadata(session_path, len(built.sessions)),
            "turns": sum(s["turn_count"] for s in built.sessions),
            "continued_from_day_before": sum(s["is_continued"] for s in built.sessions),
        },
    )
