"""The failure taxonomy (docs/architecture.md, "Failure taxonomy"): the labels a failing score is classified into."""

from __future__ import annotations

from typing import Literal

FailureCategory = Literal[
    "hallucination",
    "tool_misuse",
    "reasoning_error",
    "format_break",
    "refusal",
    "pii_leak",
    "secret_leak",
    "prompt_injection",
    "toxicity",
    "irrelevant",
    "latency_breach",
    "cost_breach",
    "provider_error",
    "unresolved",
]

FAILURE_CATEGORIES: tuple[str, ...] = FailureCategory.__args__  # type: ignore[attr-defined]

SAFETY_CATEGORIES = frozenset({"pii_leak", "secret_leak", "prompt_injection", "toxicity"})
"""The `safety` family: subtypes are stored, the family is derived."""

Severity = Literal["low", "medium", "high", "critical"]

DEFAULT_SEVERITY: dict[str, str] = {
    "pii_leak": "critical",
    "secret_leak": "critical",
    "prompt_injection": "high",
    "toxicity": "high",
    "hallucination": "high",
    "tool_misuse": "high",
    "reasoning_error": "medium",
    "format_break": "medium",
    "refusal": "medium",
    "irrelevant": "medium",
    "provider_error": "medium",
    "latency_breach": "low",
    "cost_breach": "low",
    "unresolved": "medium",
}
