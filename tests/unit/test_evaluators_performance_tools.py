from __future__ import annotations

import json

import pytest
from assay.evaluators.performance import CostThreshold, LatencyThreshold, ProviderStatus
from assay.evaluators.tools import ToolCallValid


def score_of(evaluator, **fields):
    [score] = evaluator.evaluate({"subject_id": "c1", **fields})
    return score


# --- latency / cost ------------------------------------------------------------------------


def test_latency_value_is_the_observed_ms_and_bound_is_inclusive():
    evaluator = LatencyThreshold(name="latency", max_ms=2000)
    ok = score_of(evaluator, latency_ms=2000.0)
    assert (ok.passed, ok.value, ok.metric) == (True, 2000.0, "latency_ms")
    slow = score_of(evaluator, latency_ms=2450.4)
    assert (slow.passed, slow.value) == (False, 2450.4)
    assert slow.failure_category == "latency_breach"
    assert "2450 ms exceeds max_ms=2000" in slow.explanation


def test_latency_does_not_need_output_and_skips_without_latency():
    evaluator = LatencyThreshold(name="latency", max_ms=1000)
    assert score_of(evaluator, latency_ms=10.0, output_text=None).passed is True
    skipped = score_of(evaluator, latency_ms=None, output_text="hi")
    assert skipped.status == "skipped"
    assert skipped.explanation == "missing input: latency_ms"


def test_zero_latency_is_a_value_not_a_missing_field():
    assert score_of(LatencyThreshold(name="l", max_ms=5), latency_ms=0).passed is True


def test_thresholds_must_be_positive_numbers():
    with pytest.raises(ValueError, match="max_ms"):
        LatencyThreshold(name="l", max_ms=0)
    with pytest.raises(ValueError, match="max_usd"):
        CostThreshold(name="c", max_usd="0.01")


def test_non_numeric_latency_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="latency_ms"):
        LatencyThreshold(name="l", max_ms=5).evaluate({"subject_id": "c1", "latency_ms": "fast"})


def test_cost_threshold():
    evaluator = CostThreshold(name="cost", max_usd=0.01)
    assert score_of(evaluator, cost_usd=0.0).passed is True
    over = score_of(evaluator, cost_usd=0.0125)
    assert (over.passed, over.value, over.failure_category) == (False, 0.0125, "cost_breach")
    assert over.metric == "cost_usd"


# --- provider status -----------------------------------------------------------------------


def test_provider_error_is_scored_even_without_output():
    score = score_of(
        ProviderStatus(name="provider"),
        status="error",
        error_type="RateLimitError",
        error_message="quota exceeded for key sk-abc",
        output_text=None,
    )
    assert score.status == "completed"
    assert score.passed is False
    assert score.failure_category == "provider_error"
    assert "RateLimitError" in score.explanation
    assert "sk-abc" not in score.explanation


def test_provider_success_passes():
    score = score_of(ProviderStatus(name="provider"), status="success", output_text="")
    assert (score.passed, score.failure_category) == (True, None)


# --- tool calls ----------------------------------------------------------------------------


def test_valid_tool_calls_with_dict_and_string_arguments():
    calls = [
        {"name": "lookup_order", "arguments": {"order_id": "A1"}},
        {"name": "send_email", "arguments": json.dumps({"to": "x"})},
    ]
    score = score_of(
        ToolCallValid(name="tools", allowed_tools=["lookup_order", "send_email"]), tool_calls=calls
    )
    assert score.passed is True, score.explanation


def test_no_tool_call_fails_when_required_and_is_not_skipped():
    for empty in ([], None):
        score = score_of(ToolCallValid(name="tools"), tool_calls=empty)
        assert score.status == "completed"
        assert score.passed is False
        assert score.failure_category == "tool_misuse"
        assert "no tool call" in score.explanation
    assert score_of(ToolCallValid(name="tools", required=False), tool_calls=[]).passed is True


def test_subject_without_the_field_is_skipped():
    score = score_of(ToolCallValid(name="tools"), output_text="hello")
    assert score.status == "skipped"
    assert score.explanation == "missing input: tool_calls"


def test_tool_not_allowed_is_named_with_the_allowed_list():
    score = score_of(
        ToolCallValid(name="tools", allowed_tools=["lookup_order"]),
        tool_calls=[{"name": "delete_account", "arguments": {}}],
    )
    assert score.passed is False
    assert "'delete_account'" in score.explanation and "allowed: lookup_order" in score.explanation


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [("{not json", "not valid JSON"), ("[1, 2]", "got list"), (None, "got null"), (3, "got int")],
)
def test_arguments_must_be_a_json_object(arguments, expected):
    score = score_of(
        ToolCallValid(name="tools"), tool_calls=[{"name": "f", "arguments": arguments}]
    )
    assert score.passed is False
    assert expected in score.explanation


def test_tool_calls_still_json_encoded_from_the_lake():
    encoded = json.dumps([{"name": "f", "arguments": {"a": 1}}])
    assert score_of(ToolCallValid(name="tools"), tool_calls=encoded).passed is True
    assert score_of(ToolCallValid(name="tools"), tool_calls="[]").passed is False


def test_call_without_a_name_fails():
    score = score_of(ToolCallValid(name="tools"), tool_calls=[{"arguments": {}}])
    assert score.passed is False
    assert "no tool name" in score.explanation
