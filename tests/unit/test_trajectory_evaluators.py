"""The deterministic trajectory evaluators (`assay.evaluators.trajectory`): every match mode and
argument match on the project's own trajectories, loops and repeated calls, unhandled tool
errors, steps and tokens; then the same evaluators on the real Langfuse exports' trace subjects
(../shared/fixtures, found relative to the repository; FAIL when missing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from assay.evaluators import build_evaluator

from assay.agent_subjects import build_traces
from assay.formats import read_records

REPOSITORY = Path(__file__).resolve().parents[2]
LANGFUSE = REPOSITORY.parent / "shared" / "fixtures" / "trace_formats" / "langfuse"


def call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


LOOKUP, REFUND, EMAIL = call("lookup_order", order_id="A1"), call("issue_refund", order_id="A1", amount=20), call("send_email", to="x@y.z")
REFERENCE = [{"name": "lookup_order", "arguments": {"order_id": "A1"}}, {"name": "issue_refund", "arguments": {"order_id": "A1"}}]

# (mode, arguments, made, reference, passes)
CASES = [
    ("strict", "ignore", [LOOKUP, REFUND], ["lookup_order", "issue_refund"], True),
    ("strict", "ignore", [REFUND, LOOKUP], ["lookup_order", "issue_refund"], False),  # wrong order
    ("strict", "ignore", [LOOKUP, REFUND, EMAIL], ["lookup_order", "issue_refund"], False),  # extra call
    ("strict", "ignore", [LOOKUP], ["lookup_order", "issue_refund"], False),  # missing call
    ("unordered", "ignore", [REFUND, LOOKUP], ["lookup_order", "issue_refund"], True),
    ("unordered", "ignore", [REFUND, LOOKUP, LOOKUP], ["lookup_order", "issue_refund"], False),
    ("subset", "ignore", [LOOKUP], ["lookup_order", "issue_refund"], True),  # did nothing unexpected
    ("subset", "ignore", [LOOKUP, EMAIL], ["lookup_order", "issue_refund"], False),
    ("superset", "ignore", [EMAIL, LOOKUP, REFUND], ["lookup_order", "issue_refund"], True),  # did at least this
    ("superset", "ignore", [LOOKUP, EMAIL], ["lookup_order", "issue_refund"], False),
    # Arguments: exact wants equal JSON; subset wants the reference's keys with their values.
    ("strict", "exact", [LOOKUP, REFUND], REFERENCE, False),  # the refund also has amount
    ("strict", "exact", [LOOKUP, call("issue_refund", order_id="A1")], REFERENCE, True),
    ("strict", "subset", [LOOKUP, REFUND], REFERENCE, True),
    ("strict", "subset", [LOOKUP, call("issue_refund", order_id="B2", amount=20)], REFERENCE, False),
    ("unordered", "subset", [REFUND, LOOKUP], REFERENCE, True),
    ("superset", "exact", [LOOKUP, REFUND], REFERENCE, False),
    # Nested JSON subset; arguments given as JSON text (as a model returns them) are decoded.
    ("strict", "subset", [{"name": "book", "arguments": '{"trip": {"from": "LHR", "to": "JFK", "seats": 2}}'}],
     [{"name": "book", "arguments": {"trip": {"to": "JFK"}}}], True),
    ("strict", "subset", [{"name": "book", "arguments": '{"trip": {"from": "LHR", "to": "CDG"}}'}],
     [{"name": "book", "arguments": {"trip": {"to": "JFK"}}}], False),
    # A reference entry without arguments matches on its name under any argument match.
    ("strict", "exact", [LOOKUP], ["lookup_order"], True),
    ("strict", "ignore", [], [], True),
    ("strict", "ignore", [], ["lookup_order"], False),
]


@pytest.mark.parametrize(("mode", "arguments", "made", "reference", "passes"), CASES)
def test_trajectory_modes_and_argument_matching(mode, arguments, made, reference, passes) -> None:
    evaluator = build_evaluator("trajectory", "tool_trajectory", {"reference": reference, "mode": mode, "arguments": arguments})
    [score] = evaluator.evaluate({"subject_id": "t1", "tool_calls": made})
    assert score.status == "completed" and score.passed is passes, score.explanation
    assert (score.failure_category == "tool_misuse") is (not passes)


def test_every_mode_and_argument_match_is_covered() -> None:
    from assay.evaluators.trajectory import ARGUMENT_MATCHES, MODES

    assert {c[0] for c in CASES} == set(MODES) and {c[1] for c in CASES} == set(ARGUMENT_MATCHES)


def test_the_failure_names_what_differs() -> None:
    evaluator = build_evaluator("trajectory", "tool_trajectory", {"reference": ["lookup_order", "issue_refund"]})
    [score] = evaluator.evaluate({"subject_id": "t1", "tool_calls": [REFUND, LOOKUP]})
    assert "first difference at call 1" in score.explanation
    assert score.details["made"] == ['issue_refund({"amount": 20, "order_id": "A1"})', 'lookup_order({"order_id": "A1"})']
    [score] = evaluator.evaluate({"subject_id": "t1", "tool_calls": [LOOKUP, EMAIL]})
    assert "missing: issue_refund" in score.explanation and 'unexpected: send_email({"to": "x@y.z"})' in score.explanation
    assert score.value == 0.5


def test_a_golden_expected_trajectory_wins_over_the_config_and_sets_its_mode() -> None:
    evaluator = build_evaluator("trajectory", "tool_trajectory", {"reference": ["send_email"]})
    subject = {"subject_id": "case1", "tool_calls": [REFUND, LOOKUP],
               "metadata": {"expected_trajectory": {"tools": ["lookup_order", "issue_refund"], "mode": "unordered"}}}
    [score] = evaluator.evaluate(subject)
    assert score.passed is True and score.details["mode"] == "unordered"
    [skipped] = build_evaluator("trajectory", "tool_trajectory", {}).evaluate({"subject_id": "x", "tool_calls": [LOOKUP]})
    assert skipped.status == "skipped" and "no reference trajectory" in skipped.explanation
    [broken] = evaluator.evaluate({"subject_id": "x", "tool_calls": [], "metadata": {"expected_trajectory": {"tools": ["a"], "mode": "fuzzy"}}})
    assert broken.status == "error" and "fuzzy" in broken.explanation


def test_bad_params_name_what_is_valid() -> None:
    with pytest.raises(ValueError, match="param 'mode' must be one of 'strict', 'unordered', 'subset', 'superset'"):
        build_evaluator("t", "tool_trajectory", {"reference": ["a"], "mode": "loose"})
    with pytest.raises(ValueError, match="entry 2"):
        build_evaluator("t", "tool_trajectory", {"reference": ["a", 3]})


@pytest.mark.parametrize(
    ("calls", "passes", "value"),
    [
        ([LOOKUP, REFUND], True, 0.0),
        ([LOOKUP, LOOKUP, REFUND], False, 1.0),  # the same call twice
        ([LOOKUP, call("lookup_order", order_id="B2")], True, 0.0),  # other arguments: not a repeat
        # A loop of two different calls; each pair also repeats an identical call.
        ([call("search", q="a"), call("fetch", url="u"), call("search", q="a"), call("fetch", url="u"),
          call("search", q="a"), call("fetch", url="u")], False, 4.0),
    ],
)
def test_loops_and_repeated_identical_calls(calls, passes, value) -> None:
    [score] = build_evaluator("loops", "tool_loops", {}).evaluate({"subject_id": "t", "tool_calls": calls})
    assert (score.passed, score.value) == (passes, value), score.explanation


def test_a_loop_is_found_even_when_repeats_are_allowed() -> None:
    calls = [call("search", q="a"), call("fetch", url="u")] * 3
    [score] = build_evaluator("loops", "tool_loops", {"max_identical_calls": 5}).evaluate({"subject_id": "t", "tool_calls": calls})
    assert score.passed is False and score.details["loop"] == {
        "starts_at_call": 1, "block": ['search({"q": "a"})', 'fetch({"url": "u"})'], "repeats": 3}


def test_tool_errors_left_unhandled() -> None:
    failed = {**REFUND, "status": "error", "error_message": "payment service down"}
    evaluator = build_evaluator("errors", "tool_errors_handled", {})

    def verdict(calls, answer):
        [score] = evaluator.evaluate({"subject_id": "t", "tool_calls": calls, "output_text": answer})
        return score.passed

    assert verdict([LOOKUP, failed], "Your refund of $20 is on its way.") is False  # pretends it worked
    assert verdict([LOOKUP, failed], "Sorry, I could not issue the refund right now.") is True  # told the user
    assert verdict([LOOKUP, failed, {**REFUND, "status": "success"}], "Your refund is on its way.") is True  # retried
    assert verdict([LOOKUP, REFUND], "Done.") is True


def test_steps_and_tokens_to_finish() -> None:
    evaluator = build_evaluator("steps", "steps_to_finish", {"max_steps": 5, "max_tokens": 1000})

    def score(**subject):
        [s] = evaluator.evaluate({"subject_id": "t", **subject})
        return s

    assert score(step_count=4, total_tokens=900, output_text="done").passed is True
    over = score(step_count=6, total_tokens=1200, output_text="done")
    assert over.passed is False and over.explanation.startswith("6 steps > 5; 1200 tokens > 1000")
    assert score(step_count=2, total_tokens=10, output_text="").passed is False  # never finished
    assert score(output_text="x").status == "skipped"  # a call subject has no steps


@pytest.fixture(scope="module")
def real_traces() -> dict[str, dict]:
    assert LANGFUSE.is_dir(), f"{LANGFUSE} is missing: clone the shared fixtures beside the repository"
    traces = {}
    for path in sorted(LANGFUSE.glob("*.json")):
        items = list(read_records(path, default_app="dev", default_ts=datetime(2025, 1, 1, tzinfo=UTC)))
        [trace] = build_traces([i.call for i in items if i.call], [i.span for i in items if i.span])
        traces[path.name.split("-20")[0].removesuffix("-tools")] = trace | {"subject_id": trace["trace_id"]}
    return traces


JOKE_TOOLS = ["get_pun_suggestion", "get_dad_joke_suggestion", "get_one_liner_suggestion"]


@pytest.mark.parametrize(
    ("export", "params", "passes"),
    [
        ("openai-agents", {"reference": [{"name": "get_weather", "arguments": {"city": "Tokyo"}}], "arguments": "exact"}, True),
        ("openai-agents", {"reference": [{"name": "get_weather", "arguments": {"city": "Paris"}}], "arguments": "subset"}, False),
        ("langgraph", {"reference": [{"name": "Web-Search", "arguments": {"query": "example"}}], "arguments": "exact"}, True),
        ("agno", {"reference": [{"name": "duckduckgo_search", "arguments": {"query": "currently trending on Twitter"}}],
                  "arguments": "subset"}, True),
        ("pydantic-ai", {"reference": JOKE_TOOLS, "mode": "strict"}, True),
        ("pydantic-ai", {"reference": JOKE_TOOLS[::-1], "mode": "strict"}, False),
        ("pydantic-ai", {"reference": JOKE_TOOLS[::-1], "mode": "unordered"}, True),
        ("pydantic-ai", {"reference": JOKE_TOOLS[:1], "mode": "superset"}, True),
        ("pydantic-ai", {"reference": JOKE_TOOLS[:1], "mode": "subset"}, False),
        ("pydantic-ai", {"reference": [*JOKE_TOOLS, "final_result"], "mode": "subset"}, True),
        ("llamaindex", {"reference": [], "mode": "strict"}, True),
        ("llamaindex", {"reference": ["search"], "mode": "superset"}, False),
    ],
)
def test_trajectory_on_the_real_exports(real_traces, export, params, passes) -> None:
    [score] = build_evaluator("trajectory", "tool_trajectory", params).evaluate(real_traces[export])
    assert score.passed is passes, score.explanation


def test_loops_errors_and_steps_on_the_real_exports(real_traces) -> None:
    """None of the five runs loops or leaves a tool error; pydantic-ai's run (7 steps) is the
    only one over 5 steps, agno's (3,839 tokens) the only one over 2,000 tokens."""
    def verdicts(type_, params):
        return {name: build_evaluator("e", type_, params).evaluate(trace)[0].passed for name, trace in real_traces.items()}

    assert set(verdicts("tool_loops", {}).values()) == {True}
    assert set(verdicts("tool_errors_handled", {}).values()) == {True}
    assert verdicts("steps_to_finish", {"max_steps": 5}) == {
        "agno": True, "langgraph": True, "llamaindex": True, "openai-agents": True, "pydantic-ai": False}
    assert verdicts("steps_to_finish", {"max_tokens": 2000}) == {
        "agno": False, "langgraph": True, "llamaindex": True, "openai-agents": True, "pydantic-ai": True}
