"""Deterministic safety evaluators with an optional LLM-judge check.

`JudgedDetailedEvaluator` (a `DetailedEvaluator`: verdict plus `details`, e.g. entity types
and spans, in `Score.details`) adds `judge_rubric` (a rubric id from evaluators/rubrics) and
optional `judge_model`. With a rubric, the scorer's planning pass (`plan(subject,
default_model=...)`, as for `llm_judge`) sends only the subjects the heuristic FLAGGED to
the judge, through `LLMJudge` and the one judge engine (cache, budget, limits). The judge
confirms (the failure stands) or clears (the score passes, label `judge_cleared`) the flag;
a subject the heuristic passed is never judged, so the judge can raise precision but never
recall. If the judge call fails, the heuristic verdict stands and the judge's status and
explanation are kept in details. Without a rubric, `plan` returns the heuristic Score and
nothing changes. `evaluate()` is always the heuristic alone (no provider call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.evaluators.base import Subject
from assay.evaluators.evidence import DetailedEvaluator

from assay.contracts.score import Score

_JUDGE_FIELDS = ("judge_model", "judge_input_tokens", "judge_output_tokens", "judge_cost_usd",
                 "judge_attempts", "judge_is_cache_hit")  # fmt: skip


@dataclass(kw_only=True)
class JudgedDetailedEvaluator(DetailedEvaluator):
    """A `DetailedEvaluator` whose flagged subjects an LLM judge can confirm or clear."""

    judge_rubric: str | None = None
    judge_model: str | None = None
    completion_params: dict[str, Any] = field(default_factory=dict)
    """Extra litellm arguments for the judge (the project's `judge.params` by default)."""
    _judge: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.judge_rubric is None:
            if self.judge_model is not None:
                raise ValueError(f"{self.name}: `judge_model` needs a `judge_rubric`")
            return
        from assay.evaluators.llm_judge import (
            LLMJudge,  # lazy: litellm only when a judge is configured
        )

        self._judge = LLMJudge(
            name=self.name, rubric=self.judge_rubric, model=self.judge_model,
            failure_category=self.failure_category, completion_params=self.completion_params,
        )  # fmt: skip
        # Scores with and without the judge are different measurements.
        self.version = f"{self.version}+{self._judge.version}"

    def plan(self, subject: Subject, *, default_model: str) -> Any:
        """The heuristic Score, or a `JudgePlan` confirming a flagged subject."""
        try:
            [heuristic] = self.evaluate(subject)
        except Exception as exc:  # as the scorer does for `evaluate`: an error score, not a crash
            return self.score(subject, status="error", label=type(exc).__name__, explanation=str(exc)[:500])
        if self._judge is None or heuristic.status != "completed" or heuristic.passed:
            return heuristic
        plan = self._judge.plan(subject, default_model=default_model)
        if isinstance(plan, Score):  # the rubric's inputs are missing: the heuristic stands
            heuristic.details = {**(heuristic.details or {}), "judge": {"status": plan.status, "explanation": plan.explanation}}
            return heuristic
        from assay.evaluators.llm_judge import JudgePlan

        return JudgePlan(_Confirmation(self, heuristic), subject, plan.requests)

    def combine(self, heuristic: Score, judged: Score) -> Score:
        """The final score of a flagged subject from the judge's verdict."""
        final = heuristic.model_copy(deep=True)
        for name in _JUDGE_FIELDS:
            setattr(final, name, getattr(judged, name))
        judge = {"status": judged.status, "passed": judged.passed, "score": judged.value, "label": judged.label}
        final.details = {**(heuristic.details or {}), "judge": judge}
        if judged.status != "completed" or judged.passed is None:
            judge["explanation"] = judged.explanation
            final.explanation = f"{heuristic.explanation} (judge {judged.status}: heuristic verdict kept)"
            return final
        if judged.passed:
            final.passed, final.failure_category, final.label = True, None, "judge_cleared"
            final.explanation = f"flagged ({heuristic.explanation}); judge cleared it: {judged.explanation}"
        else:
            final.label = "judge_confirmed"
            final.explanation = f"{heuristic.explanation}; judge confirmed: {judged.explanation}"
        return final


@dataclass
class _Confirmation:
    """The `judge` of a JudgePlan: turns the judge's calls into the evaluator's final Score."""

    evaluator: JudgedDetailedEvaluator
    heuristic: Score

    def score_from_calls(self, subject: Subject, calls: list[Any]) -> Score:
        judged = self.evaluator._judge.score_from_calls(subject, calls)
        return self.evaluator.combine(self.heuristic, judged)
