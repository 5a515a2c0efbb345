from __future__ import annotations

import json

import pytest
from assay.evaluators.json_checks import (
    ContainsJson,
    JsonDeepCompare,
    JsonField,
    JsonSchema,
    find_embedded_json,
    json_leaves,
    json_similarity,
    resolve_field,
)


def subject(output_text, **fields):
    return {"subject_id": "c1", "output_text": output_text, **fields}


def one(evaluator, subj):
    [score] = evaluator.evaluate(subj)
    return score


# --- contains_json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "offset"),
    [
        ('{"a": 1}', {"a": 1}, 0),
        ('Sure! Here it is: {"a": [1, 2]} Let me know.', {"a": [1, 2]}, 18),
        ('Result:\n```json\n{"ok": true}\n```\nDone', {"ok": True}, 16),
        ("Result:\n```\n[1, 2]\n```", [1, 2], 12),
        ('bad {"a": } then good {"b": 2}', {"b": 2}, 22),
    ],
)
def test_find_embedded_json(text, expected, offset):
    assert find_embedded_json(text) == (expected, offset)


@pytest.mark.parametrize(
    "text",
    ["The answer is 42", '"just a string"', "see [1] for details", "{broken: json", "[" * 5000],
)
def test_find_embedded_json_ignores_scalars_citations_and_broken(text):
    assert find_embedded_json(text) is None


def test_contains_json_type_filter():
    assert one(ContainsJson(name="j"), subject("x [1, 2, 3] y")).passed is True
    score = one(ContainsJson(name="j", json_type="object"), subject("x [1, 2, 3] y"))
    assert score.passed is False and "expected an object" in score.explanation
    with pytest.raises(ValueError, match="json_type"):
        ContainsJson(name="j", json_type="dict")


# --- json_schema ------------------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "items"],
    "properties": {
        "order_id": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            },
        },
    },
}


def test_json_schema_valid_and_failing_paths():
    evaluator = JsonSchema(name="s", schema=ORDER_SCHEMA)
    ok = {"order_id": "A1", "items": [{"sku": "X", "qty": 2}]}
    assert one(evaluator, subject(json.dumps(ok))).passed is True
    bad = {"order_id": 7, "items": [{"sku": "X", "qty": 0}, {"qty": 1}]}
    score = one(evaluator, subject(json.dumps(bad)))
    assert score.passed is False and score.value == 0.0
    assert "3 schema error(s)" in score.explanation
    assert "$.items[0].qty: 0 is less than the minimum of 1" in score.explanation
    assert "$.items[1]: 'sku' is a required property" in score.explanation
    assert "$.order_id: 7 is not of type 'string'" in score.explanation


def test_json_schema_reads_a_fenced_block_and_reports_unparseable_output():
    evaluator = JsonSchema(name="s", schema={"type": "array"})
    assert one(evaluator, subject("```json\n[1]\n```")).passed is True
    score = one(evaluator, subject("not json"))
    assert score.passed is False and "not valid JSON" in score.explanation


def test_json_schema_rejects_an_invalid_schema_at_construction():
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        JsonSchema(name="s", schema={"type": "banana"})


def test_json_schema_formats_only_when_asked():
    schema = {"type": "string", "format": "email"}
    assert one(JsonSchema(name="s", schema=schema), subject('"nope"')).passed is True
    assert (
        one(JsonSchema(name="s", schema=schema, check_formats=True), subject('"nope"')).passed
        is False
    )


# --- json_field -------------------------------------------------------------------------------

ORDER = {
    "items": [{"sku": "A-100", "qty": 1, "gift": True, "note": None}],
    "total": 10.0,
    "0": "key",
}


def test_resolve_field_paths():
    assert resolve_field(ORDER, ["items", "0", "sku"]) == (True, "A-100", "")
    assert resolve_field(ORDER, ["0"]) == (True, "key", "")  # numeric key of an object
    assert resolve_field(ORDER, ["items", "3"])[2] == "index 3 out of range at items.3 (array of 1)"
    assert resolve_field(ORDER, ["items", "sku"])[2] == "items is an array; 'sku' is not an index"
    assert resolve_field(ORDER, ["total", "x"])[2] == "total is a number, not an object or array"


@pytest.mark.parametrize(
    ("path", "expected", "passed"),
    [
        ("items.0.sku", "A-100", True),
        ("items.0.qty", 1, True),
        ("items.0.qty", 1.0, True),  # one JSON number type
        ("items.0.qty", "1", False),
        ("items.0.qty", True, False),
        ("items.0.gift", 1, False),
        ("items.0.gift", True, True),
        ("items.0.note", None, True),
        ("total", 10, True),
        ("$.items.0.sku", "A-100", True),
        ("items", [{"sku": "A-100", "qty": 1, "gift": True, "note": None}], True),
    ],
)
def test_json_field_typed_equality(path, expected, passed):
    score = one(JsonField(name="f", path=path, expected=expected), subject(json.dumps(ORDER)))
    assert score.passed is passed, score.explanation


def test_json_field_presence_only_and_explanations():
    assert one(JsonField(name="f", path="items.0.note"), subject(json.dumps(ORDER))).passed is True
    missing = one(JsonField(name="f", path="items.0.price"), subject(json.dumps(ORDER)))
    assert missing.passed is False and "no key 'price' at items.0.price" in missing.explanation
    typed = one(JsonField(name="f", path="items.0.qty", expected="1"), subject(json.dumps(ORDER)))
    assert typed.explanation == 'field items.0.qty is 1 (number), expected "1" (string)'


@pytest.mark.parametrize("bad", ["", "a..b", 3])
def test_json_field_rejects_bad_paths(bad):
    with pytest.raises(ValueError, match="path"):
        JsonField(name="f", path=bad)


# --- json_deep_compare ------------------------------------------------------------------------


def test_json_leaves_by_path():
    assert json_leaves({"a": {"b": [1, {"c": None}]}, "d": {}, "e": []}) == {
        "$.a.b[0]": 1,
        "$.a.b[1].c": None,
        "$.d": {},
        "$.e": [],
    }


def test_json_similarity_counts_missing_extra_and_changed():
    expected = {"name": "Ana", "age": 31, "tags": ["a", "b"], "address": {"city": "Lyon"}}
    actual = {"name": "Ana", "age": "31", "tags": ["a"], "address": {"city": "Lyon"}, "x": 1}
    share, diffs = json_similarity(actual, expected)
    # leaves: name, age, tags[0], tags[1], address.city (expected) + x (extra) = 6; 3 match
    assert share == pytest.approx(3 / 6)
    assert diffs == [
        '$.age is "31", expected 31',
        '$.tags[1] missing (expected "b")',
        "$.x unexpected (1)",
    ]
    share_ignoring, _ = json_similarity(actual, expected, ignore_extra=True)
    assert share_ignoring == pytest.approx(3 / 5)


def test_json_deep_compare_evaluator():
    evaluator = JsonDeepCompare(name="d", threshold=0.75)
    expected = '{"a": 1, "b": {"c": [1, 2]}, "d": true}'
    same = one(
        evaluator, subject('{"d": true, "b": {"c": [1.0, 2]}, "a": 1}', expected_output=expected)
    )
    assert (same.passed, same.value) == (True, 1.0)
    close = one(
        evaluator, subject('{"a": 1, "b": {"c": [1, 3]}, "d": true}', expected_output=expected)
    )
    assert (close.passed, close.value) == (True, 0.75)
    assert "$.b.c[1] is 3, expected 2" in close.explanation
    far = one(evaluator, subject('{"a": 2, "b": {"c": [2, 1]}, "d": 1}', expected_output=expected))
    assert far.passed is False and far.value == 0.0 and far.failure_category == "reasoning_error"


def test_json_deep_compare_accepts_decoded_reference_and_flags_unparseable_output():
    evaluator = JsonDeepCompare(name="d")
    assert one(evaluator, subject('{"a": [1]}', expected_output={"a": [1]})).passed is True
    broken = one(evaluator, subject("{nope", expected_output={"a": 1}))
    assert broken.passed is False and broken.failure_category == "format_break"
    skipped = one(evaluator, subject('{"a": 1}'))
    assert skipped.status == "skipped" and "expected_output" in skipped.explanation


def test_json_deep_compare_rejects_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        JsonDeepCompare(name="d", threshold=2)


def test_details_carry_the_structured_evidence():
    schema_score = one(
        JsonSchema(name="s", schema=ORDER_SCHEMA),
        subject(json.dumps({"order_id": 7, "items": []})),
    )
    assert schema_score.details == {
        "errors": [
            {"path": "$.order_id", "keyword": "type", "message": "7 is not of type 'string'"}
        ]
    }
    compare = one(JsonDeepCompare(name="d"), subject('{"a": 2}', expected_output='{"a": 1}'))
    assert compare.details == {"differences": ["$.a is 2, expected 1"]}


def test_json_deep_compare_broken_reference_is_an_error_not_a_failure():
    score = one(JsonDeepCompare(name="d"), subject('{"a": 1}', expected_output="{oops"))
    assert score.status == "error" and score.passed is None
    assert score.explanation.startswith("expected_output: output is not valid JSON")
