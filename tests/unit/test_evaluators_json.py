from __future__ import annotations

import pytest
from assay.evaluators.json_checks import IsJson


def score_of(evaluator, output_text):
    [score] = evaluator.evaluate({"subject_id": "c1", "output_text": output_text})
    return score


def test_plain_json_passes():
    score = score_of(IsJson(name="j"), '  {"category": "billing", "priority": 2}\n')
    assert score.passed is True and score.value == 1.0


def test_parse_error_gives_the_position():
    score = score_of(IsJson(name="j"), '{"category": "billing" "priority": 2}')
    assert score.passed is False
    assert score.failure_category == "format_break"
    assert "Expecting ',' delimiter" in score.explanation
    assert "line 1 column 24 (char 23)" in score.explanation


def test_json_inside_a_fenced_block_with_prose_passes():
    output = 'Here is the classification:\n```json\n{"category": "shipping"}\n```\nLet me know!'
    score = score_of(IsJson(name="j", required_keys=["category"]), output)
    assert score.passed is True, score.explanation


def test_broken_json_inside_a_fence_is_reported_as_such():
    output = 'Result:\n```json\n{"category": shipping}\n```'
    score = score_of(IsJson(name="j"), output)
    assert score.passed is False
    assert "```json block is not valid JSON" in score.explanation


def test_two_fenced_blocks_are_ambiguous():
    output = '```json\n{"a": 1}\n```\nor\n```json\n{"a": 2}\n```'
    score = score_of(IsJson(name="j"), output)
    assert score.passed is False
    assert "2 ```json blocks" in score.explanation


def test_missing_required_keys_are_all_named():
    evaluator = IsJson(name="j", required_keys=["category", "priority", "reason"])
    score = score_of(evaluator, '{"category": "billing"}')
    assert score.passed is False
    assert "missing required key(s): priority, reason" in score.explanation


def test_required_keys_need_an_object():
    score = score_of(IsJson(name="j", required_keys=["a"]), "[1, 2]")
    assert score.passed is False
    assert "expected a JSON object, got a JSON array" in score.explanation


def test_allowed_values_reject_a_value_not_listed():
    evaluator = IsJson(name="j", allowed_values={"category": ["billing", "shipping"]})
    score = score_of(evaluator, '{"category": "refunds"}')
    assert score.passed is False
    assert "key 'category' has value \"refunds\"" in score.explanation
    assert '"billing", "shipping"' in score.explanation


def test_allowed_values_compare_as_json_number_vs_string():
    evaluator = IsJson(name="j", allowed_values={"priority": [1, 2, 3]})
    assert score_of(evaluator, '{"priority": 1}').passed is True
    assert score_of(evaluator, '{"priority": 1.0}').passed is True
    as_string = score_of(evaluator, '{"priority": "1"}')
    assert as_string.passed is False
    assert "(string)" in as_string.explanation


def test_allowed_values_do_not_confuse_true_with_1():
    evaluator = IsJson(name="j", allowed_values={"escalate": [1, 0]})
    assert score_of(evaluator, '{"escalate": true}').passed is False
    assert score_of(IsJson(name="j", allowed_values={"ok": [True]}), '{"ok": 1}').passed is False


def test_allowed_values_ignore_an_absent_key_unless_required():
    evaluator = IsJson(name="j", allowed_values={"category": ["billing"]})
    assert score_of(evaluator, '{"other": 1}').passed is True
    required = IsJson(
        name="j", required_keys=["category"], allowed_values={"category": ["billing"]}
    )
    assert score_of(required, '{"other": 1}').passed is False


def test_skipped_when_no_output():
    [score] = IsJson(name="j").evaluate({"subject_id": "c1", "output_text": None})
    assert score.status == "skipped"
    assert score.explanation == "missing input: output_text"


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="allowed_values.category"):
        IsJson(name="j", allowed_values={"category": []})
    with pytest.raises(ValueError, match="required_keys"):
        IsJson(name="j", required_keys="category")
