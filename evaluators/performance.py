"""Operational checks on the call record itself: latency, cost, provider status.

They read numeric fields rather than the output, so they also score calls that failed
(an error call still took time and may have cost money).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from assay.evaluators.base import DeterministicEvaluator, Subject
from assay.evaluators.vectorised import SqlForm, sql_number, sql_string


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


def _threshold_sql(column: str, limit: float, before: str, number_format: str, after: str) -> SqlForm:
    """SQL form of a `value <= limit` check whose explanation is
    `{before}{value:number_format}{after with 'exceeds' / 'within'}`. Non-finite values go to
    Python, which reports NaN as a broken record."""
    x = f"CAST({column} AS DOUBLE)"
    shown = f"{sql_string(before)} || printf({sql_string(number_format)}, {x})"
    return SqlForm(
        passed=f"({x} <= {sql_number(float(limit))})",
        value=x,
        explanation=(
            f"CASE WHEN {x} > {sql_number(float(limit))} THEN {shown} || {sql_string(after.format('exceeds'))} "
            f"ELSE {shown} || {sql_string(after.format('within'))} END"
        ),
        python_rows=f"NOT isfinite({x})",
    )


@dataclass(kw_only=True)
class LatencyThreshold(DeterministicEvaluator):
    """The call took at most `max_ms` milliseconds. The value is the observed latency, so the
    same score feeds latency percentiles as well as the pass rate."""

    output: ClassVar[str] = "pass/fail + latency_ms"
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

    def sql_form(self) -> SqlForm:
        return _threshold_sql("latency_ms", self.max_ms, "latency ", "%.0f", f" ms {{}} max_ms={self.max_ms:g}")


@dataclass(kw_only=True)
class CostThreshold(DeterministicEvaluator):
    """The call cost at most `max_usd`. The value is the observed cost in USD."""

    output: ClassVar[str] = "pass/fail + cost_usd"
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

    def sql_form(self) -> SqlForm:
        return _threshold_sql("cost_usd", self.max_usd, "cost $", "%.6f", f" {{}} max_usd={self.max_usd:g}")


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

    def sql_form(self) -> SqlForm:
        return SqlForm(
            passed="(status <> 'error')",
            value="CASE WHEN status = 'error' THEN 0.0 ELSE 1.0 END",
            explanation=(
                "CASE WHEN status = 'error' THEN 'provider error: ' || coalesce(nullif(error_type, ''), 'unknown') "
                "ELSE 'status ' || status END"
            ),
        )


@dataclass(kw_only=True)
class FinishReason(DeterministicEvaluator):
    """Fails when the model stopped because it hit the token limit (`finish_reason` length),
    i.e. the output is truncated. Value: 1.0 complete, 0.0 truncated."""

    kind: ClassVar[str] = "operational"

    failure_category: str | None = "format_break"
    metric: str = "finish_reason"
    required_fields: tuple[str, ...] = ("finish_reason",)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        reason = str(subject["finish_reason"])
        if reason in TRUNCATION_REASONS:
            return False, 0.0, f"output truncated (finish_reason {reason})"
        return True, 1.0, f"finish_reason {reason}"

    def sql_form(self) -> SqlForm:
        truncated = f"finish_reason IN ({', '.join(sql_string(r) for r in sorted(TRUNCATION_REASONS))})"
        return SqlForm(
            passed=f"(NOT {truncated})",
            value=f"CASE WHEN {truncated} THEN 0.0 ELSE 1.0 END",
            explanation=f"CASE WHEN {truncated} THEN 'output truncated (finish_reason ' || finish_reason || ')' ELSE 'finish_reason ' || finish_reason END",
        )


TRUNCATION_REASONS = frozenset({"length", "max_tokens", "MAX_TOKENS"})
"""Spellings of "hit the token limit": OpenAI / litellm (length), Anthropic (max_tokens),
Gemini and OTel GenAI (MAX_TOKENS / max_tokens)."""
