"""The evaluator API: the typed subject, the protocols an evaluator can satisfy, the base class.

What an evaluator can be, each a `runtime_checkable` protocol the registry and the scorer test
with `isinstance` / `issubclass` (never by probing attributes):

- `Evaluator` (every evaluator; deterministic): `evaluate(subject) -> list[Score]`, plus
  `name`, `version`, `required_fields`, `failure_category`.
- `JudgedEvaluator`: also `plan(subject, *, default_model) -> JudgePlan | Score`. The scorer
  collects the plans of a whole partition and sends them through the one judge engine in a
  batch (cache, budget, rate limits); a `Score` instead of a plan is a verdict reached
  without a call (a skipped subject, a heuristic that flagged nothing).
- `VectorisableEvaluator`: also `sql_form() -> SqlForm | None`, the same verdict as one
  DuckDB query over a day's partition (None when this configuration cannot be expressed).

A subject (`Subject`) is one production call or one replayed case with the call record's
field names (nested fields already decoded from JSON). Production calls and regression-case
replays both take this shape, so one evaluator serves both. It is a `TypedDict`: at run time a
plain dict, so an evaluator written against `Mapping[str, Any]` keeps working.
See docs/evaluators.md for a complete custom evaluator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, runtime_checkable

from assay.contracts.score import Score

if TYPE_CHECKING:  # annotations only: the judge and the SQL forms import heavier modules
    from assay.evaluators.llm_judge import JudgePlan
    from assay.evaluators.vectorised import SqlForm


class _SubjectId(TypedDict):
    subject_id: str
    """The call id, or the case id of a replay: the score's `subject_id`."""


class Subject(_SubjectId, total=False):
    """What an evaluator sees: the call record's fields (assay/contracts/call.py), with
    `subject_id` (required) and, on replays judged pairwise, `baseline_output`. Fields a
    source did not provide are absent or None."""

    call_id: str
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    ts: datetime
    app: str
    feature: str | None
    environment: str | None
    prompt_id: str | None
    prompt_version: str | None
    provider: str | None
    model: str | None
    params: dict[str, Any] | None
    messages: list[dict[str, Any]] | None
    """[{role, content}], the conversation sent to the model."""
    input_text: str | None
    """The last user message."""
    context: list[str] | None
    """Retrieved documents."""
    tools: list[dict[str, Any]] | None
    tool_calls: list[dict[str, Any]] | None
    """[{name, arguments}]."""
    output_text: str | None
    finish_reason: str | None
    status: str
    error_type: str | None
    error_message: str | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cost_source: str | None
    user_id: str | None
    session_id: str | None
    customer_id: str | None
    expected_output: str | None
    """The reference answer (a golden case's, or one attached to the call)."""
    feedback_score: float | None
    feedback_comment: str | None
    metadata: dict[str, Any] | None
    source_format: str | None
    source_file: str | None
    source_offset: int | None
    baseline_output: str | None
    """Replays only: the baseline candidate's answer to the same case (pairwise judges)."""


CheckResult = tuple[bool, float | None, str] | tuple[bool, float | None, str, str | None]


@runtime_checkable
class Evaluator(Protocol):
    """Every evaluator: a deterministic `evaluate` over one subject."""

    name: str
    """Instance name from config (`json_valid`), unique in a project."""
    version: str
    """Bumped when the evaluator's logic changes, so old and new scores are never mixed."""
    required_fields: tuple[str, ...]
    failure_category: str | None
    """Taxonomy label given to a failing score."""

    def evaluate(self, subject: Subject) -> list[Score]: ...


@runtime_checkable
class JudgedEvaluator(Protocol):
    """An `Evaluator` whose verdict an LLM judge gives (or confirms): it plans its judge calls
    so the scorer can batch them. `plan.judge.score_from_calls(subject, calls)` turns the
    answered calls into the final Score (`assay.evaluators.llm_judge.JudgePlan`)."""

    def plan(self, subject: Subject, *, default_model: str) -> JudgePlan | Score: ...


@runtime_checkable
class VectorisableEvaluator(Protocol):
    """An `Evaluator` that can also score a whole partition as one DuckDB query, with results
    equal to `evaluate` (`assay.evaluators.vectorised`)."""

    def sql_form(self) -> SqlForm | None: ...


@runtime_checkable
class EvaluatorClass(Protocol):
    """The class-level face of `Evaluator` (method only, so `issubclass` works on a class
    before it is built: its data members are only known on an instance)."""

    def evaluate(self, subject: Subject) -> list[Score]: ...


def check_share(label: str, key: str, value: Any) -> None:
    """Raise a ValueError unless a param is a number in [0, 1] (a threshold or share)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{label}: `{key}` must be a number in [0, 1], got {value!r}")


def missing_fields(subject: Subject, required: tuple[str, ...]) -> list[str]:
    """Required fields that are absent or empty on the subject."""
    return [f for f in required if subject.get(f) in (None, "", [])]


@dataclass
class DeterministicEvaluator:
    """Base for evaluators that compute a verdict locally from the subject.

    Subclasses implement `check(subject) -> (passed, value, explanation)`; this class turns
    it into a Score, and a subject missing a required field into a `skipped` score.
    """

    kind: ClassVar[str] = "text"
    """Catalogue group: text, json, reference, safety, operational, tools, rag, judge."""
    output: ClassVar[str] = "pass/fail"
    """What the score carries, for the catalogue: pass/fail, or pass/fail + a named value."""
    offline: ClassVar[bool] = True
    """False when the evaluator calls a provider or the network."""
    example: ClassVar[dict[str, Any]] = {}
    """Params of a working config entry: shown in the catalogue, built by the tests."""

    name: str
    failure_category: str | None = None
    version: str = "1"
    metric: str = ""
    required_fields: tuple[str, ...] = ("output_text",)
    params: dict[str, Any] = field(default_factory=dict)

    def check(self, subject: Subject) -> CheckResult:
        """(passed, value, explanation), optionally with a 4th item: the failure category of
        this particular failure when it depends on what was found (e.g. PII vs a secret)."""
        raise NotImplementedError

    def evaluate(self, subject: Subject) -> list[Score]:
        started = time.perf_counter()
        missing = missing_fields(subject, self.required_fields)
        if missing:
            return [
                self.score(
                    subject,
                    status="skipped",
                    explanation=f"missing input: {', '.join(missing)}",
                )
            ]
        passed, value, explanation, *category = self.check(subject)
        extra = {"failure_category": category[0]} if category and category[0] else {}
        return [
            self.score(
                subject,
                passed=passed,
                value=value,
                explanation=explanation,
                duration_ms=(time.perf_counter() - started) * 1000,
                **extra,
            )
        ]

    def score(self, subject: Subject, **fields: Any) -> Score:
        category = fields.pop("failure_category", self.failure_category)
        return Score(
            subject_id=str(subject["subject_id"]),
            evaluator=self.name,
            evaluator_version=self.version,
            metric=self.metric or self.name,
            failure_category=category if fields.get("passed") is False else None,
            scored_at=datetime.now(UTC),
            **fields,
        )
