"""Curation logic: sampling the day's calls, classifying failing scores, and promoting failures
to a content-versioned regression dataset."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from assay.assets.failures import UNCLASSIFIED_CATEGORY, classify_failures
from assay.assets.regression_dataset import build_cases, case_id_for, diff_versions
from assay.assets.sampled_calls import sample_calls

from assay.config import DatasetConfig, SamplingConfig
from assay.selection import hash_fraction
from tests.unit.curation_rows import T0, failure_row, passing_row


def _call(i: int, **overrides) -> dict:
    call = {
        "call_id": f"call-{i:04d}",
        "ts": T0 + timedelta(seconds=i),
        "app": "acme-support",
        "feature": "rag_answer",
        "model": "sim/support-v1",
        "prompt_version": "v1",
        "user_id": f"user-{i}",
        "input_text": f"question {i}",
        "output_text": f"answer {i}",
        "messages": [{"role": "user", "content": f"question {i}"}],
        "context": None,
        "tools": None,
        "tool_calls": None,
        "status": "success",
        "feedback_score": None,
    }
    return call | overrides


# ---------------------------------------------------------------------------- sampling


def test_sampling_is_deterministic_and_order_independent():
    calls = [_call(i) for i in range(300)]
    sampling = SamplingConfig(rate=0.3)
    first = sample_calls(calls, sampling)
    shuffled = calls[:]
    random.Random(3).shuffle(shuffled)
    again = sample_calls(shuffled, sampling)
    assert [c["call_id"] for c in again] == [c["call_id"] for c in first]
    # Exactly the calls whose id hashes below the rate, and roughly 30% of them.
    expected = sorted(c["call_id"] for c in calls if hash_fraction(c["call_id"]) < 0.3)
    assert sorted(c["call_id"] for c in first) == expected
    assert 60 <= len(first) <= 120
    assert {c["sample_reason"] for c in first} == {"rate"}


def test_hash_fraction_is_stable_and_in_unit_interval():
    assert hash_fraction("call-0001") == hash_fraction("call-0001")
    values = [hash_fraction(f"id-{i}") for i in range(1000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.4 < sum(values) / len(values) < 0.6


def test_rate_zero_keeps_only_errors_and_negative_feedback():
    calls = [_call(i) for i in range(50)]
    calls[3] = _call(3, status="error", output_text=None, error_type="RateLimitError")
    calls[7] = _call(7, feedback_score=-1.0)
    calls[8] = _call(8, feedback_score=0.0)
    calls[9] = _call(9, feedback_score=1.0)
    kept = sample_calls(calls, SamplingConfig(rate=0.0))
    assert [(c["call_id"], c["sample_reason"]) for c in kept] == [
        ("call-0003", "error"),
        ("call-0007", "negative_feedback"),
    ]


def test_always_include_rules_can_be_switched_off():
    calls = [_call(0, status="error", output_text=None), _call(1, feedback_score=-0.5)]
    sampling = SamplingConfig(
        rate=0.0, always_include_errors=False, always_include_negative_feedback=False
    )
    assert sample_calls(calls, sampling) == []


def test_rate_one_keeps_everything():
    calls = [_call(i) for i in range(40)]
    assert len(sample_calls(calls, SamplingConfig(rate=1.0))) == 40


def test_per_feature_rate_overrides_the_default():
    calls = [_call(i, feature="rag_answer") for i in range(20)]
    calls += [_call(i, feature="classify_ticket") for i in range(20, 40)]
    kept = sample_calls(calls, SamplingConfig(rate=0.0, per_feature={"classify_ticket": 1.0}))
    assert sorted(c["call_id"] for c in kept) == [f"call-{i:04d}" for i in range(20, 40)]

    kept = sample_calls(calls, SamplingConfig(rate=1.0, per_feature={"classify_ticket": 0.0}))
    assert sorted(c["call_id"] for c in kept) == [f"call-{i:04d}" for i in range(20)]


def test_a_retry_logged_twice_is_kept_once():
    original = _call(1, user_id="u1", input_text="where is my order?", output_text="It ships today.")
    retry = original | {"call_id": "call-9999", "ts": original["ts"] + timedelta(seconds=2)}
    other_user = original | {"call_id": "call-8888", "user_id": "u2"}
    other_output = original | {"call_id": "call-7777", "output_text": "It shipped yesterday."}
    kept = sample_calls([retry, other_user, original, other_output], SamplingConfig(rate=1.0))
    # The earliest copy wins; a different user or a different answer is not a repeat.
    assert sorted(c["call_id"] for c in kept) == ["call-0001", "call-7777", "call-8888"]


def test_errors_are_never_deduplicated():
    error = _call(1, status="error", output_text=None, user_id="u1", input_text="q")
    again = error | {"call_id": "call-0002", "ts": error["ts"] + timedelta(seconds=1)}
    kept = sample_calls([error, again], SamplingConfig(rate=0.0))
    assert [c["call_id"] for c in kept] == ["call-0001", "call-0002"]


def test_tool_calls_with_different_calls_are_not_repeats():
    base = _call(1, feature="tool_router", output_text=None, user_id="u1", input_text="refund 42")
    first = base | {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "42"}}]}
    second = base | {
        "call_id": "call-0002",
        "ts": base["ts"] + timedelta(seconds=1),
        "tool_calls": [{"name": "issue_refund", "arguments": {"order_id": "42"}}],
    }
    repeat = second | {"call_id": "call-0003", "ts": base["ts"] + timedelta(seconds=2)}
    kept = sample_calls([first, second, repeat], SamplingConfig(rate=1.0))
    assert [c["call_id"] for c in kept] == ["call-0001", "call-0002"]


def test_negatively_rated_retry_kept_even_when_first_copy_was_not_sampled():
    original = _call(1, user_id="u1", input_text="q", output_text="a")
    rated = original | {
        "call_id": "call-0002",
        "ts": original["ts"] + timedelta(seconds=1),
        "feedback_score": -1.0,
    }
    kept = sample_calls([original, rated], SamplingConfig(rate=0.0))
    assert [(c["call_id"], c["sample_reason"]) for c in kept] == [("call-0002", "negative_feedback")]


def test_sampled_calls_keep_their_fields():
    call = _call(5)
    (kept,) = sample_calls([call], SamplingConfig(rate=1.0))
    assert kept == call | {"sample_reason": "rate"}
    assert "sample_reason" not in call  # the input row is not mutated


# ---------------------------------------------------------------------------- failures


def _score(subject_id: str, evaluator: str, *, passed, status="completed", category=None, **extra) -> dict:
    return {
        "subject_id": subject_id,
        "evaluator": evaluator,
        "metric": evaluator,
        "passed": passed,
        "status": status,
        "failure_category": category,
        "explanation": f"{evaluator} says so",
    } | extra


def test_classify_failures_keeps_only_completed_failing_scores():
    calls = [_call(1), _call(2)]
    scores = [
        _score("call-0001", "faithfulness", passed=False, category="hallucination"),
        _score("call-0001", "length", passed=True),
        _score("call-0001", "judge_err", passed=None, status="error"),
        _score("call-0001", "judge_skip", passed=None, status="skipped"),
        _score("call-0002", "judge_odd", passed=False, status="error"),  # errored: not a failure
        _score("call-0002", "no_pii", passed=False, category="pii_leak"),
        _score("call-9999", "no_pii", passed=False, category="pii_leak"),  # call not sampled
    ]
    failures = classify_failures(calls, scores)
    assert [(f["call_id"], f["evaluator"]) for f in failures] == [
        ("call-0001", "faithfulness"),
        ("call-0002", "no_pii"),
    ]
    first = failures[0]
    assert first["failure_category"] == "hallucination"
    assert first["severity"] == "high"
    assert first["evidence"] == "faithfulness says so"
    assert first["input_text"] == "question 1" and first["output_text"] == "answer 1"
    assert first["messages"] == [{"role": "user", "content": "question 1"}]
    assert first["feature"] == "rag_answer" and first["ts"] == T0 + timedelta(seconds=1)
    assert failures[1]["severity"] == "critical"


def test_failure_without_category_is_filed_not_dropped():
    (failure,) = classify_failures([_call(1)], [_score("call-0001", "custom", passed=False)])
    assert failure["failure_category"] == UNCLASSIFIED_CATEGORY == "reasoning_error"
    assert failure["severity"] == "medium"


@pytest.mark.parametrize(
    ("category", "severity"),
    [("secret_leak", "critical"), ("prompt_injection", "high"), ("latency_breach", "low"), ("format_break", "medium")],
)
def test_failure_severity_follows_the_taxonomy(category, severity):
    (failure,) = classify_failures([_call(1)], [_score("call-0001", "x", passed=False, category=category)])
    assert failure["severity"] == severity


# ---------------------------------------------------------------------------- regression dataset

DATASET = DatasetConfig(passing_samples_per_feature=3, smoke_min_occurrences=3)


def test_same_input_from_two_calls_is_one_case_with_two_occurrences():
    failures = [
        failure_row("call-b", "How long do refunds take?", ts=T0 + timedelta(hours=2)),
        failure_row("call-a", "How long do refunds take?", ts=T0),
        failure_row("call-c", "Can I change my address?", ts=T0 + timedelta(hours=1)),
    ]
    version, cases = build_cases(failures, [], DATASET)
    assert len(cases) == 2
    (refund,) = [c for c in cases if c["occurrences"] == 2]
    assert refund["source_call_ids"] == ["call-a", "call-b"]
    assert refund["first_seen"] == T0 and refund["last_seen"] == T0 + timedelta(hours=2)
    assert refund["tier"] == "core"
    assert refund["assertions"] == ["faithfulness"]
    assert refund["failure_category"] == "hallucination"
    assert refund["input"][-1]["content"] == "How long do refunds take?"
    assert refund["case_id"].startswith("case-")
    assert all(c["dataset_version"] == version for c in cases)
    assert version.startswith("ds-")
    (single,) = [c for c in cases if c["occurrences"] == 1]
    assert single["tier"] == "edge" and single["critical"] is False


def test_two_failing_evaluators_on_one_call_are_one_occurrence():
    failures = [
        failure_row("call-a", "Where is my order?", evaluator="faithfulness"),
        failure_row("call-a", "Where is my order?", evaluator="answer_length", category="format_break"),
    ]
    _, (case,) = build_cases(failures, [], DATASET)
    assert case["occurrences"] == 1
    assert case["assertions"] == ["answer_length", "faithfulness"]
    # Tie on counts: broken by name, so the version is stable.
    assert case["failure_category"] == "format_break"


def test_whitespace_and_case_differences_normalise_together():
    failures = [
        failure_row("call-a", "How long do refunds take?", context=["Refunds take 5 days."]),
        failure_row("call-b", "  how LONG do\n refunds   take?  ", context=["refunds  take 5 DAYS."]),
    ]
    _, cases = build_cases(failures, [], DATASET)
    assert len(cases) == 1 and cases[0]["occurrences"] == 2
    assert case_id_for(failures[0]["messages"], failures[0]["context"], None) == case_id_for(
        failures[1]["messages"], failures[1]["context"], None
    )
    # A different word is a different case.
    assert case_id_for([{"role": "user", "content": "refunds?"}], None, None) != case_id_for(
        [{"role": "user", "content": "returns?"}], None, None
    )


@pytest.mark.parametrize("category", ["provider_error", "latency_breach", "cost_breach"])
def test_failures_of_the_moment_are_promoted_as_edge_never_critical(category):
    """Every kind of failure is in the dataset, but one a replay cannot be expected to
    reproduce never becomes smoke or critical, however often it happened."""
    failures = [failure_row(f"call-{i}", "Where is my order?", category=category) for i in range(5)]
    critical_everything = DATASET.model_copy(update={"critical_categories": [category]})
    _, cases = build_cases(failures, [], critical_everything)
    assert [(c["failure_category"], c["tier"], c["critical"], c["occurrences"]) for c in cases] == [
        (category, "edge", False, 5)
    ]


def test_an_input_failing_on_content_and_on_latency_is_a_content_case():
    failures = [
        failure_row("call-a", "Where is my order?", category="latency_breach"),
        failure_row("call-b", "Where is my order?", category="hallucination"),
        failure_row("call-c", "Where is my order?", category="hallucination"),
    ]
    _, [case] = build_cases(failures, [], DATASET)
    assert (case["failure_category"], case["occurrences"]) == ("hallucination", 3)
    assert case["tier"] != "edge"  # the content failure decides the tier, not the slow call


def test_pii_leak_is_critical_and_smoke():
    failures = [
        failure_row("call-a", "What's the email on my account?", category="pii_leak", evaluator="no_pii"),
        failure_row("call-b", "Where is my order?"),
    ]
    _, cases = build_cases(failures, [], DATASET)
    by_category = {c["failure_category"]: c for c in cases}
    assert by_category["pii_leak"]["critical"] is True
    assert by_category["pii_leak"]["tier"] == "smoke"
    assert by_category["hallucination"]["critical"] is False


def test_frequent_failure_is_smoke_and_critical_feature_is_critical():
    failures = [failure_row(f"call-{i}", "Where is my order?", feature="tool_router") for i in range(3)]
    config = DatasetConfig(smoke_min_occurrences=3, critical_features=["tool_router"])
    _, (case,) = build_cases(failures, [], config)
    assert case["tier"] == "smoke" and case["critical"] is True


def test_version_is_independent_of_input_order():
    failures = [
        failure_row(f"call-{i:02d}", f"question {i % 7}", ts=T0 + timedelta(minutes=i),
                 category=["hallucination", "format_break", "pii_leak"][i % 3],
                 evaluator=["faithfulness", "ticket_format", "no_pii"][i % 3])
        for i in range(20)
    ]
    passing = [passing_row(f"ok-{i:02d}", f"passing question {i}", ts=T0 + timedelta(minutes=i)) for i in range(12)]
    version, cases = build_cases(failures, passing, DATASET)
    rng = random.Random(11)
    for _ in range(5):
        shuffled_failures, shuffled_passing = failures[:], passing[:]
        rng.shuffle(shuffled_failures)
        rng.shuffle(shuffled_passing)
        again_version, again_cases = build_cases(shuffled_failures, shuffled_passing, DATASET)
        assert again_version == version
        assert again_cases == cases


def test_version_is_independent_of_order_when_one_input_fails_in_two_features():
    failures = [
        failure_row("call-a", "Cancel my order", feature="rag_answer", ts=T0),
        failure_row("call-b", "Cancel my order", feature="tool_router", ts=T0 + timedelta(hours=1)),
    ]
    forward = build_cases(failures, [], DATASET)
    backward = build_cases(failures[::-1], [], DATASET)
    assert forward == backward
    assert forward[1][0]["feature"] == "rag_answer"  # the earliest failure's feature


def test_version_changes_when_a_failure_is_added():
    failures = [failure_row("call-a", "Where is my order?")]
    version, _ = build_cases(failures, [], DATASET)
    assert build_cases(failures, [], DATASET)[0] == version  # same content, same version
    more, _ = build_cases([*failures, failure_row("call-b", "Where is my order?")], [], DATASET)
    assert more != version
    other, _ = build_cases([*failures, failure_row("call-c", "Another question")], [], DATASET)
    assert other not in (version, more)


def test_passing_sample_per_feature_is_bounded_and_never_duplicates_a_failure():
    failures = [failure_row("call-f", "passing question 0")]
    passing = [passing_row(f"ok-{i}", f"passing question {i}") for i in range(10)]
    passing += [passing_row(f"tool-{i}", f"tool question {i}", feature="tool_router") for i in range(2)]
    passing.append(passing_row("ok-dup", "Passing question 0 "))  # same case as the failure
    _, cases = build_cases(failures, passing, DATASET)
    ids = [c["case_id"] for c in cases]
    assert len(ids) == len(set(ids))
    failure_cases = [c for c in cases if c["failure_category"] is not None]
    passing_cases = [c for c in cases if c["failure_category"] is None]
    assert len(failure_cases) == 1
    assert failure_cases[0]["source_call_ids"] == ["call-f"]  # passing calls do not join it
    by_feature = {}
    for case in passing_cases:
        by_feature.setdefault(case["feature"], []).append(case)
    assert len(by_feature["rag_answer"]) == 3  # passing_samples_per_feature
    assert len(by_feature["tool_router"]) == 2  # fewer available than the limit
    for case in passing_cases:
        assert case["tier"] == "core" and case["assertions"] == [] and case["critical"] is False
        assert "call-f" not in case["source_call_ids"] and "ok-dup" not in case["source_call_ids"]


def test_passing_sample_zero_keeps_failures_only():
    config = DatasetConfig(passing_samples_per_feature=0)
    _, cases = build_cases([failure_row("call-a", "q")], [passing_row("ok-1", "p")], config)
    assert [c["source_call_ids"] for c in cases] == [["call-a"]]


def test_diff_versions():
    _, old = build_cases([failure_row("a", "q1"), failure_row("b", "q2")], [], DATASET)
    _, new = build_cases(
        [failure_row("a", "q1"), failure_row("a2", "q1", ts=T0 + timedelta(hours=1)), failure_row("c", "q3")],
        [],
        DATASET,
    )
    assert diff_versions(old, new) == {"added": 1, "removed": 1, "changed": 1}
    assert diff_versions(old, old) == {"added": 0, "removed": 0, "changed": 0}
    assert diff_versions([], new) == {"added": 2, "removed": 0, "changed": 0}
