"""Issue 23, item 3: a secret anywhere in a call record (any string field, nested metadata and
params at any depth, messages, context, tools, tool-call arguments, error and feedback, span
attributes, a quarantined line) is replaced before storage, and counted in metadata."""

import json
import random

import pyarrow as pa
import pytest

from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS
from assay.privacy.redaction import LABEL_CALL_COLUMNS, TEXT_CALL_COLUMNS, Redactor
from tests.unit.secret_fields import as_token, leaks, place_in_json, random_secret

SEED = 20261206
EXAMPLES = 600


def _record(i: int) -> dict:
    return {
        "call_id": f"call-{i:06d}", "trace_id": f"tr-{i:08x}", "span_id": f"sp-{i:06x}", "parent_span_id": None,
        "ts": "2026-11-20T12:00:00Z", "app": "acme-support", "feature": "rag_answer", "environment": "production",
        "prompt_id": "support-rag", "prompt_version": "v3", "provider": "openai", "model": "gpt-4o-mini",
        "params": {"temperature": 0.2, "max_tokens": 400, "extra_headers": {"X-Team": "support"}},
        "messages": [{"role": "system", "content": "Answer from the context."},
                     {"role": "user", "content": [{"type": "text", "text": "Where is my order?"}]}],
        "input_text": "Where is my order?", "context": ["Orders ship in 2 days.", "Returns within 30 days."],
        "tools": [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order",
                                                    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}],
        "tool_calls": [{"name": "lookup_order", "arguments": json.dumps({"id": "o-1", "region": "eu"})}],
        "output_text": "It ships tomorrow.", "finish_reason": "stop", "status": "success", "error_type": None,
        "error_message": None, "user_id": f"u-{i:04d}", "session_id": f"s-20261120-{i:04d}-00",
        "customer_id": "cust-a4589f71", "expected_output": "Tomorrow.", "feedback_score": -1.0,
        "feedback_comment": "too slow", "metadata": {"region": "us", "client": {"name": "web", "version": "1.2"}},
    }


STRING_FIELDS = [*TEXT_CALL_COLUMNS, *LABEL_CALL_COLUMNS]


def _hide(rng: random.Random, record: dict, field: str, text: str) -> None:
    """Put `text` (a secret, or a key given by name) in `field` of the record."""
    value = record.get(field)
    if field == "tool_calls" and rng.random() < 0.5:
        # Inside the arguments: JSON kept in a JSON string, as providers log tool calls.
        arguments = place_in_json(rng, json.loads(record["tool_calls"][0]["arguments"]), text)
        record["tool_calls"] = [{"name": "lookup_order", "arguments": json.dumps(arguments)}]
    elif field in CALL_JSON_COLUMNS:
        record[field] = place_in_json(rng, value if value is not None else {}, text)
    else:
        record[field] = as_token(rng, text, value or "")


def _examples(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(field, kind, secret parts) per record, the secret hidden in the i-th record."""
    return [(STRING_FIELDS[i % len(STRING_FIELDS)], *random_secret(rng)) for i in range(EXAMPLES)]


def test_a_random_secret_in_any_string_field_is_stored_nowhere_and_counted():
    rng = random.Random(SEED)
    examples = _examples(rng)
    rows = []
    for i, (field, _kind, text, _parts) in enumerate(examples):
        record = _record(i)
        _hide(rng, record, field, text)
        rows.append(record)
    table = rows_to_table(rows, CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS)

    redacted, totals = Redactor().calls(table)

    assert totals["API_KEY"] >= EXAMPLES
    stored = redacted.to_pylist()
    for i, (field, kind, _text, parts) in enumerate(examples):
        row = stored[i]
        found = leaks(row, parts)
        assert not found, f"seed {SEED}, record {i}: a {kind} secret in `{field}` was stored: {row[field]!r}"
        counts = json.loads(row["metadata"])["redactions"]
        assert counts.get(field, {}).get("API_KEY", 0) >= 1, (i, field, counts)
    # What held no secret is stored as it came.
    clean = Redactor().calls(rows_to_table([_record(10**6)], CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS))[0]
    assert clean.equals(rows_to_table([_record(10**6)], CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS))


def test_ids_keep_their_shape_and_a_key_in_an_id_keeps_it_distinct():
    rng = random.Random(SEED + 1)
    a, b = (random_secret(rng)[1] for _ in range(2))
    rows = [_record(1) | {"call_id": f"req {a}"}, _record(2) | {"call_id": f"req {b}"},
            # Ids that look like phone numbers or card numbers are ids: only secrets are replaced.
            _record(3) | {"session_id": "s-20261120-4155550134-00", "customer_id": "4111111111111111"}]
    redacted, _ = Redactor().calls(rows_to_table(rows, CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS))
    first, second, third = redacted.to_pylist()
    assert first["call_id"].startswith("req [API_KEY:") and second["call_id"].startswith("req [API_KEY:")
    assert first["call_id"] != second["call_id"]
    assert third["session_id"] == "s-20261120-4155550134-00" and third["customer_id"] == "4111111111111111"


def test_escaped_line_breaks_and_quotes_do_not_hide_a_key():
    _kind, pem, pem_lines = random_secret(random.Random(3), "pem")
    value = "Q3b9XkP2mZ7rT4vW8yL1nH6s"
    row = _record(1) | {
        "metadata": {"deploy": {"key_file": pem}},  # stored as JSON text: the breaks are `\n`
        "tool_calls": [{"name": "call_api", "arguments": json.dumps({"headers": {"x-api-key": value}})}],
    }
    redacted, _ = Redactor().calls(rows_to_table([row], CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS))
    (stored,) = redacted.to_pylist()
    assert leaks(stored, [*pem_lines, value]) == []
    json.loads(json.loads(stored["tool_calls"])[0]["arguments"])  # still JSON inside JSON


def test_every_field_of_a_span_and_a_quarantined_line_is_redacted():
    rng = random.Random(SEED + 2)
    secrets_ = [random_secret(rng) for _ in range(6)]
    span = {"trace_id": "t1", "span_id": "s1", "kind": "tool", "name": f"call {secrets_[0][1]}",
            "tool_name": "lookup", "input": json.dumps({"q": secrets_[1][1]}), "output": secrets_[2][1],
            "error_message": f"denied for {secrets_[3][1]}", "status": "error",
            "attributes": {"http": {"headers": [{"authorization": f"Bearer {secrets_[4][1]}"}]}}}
    rejected = {"raw": json.dumps({"call_id": "x", "metadata": {"k": secrets_[5][1]}}),
                "reason": f"`ts` is missing (input {secrets_[5][1]})"}
    redactor = Redactor()
    assert redactor.spans([span])["API_KEY"] >= 5
    assert redactor.rejected([rejected])["API_KEY"] >= 2
    for kind, _text, parts in secrets_[:5]:
        assert leaks(span, parts) == [], kind
    assert leaks(rejected, secrets_[5][2]) == []


@pytest.mark.parametrize("column", ["tools", "params", "metadata", "app", "model"])
def test_repeating_columns_redact_every_row_that_holds_the_value(column):
    """Those columns are prefiltered per distinct value: every row holding it is still redacted."""
    _kind, secret, parts = random_secret(random.Random(9))
    value = {"note": secret} if column in CALL_JSON_COLUMNS else f"x {secret}"
    rows = [_record(i) | ({column: value} if i % 3 == 0 else {}) for i in range(30)]
    table = rows_to_table(rows, CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS)
    table = pa.Table.from_batches(table.to_batches(max_chunksize=7))  # several chunks
    redacted, totals = Redactor().calls(table)
    assert totals["API_KEY"] == 10
    assert leaks(redacted.to_pylist(), parts) == []
