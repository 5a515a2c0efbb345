"""Operational checks on the call record itself: latency, cost, provider status.

They read numeric fields rather than the output, so they also score calls that failed
(an error call still took time and may have cost money).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from evaluators.base import DeterministicEvaluator, Subject


def _positive_threshold(evaluator: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{evaluator}: `{key}` must be a number (got {value!r})")
    if value <= 0:
        raise ValueError(f"{evaluator}: `{key}` must be greater than 0 (got {value!r})")


def _observed(subject: Subject, field_name: str) -> float:
    """The subject's numeric field; a non-numeric value is a broken record, not a pass."""
    value = subject[field_name]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"subject field `{field_name}` is not a number: {value!r}")
    return float(value)


@dataclass(kw_only=True)
class LatencyThreshold(DeterministicEvaluator):
    """The call took at most `max_ms` milliseconds. The value is the observed latency, so the
    same score feeds latency percentiles as well as the pass rate."""

    kind: ClassVar[str] = "operational"
    example: ClassVar[dict[str, Any]] = {"max_ms": 5000}

    max_ms: float
    failure_category: str | None = "latency_breach"
    metric: str = "latency_ms"
    required_fields: tuple[str, ...] = ("latency_ms",)

    def __post_init__(self) -> None:
        _positive_threshold("latency", "max_ms", self.max_ms)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        observed = _observed(subject, "latency_ms")
        if observed > self.max_ms:
            return False, observed, f"latency {observed:.0f} ms exceeds max_ms={self.max_ms:g}"
        return True, observed, f"latency {observed:.0f} ms within max_ms={self.max_ms:g}"


@dataclass(kw_only=True)
class CostThreshold(DeterministicEvaluator):
    """The call cost at most `max_usd`. The value is the observed cost in USD."""

    kind: ClassVar[str] = "operational"
    example: ClassVar[dict[str, Any]] = {"max_usd": 0.01}

    max_usd: float
    failure_category: str | None = "cost_breach"
    metric: str = "cost_usd"
    required_fields: tuple[str, ...] = ("cost_usd",)

    def __post_init__(self) -> None:
        _positive_threshold("cost", "max_usd", self.max_usd)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        observed = _observed(subject, "cost_usd")
        if observed > self.max_usd:
            return False, observed, f"cost ${observed:.6f} exceeds max_usd={self.max_usd:g}"
        return True, observed, f"cost ${observed:.6f} within max_usd={self.max_usd:g}"


@dataclass(kw_only=True)
class ProviderStatus(DeterministicEvaluator):
    """Fails when the provider call errored (`status == "error"`).

    Requires only `status`: an errored call usually has no output, and that is exactly the
    call this evaluator must score rather than skip. The explanation carries `error_type`
    but not `error_message`, which may echo the prompt or a key. Value: 1.0 ok, 0.0 error.
    """

    kind: ClassVar[str] = "operational"

    failure_category: str | None = "provider_error"
    metric: str = "provider_status"
    required_fields: tuple[str, ...] = ("status",)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        status = subject["status"]
        if status == "error":
            error_type = subject.get("error_type") or "unknown"
            return False, 0.0, f"provider error: {error_type}"
        return True, 1.0, f"status {status}"
