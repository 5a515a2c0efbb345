"""The trace and session subjects: what an agent run and a conversation look like to an evaluator.

Besides single calls, assay evaluates two larger subjects, built per day from `raw_calls` and
`trace_spans` (`assay.agent_subjects`):

- a **trace** (`trace_subjects`): one agent run, a `trace_id` holding at least one LLM call and
  anything besides it (another call or a span). Its `steps` are its LLM calls and tool spans in
  time order, `tool_calls` the tools it ran in that order with their arguments and results, and
  `output_text` its final answer.
- a **session** (`session_subjects`): every call of a `session_id` in the day, in order, as a
  conversation. One turn is one user request: a trace (an agent run answers one request with
  many calls) or a call without a trace. `messages` alternates the users' turns and the final
  answers.

**Midnight.** Partitions are UTC days, and a session that continues across midnight is cut
there: each day's subject holds the turns of that day, which are the turns evaluated and
counted, and carries the session's turns of the day before as `history_turns` at the head of
`messages` (so a judge reads the whole conversation and a deterministic signal counts only the
day's turns). `is_continued` marks such a subject. A session is never held back waiting for the
next day: the partition closing is what says the day's part of the session is complete.

Field names are the contract: add fields, never rename them. Nested columns are JSON text.
"""

from __future__ import annotations

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

AGENT_SUBJECT_SCHEMA_VERSION = 1

STEP_KINDS = ("llm", "tool")
"""A trace's step is an LLM call or a tool span (other spans: chains, agents, are structure)."""

TRACE_SUBJECT_ARROW_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("ts", UTC_TIMESTAMP),
        ("end_ts", UTC_TIMESTAMP),
        ("app", pa.string()),
        ("feature", pa.string()),
        ("environment", pa.string()),
        ("model", pa.string()),  # the model of the call that gave the final answer
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("messages", pa.string()),  # the task as given: the first LLM call's messages
        ("input_text", pa.string()),  # the task's last user message
        ("tools", pa.string()),  # tool schemas offered to the model (first call that had any)
        ("steps", pa.string()),  # [{index, kind, name, arguments, result, status, error_message, ...}]
        ("tool_calls", pa.string()),  # [{name, arguments, result, status, error_message}] in order
        ("output_text", pa.string()),  # the final answer
        ("status", pa.string()),  # error when an LLM call errored
        ("llm_calls", pa.int64()),
        ("tool_call_count", pa.int64()),
        ("tool_errors", pa.int64()),
        ("step_count", pa.int64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("latency_ms", pa.float64()),  # first step's start to last step's end
        ("call_ids", pa.string()),
        ("expected_output", pa.string()),
        ("metadata", pa.string()),  # the first call's metadata (tags, expected trajectory, ...)
        ("source_format", pa.string()),
        ("source_file", pa.string()),
    ],
    metadata={"contract": "trace_subject", "version": str(AGENT_SUBJECT_SCHEMA_VERSION)},
)

TRACE_SUBJECT_JSON_COLUMNS = frozenset({"messages", "tools", "steps", "tool_calls", "call_ids", "metadata"})

SESSION_SUBJECT_ARROW_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("ts", UTC_TIMESTAMP),  # the day's first turn
        ("end_ts", UTC_TIMESTAMP),  # the day's last turn
        ("app", pa.string()),
        ("feature", pa.string()),
        ("environment", pa.string()),
        ("model", pa.string()),
        ("user_id", pa.string()),
        ("messages", pa.string()),  # the conversation: history turns, then the day's turns
        ("turns", pa.string()),  # the day's turns: [{turn, call_id, trace_id, ts, user, assistant, ...}]
        ("turn_count", pa.int64()),  # the day's turns
        ("history_turns", pa.int64()),  # turns carried from the day before (midnight rule)
        ("is_continued", pa.bool_()),
        ("input_text", pa.string()),  # the last user turn
        ("output_text", pa.string()),  # the last answer
        ("status", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("call_ids", pa.string()),
        ("trace_ids", pa.string()),
        ("metadata", pa.string()),
    ],
    metadata={"contract": "session_subject", "version": str(AGENT_SUBJECT_SCHEMA_VERSION)},
)

SESSION_SUBJECT_JSON_COLUMNS = frozenset({"messages", "turns", "call_ids", "trace_ids", "metadata"})
