"""The evaluator protocol: what every evaluator, deterministic or judged, provides.

A subject is a plain mapping with the call record's field names (nested fields already
decoded from JSON): `subject_id`, `feature`, `input_text`, `messages`, `context` (list of
str), `output_text`, `tool_calls` (list of {name, arguments}), `status`, `latency_ms`,
`cost_usd`, `expected_output`... Production calls and regression-case replays both take
this shape, so one evaluator serves both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from assay.contracts.score import Score

Subject = Mapping[str, Any]
CheckResult = tuple[bool, float | None, str] | tuple[bool, float | None, str, str | None]


@runtime_checkable
class Evaluator(Protocol):
    name: str
    """Instance name from config (`json_valid`), unique in a project."""
    version: str
    """Bumped when the evaluator's logic changes, so old and new scores are never mixed."""
    required_fields: tuple[str, ...]
    failure_category: str | None
    """Taxonomy label given to a failing score."""

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
