"""A failure: one failing score of a production call, agent run or conversation, classified
into the taxonomy.

It carries the call's input and output beside the verdict so that curation
(`regression_dataset`) needs no join back to `raw_calls`.
"""

from __future__ import annotations

import pyarrow as pa

from assay.contracts._arrow import UTC_TIMESTAMP

FAILURE_SCHEMA_VERSION = 1

FAILURE_ARROW_SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),
        ("ts", UTC_TIMESTAMP),
        ("app", pa.string()),
        ("feature", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("evaluator", pa.string()),
        ("metric", pa.string()),
        ("failure_category", pa.string()),
        ("severity", pa.string()),
        ("evidence", pa.string()),  # the evaluator's explanation
        ("messages", pa.string()),  # JSON text, as in the call record
        ("input_text", pa.string()),
        ("context", pa.string()),  # JSON text
        ("tools", pa.string()),  # JSON text
        ("output_text", pa.string()),
        # What failed: a call, an agent run (trace) or a conversation (session). For a trace or
        # a session, call_id is the call a replay starts from (the session's failing turn, the
        # trace's final answer) and messages the conversation up to it.
        ("subject_kind", pa.string()),
        ("subject_id", pa.string()),
        ("turn", pa.int64()),  # sessions: the failing turn (1-based, history turns counted)
    ],
    metadata={"contract": "failure", "version": str(FAILURE_SCHEMA_VERSION)},
)

FAILURE_JSON_COLUMNS = frozenset({"messages", "context", "tools"})
