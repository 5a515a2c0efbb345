"""Evaluators whose score carries structured evidence in `Score.details`.

`check()` keeps the base contract (passed, value, explanation[, category]); a subclass that
has evidence worth keeping as data (each failing schema path, each bad link with its
offset, the language shares) implements `inspect()` instead, which returns the same plus a
details mapping. Stateless: nothing is stashed on the instance between check and score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from assay.evaluators.base import DeterministicEvaluator, Subject, missing_fields

from assay.contracts.score import Score


class Finding(NamedTuple):
    passed: bool | None
    value: float | None
    explanation: str
    category: str | None = None
    details: dict[str, Any] | None = None
    status: str = "completed"
    """`error` when the evaluator could not judge (e.g. the reference itself is broken)."""


@dataclass(kw_only=True)
class DetailedEvaluator(DeterministicEvaluator):
    def inspect(self, subject: Subject) -> Finding:
        raise NotImplementedError

    def check(self, subject: Subject) -> tuple[bool, float | None, str, str | None]:
        finding = self.inspect(subject)
        return bool(finding.passed), finding.value, finding.explanation, finding.category

    def missing(self, subject: Subject) -> list[str]:
        """Inputs the subject lacks (`skipped` when any); a subclass whose input depends on
        its params (which field to read) overrides this."""
        return missing_fields(subject, self.required_fields)

    def evaluate(self, subject: Subject) -> list[Score]:
        missing = self.missing(subject)
        if missing:
            return [self.score(subject, status="skipped", explanation=f"missing input: {', '.join(missing)}")]
        started = time.perf_counter()
        finding = self.inspect(subject)
        extra = {"failure_category": finding.category} if finding.category else {}
        if finding.status != "completed":
            return [self.score(subject, status=finding.status, explanation=finding.explanation)]
        return [
            self.score(
                subject,
                passed=finding.passed,
                value=finding.value,
                explanation=finding.explanation,
                details=finding.details or None,
                duration_ms=(time.perf_counter() - started) * 1000,
                **extra,
            )
        ]
