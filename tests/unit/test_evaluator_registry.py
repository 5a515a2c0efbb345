from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from assay.evaluators import EVALUATOR_TYPES, Evaluator, build_evaluator
from assay.evaluators.base import DeterministicEvaluator
from assay.evaluators.registry import UnknownEvaluatorError, catalogue, evaluator_class

from assay import evaluators

ROOT = Path(__file__).resolve().parents[2]

CATALOGUE = catalogue()
DETERMINISTIC = [e for e in CATALOGUE if e.offline and e.kind not in ("judge", "rag_judge")]


@pytest.mark.parametrize("entry", DETERMINISTIC, ids=lambda e: e.type)
def test_every_deterministic_type_builds_from_its_example(entry):
    evaluator = build_evaluator(f"e_{entry.type}", entry.type, dict(entry.example))
    assert isinstance(evaluator, Evaluator)
    assert isinstance(evaluator, DeterministicEvaluator)
    assert evaluator.failure_category is not None


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.type)
def test_every_type_skips_a_subject_missing_its_inputs(entry):
    """A call without the fields an evaluator needs gets a `skipped` score naming them."""
    evaluator = build_evaluator(f"e_{entry.type}", entry.type, dict(entry.example))
    assert entry.inputs, f"{entry.type} declares no inputs"
    scores = evaluator.evaluate({"subject_id": "s1"})
    assert [s.status for s in scores] == ["skipped"]
    assert all(field in scores[0].explanation for field in evaluator.required_fields)


def test_catalogue_rows_are_complete():
    for entry in CATALOGUE:
        assert entry.kind and entry.output and entry.description, entry
    assert {e.type for e in CATALOGUE} == set(EVALUATOR_TYPES)


def test_preset_fixes_its_params():
    from assay.evaluators.registry import EVALUATOR_TYPES as types
    from assay.evaluators.registry import Preset

    types["_test_contains_none"] = Preset("contains", {"mode": "none"})
    try:
        evaluator = build_evaluator("nope", "_test_contains_none", {"value": "x"})
        assert evaluator.mode == "none"
        with pytest.raises(ValueError, match="mode are fixed by the type"):
            build_evaluator("nope", "_test_contains_none", {"value": "x", "mode": "any"})
    finally:
        del types["_test_contains_none"]


def test_config_overrides_the_failure_category():
    evaluator = build_evaluator("fmt", "regex", {"pattern": "x"}, failure_category="hallucination")
    [score] = evaluator.evaluate({"subject_id": "s", "output_text": "y"})
    assert score.failure_category == "hallucination"
    with pytest.raises(ValueError, match="unknown failure_category 'typo'.*valid: hallucination"):
        build_evaluator("fmt", "regex", {"pattern": "x"}, failure_category="typo")


def test_unknown_type_lists_the_valid_types():
    with pytest.raises(UnknownEvaluatorError) as info:
        build_evaluator("x", "jsonn", {})
    message = str(info.value)
    assert "'jsonn'" in message and "'x'" in message
    assert "is_json" in message and "tool_call_valid" in message and "llm_judge" in message
    assert isinstance(info.value, ValueError)


def test_unknown_param_names_evaluator_param_and_valid_params():
    with pytest.raises(ValueError) as info:
        build_evaluator("no_refund", "contains", {"values": "refund"})
    message = str(info.value)
    assert "evaluator 'no_refund' (type 'contains')" in message
    assert "unknown param(s) values" in message
    assert "value (string or list of string, required)" in message
    assert "mode (one of 'any', 'all', 'none')" in message


def test_reserved_names_are_not_params():
    with pytest.raises(ValueError, match="version is set by the evaluator config or the class"):
        build_evaluator("r", "regex", {"pattern": "x", "version": "9"})


def test_missing_required_param():
    with pytest.raises(ValueError, match="evaluator 'slow'.*missing required param.*max_ms"):
        build_evaluator("slow", "latency", {})


@pytest.mark.parametrize(
    ("type_name", "params", "expected"),
    [
        (
            "contains",
            {"value": "x", "mode": "some"},
            "param 'mode' must be one of 'any', 'all', 'none'",
        ),
        (
            "contains",
            {"value": "x", "ignore_case": "yes"},
            "param 'ignore_case' must be true/false",
        ),
        ("length", {"max_chars": "10"}, "param 'max_chars' must be integer or null"),
        ("length", {"max_chars": True}, "param 'max_chars' must be integer or null"),
        ("is_json", {"required_keys": ["a", 1]}, "param 'required_keys' must be list of string"),
        (
            "tool_call_valid",
            {"allowed_tools": "lookup"},
            "param 'allowed_tools' must be list of string",
        ),
    ],
)
def test_wrong_param_types(type_name, params, expected):
    with pytest.raises(ValueError, match="evaluator 'e'") as info:
        build_evaluator("e", type_name, params)
    assert expected in str(info.value)


def test_integer_is_accepted_where_a_number_is_expected():
    assert build_evaluator("slow", "latency", {"max_ms": 1500}).max_ms == 1500


def test_class_validation_errors_name_the_evaluator():
    with pytest.raises(
        ValueError, match=r"evaluator 'r' \(type 'regex'\): regex: pattern .* nests"
    ):
        build_evaluator("r", "regex", {"pattern": "(a+)+"})


@dataclass(kw_only=True)
class ShoutCheck(DeterministicEvaluator):
    """A custom evaluator, referenced from config by its dotted path."""

    threshold: float = 0.5
    failure_category: str | None = "format_break"

    def check(self, subject):
        text = subject["output_text"]
        share = sum(c.isupper() for c in text) / len(text)
        return share <= self.threshold, share, f"{share:.0%} upper case"


class NotAnEvaluator:
    def __init__(self, name):
        self.name = name


def test_custom_evaluator_by_dotted_path():
    evaluator = build_evaluator("shout", f"{__name__}:ShoutCheck", {"threshold": 0.2})
    [score] = evaluator.evaluate({"subject_id": "s", "output_text": "HELLO there"})
    assert (score.passed, score.failure_category) == (False, "format_break")
    with pytest.raises(ValueError, match="param 'threshold' must be number"):
        build_evaluator("shout", f"{__name__}:ShoutCheck", {"threshold": "high"})


def test_custom_path_errors():
    with pytest.raises(UnknownEvaluatorError, match="cannot import module 'no_such_pkg.mod'"):
        build_evaluator("x", "no_such_pkg.mod:Thing", {})
    with pytest.raises(UnknownEvaluatorError, match="has no class 'Missing'"):
        evaluator_class(f"{__name__}:Missing")
    with pytest.raises(ValueError, match="does not implement the Evaluator protocol"):
        build_evaluator("x", f"{__name__}:NotAnEvaluator", {})


def test_public_api():
    for name in (
        "Contains",
        "Regex",
        "Length",
        "IsJson",
        "PiiLeak",
        "Refusal",
        "LatencyThreshold",
        "CostThreshold",
        "ProviderStatus",
        "ToolCallValid",
        "find_pii",
        "redact",
        "build_evaluator",
        "EVALUATOR_TYPES",
        "Evaluator",
        "Score",
    ):
        assert name in evaluators.__all__
        assert getattr(evaluators, name) is not None


def test_import_is_light():
    code = (
        "import sys, evaluators\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('litellm', 'dagster', 'great_expectations') or m == 'assay.evaluators.llm_judge']\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
