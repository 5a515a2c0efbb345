"""The evaluator API: the typed subject, the protocols the registry and the scorer check, the
registration decorator, and docs/evaluators.md's custom evaluators running as written."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from assay.assets.candidate_outputs import case_subject
from assay.assets.scoring import build_evaluators, is_judged, sql_forms
from assay.evaluators import (
    EVALUATOR_TYPES,
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Subject,
    VectorisableEvaluator,
    build_evaluator,
    register_evaluator,
)
from assay.evaluators.registry import describe_type, evaluator_class

from assay import evaluators
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.contracts.score import Score
from tests.support.doc_code import run_code_blocks, validate_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_subject_has_every_call_field_and_every_replay_field():
    fields = set(typing.get_type_hints(Subject))
    assert fields == set(CALL_ARROW_SCHEMA.names) | {"subject_id", "baseline_output"}
    assert Subject.__required_keys__ == frozenset({"subject_id"})
    replay = case_subject({"case_id": "k1", "input": [{"role": "user", "content": "hi"}]}, {"status": "completed"})
    assert set(replay) <= fields


@pytest.mark.parametrize(
    ("type_", "judged", "vectorisable"),
    [("contains", False, True), ("pii", True, False), ("llm_judge", True, False), ("faithfulness", True, False),
     ("exact_match", False, False), ("latency", False, True)],
)
def test_capabilities_are_protocols_on_classes_and_instances(type_, judged, vectorisable):
    cls = evaluator_class(type_)
    assert issubclass(cls, JudgedEvaluator) is judged
    assert issubclass(cls, VectorisableEvaluator) is vectorisable
    built = build_evaluators([_cfg(type_)], "sim/judge")[type_]
    assert isinstance(built, Evaluator)
    assert isinstance(built, JudgedEvaluator) is judged and isinstance(built, VectorisableEvaluator) is vectorisable
    assert describe_type(type_).vectorised is vectorisable


def _cfg(type_: str):
    from assay.config import EvaluatorConfig

    return EvaluatorConfig(name=type_, type=type_, params=dict(describe_type(type_).example))


class _PlansLikeAJudge:
    """A plain class (no assay base class) that satisfies the judged protocol."""

    name, version, required_fields, failure_category = "x", "1", ("output_text",), None

    def __init__(self, model: str | None = None):
        self.model = model

    def evaluate(self, subject):
        return []

    def plan(self, subject, *, default_model):
        return Score(subject_id=subject["subject_id"], evaluator=self.name, evaluator_version="1", metric="x",
                     status="skipped", explanation=f"would ask {self.model or default_model}")


def test_the_scorer_recognises_a_judge_by_its_protocol(monkeypatch):
    monkeypatch.setitem(EVALUATOR_TYPES, "plans_like_a_judge", f"{__name__}:_PlansLikeAJudge")
    assert is_judged("plans_like_a_judge") and not is_judged("contains")
    built = build_evaluators([_cfg_plain("plans_like_a_judge")], "sim/judge")["plans_like_a_judge"]
    assert built.model == "sim/judge"  # the project's judge model, given because it plans judge calls
    assert sql_forms({"plans_like_a_judge": built}, [_cfg_plain("plans_like_a_judge")]) == {}


def _cfg_plain(type_: str):
    from assay.config import EvaluatorConfig

    return EvaluatorConfig(name=type_, type=type_)


def test_register_evaluator_adds_a_type_after_checking_the_class():
    @dataclass(kw_only=True)
    class Shouting(DeterministicEvaluator):
        def check(self, subject):
            return True, 1.0, "ok"

    Shouting.__qualname__ = "Shouting"  # as if defined at module level
    globals()["Shouting"] = Shouting
    try:
        assert register_evaluator("shouting_test", kind="tone", offline=True)(Shouting) is Shouting
        assert EVALUATOR_TYPES["shouting_test"] == f"{__name__}:Shouting" and Shouting.kind == "tone"
        built = build_evaluator("loud", "shouting_test")
        assert isinstance(built, Shouting) and built.evaluate({"subject_id": "s", "output_text": "hi"})[0].passed
        assert register_evaluator("shouting_test")(Shouting) is Shouting  # the same class again: a no-op
        assert register_evaluator(Shouting) is Shouting and EVALUATOR_TYPES["shouting"] == f"{__name__}:Shouting"
    finally:
        EVALUATOR_TYPES.pop("shouting_test", None)
        EVALUATOR_TYPES.pop("shouting", None)
        del globals()["Shouting"]


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("contains", "Fine", "type 'contains' is already registered (assay.evaluators.text:Contains); choose another name"),
        ("Bad-Name", "Fine", "a type name is lowercase letters, digits and '_'"),
        ("no_evaluate", "NoEvaluate", "not an evaluator class (it needs an `evaluate(subject) -> list[Score]` method)"),
    ],
)
def test_register_evaluator_refuses_with_one_clear_line(name, target, message):
    classes = {"Fine": _PlansLikeAJudge, "NoEvaluate": type("NoEvaluate", (), {"name": "x"})}
    with pytest.raises(ValueError, match=re.escape(message)):
        register_evaluator(name)(classes[target])
    assert EVALUATOR_TYPES["contains"] == "assay.evaluators.text:Contains" and "no_evaluate" not in EVALUATOR_TYPES


def test_the_public_api_is_exported_from_the_package():
    for name in ("Subject", "Evaluator", "JudgedEvaluator", "VectorisableEvaluator", "DeterministicEvaluator",
                 "DetailedEvaluator", "Finding", "register_evaluator", "build_evaluator", "Score"):
        assert name in evaluators.__all__ and hasattr(evaluators, name)


@pytest.mark.slow  # whole Python processes that load assay, Dagster or dbt: `make test` only
def test_the_docs_custom_evaluators_run_and_validate_as_written(tmp_path):
    scripts = run_code_blocks(ROOT / "docs" / "evaluators.md", tmp_path)
    assert scripts == 2 and {p.name for p in tmp_path.glob("*.py")} >= {"word_budget.py", "judged.py"}
    validated = validate_config(tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("ok: 2 evaluators"), validated.stdout
    (tmp_path / "assay.yaml").write_text(
        (tmp_path / "assay.yaml").read_text().replace("params: {max_words: 80}", "params: {max_words: many}")
    )
    refused = validate_config(tmp_path)
    assert refused.returncode != 0
    assert "assay.yaml:5" in refused.stderr and "param 'max_words' must be integer, got 'many'" in refused.stderr
