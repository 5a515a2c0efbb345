"""Email addresses in the output: `is_email` and `contains_email` (offline)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from assay.evaluators.base import DeterministicEvaluator, Subject
from assay.evaluators.evidence import DetailedEvaluator, Finding
from assay.evaluators.text import MAX_SEARCH_CHARS

_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
EMAIL = re.compile(rf"(?<![\w.+\-]){_EMAIL_LOCAL}@{_DOMAIN}(?![\w\-]|\.[A-Za-z0-9])")
"""A practical subset of RFC 5322: dot-atom local part, dotted domain with an alphabetic
TLD. No quoted local parts, IP-literal domains or internationalised addresses."""


def find_emails(text: str) -> list[re.Match[str]]:
    return [
        m for m in EMAIL.finditer(text[:MAX_SEARCH_CHARS]) if len(m.group(0).split("@")[0]) <= 64
    ]


@dataclass(kw_only=True)
class IsEmail(DeterministicEvaluator):
    """The whole output (whitespace stripped) is one email address, e.g. an extraction step.

    Practical RFC 5322 subset: dot-atom local part of at most 64 characters, a dotted domain
    with an alphabetic top-level domain, at most 254 characters overall. The value is 1.0 or
    0.0.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "is_email"

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"]).strip()
        match = EMAIL.fullmatch(text)
        if match and len(text) <= 254 and len(text.split("@")[0]) <= 64:
            return True, 1.0, "a valid email address"
        found = find_emails(text)
        why = f"contains {len(found)} address(es) among other text" if found else "no email address"
        return False, 0.0, f"not a single email address: {why} ({len(text)} chars)"


@dataclass(kw_only=True)
class ContainsEmail(DetailedEvaluator):
    """The output contains at least one email address (e.g. a support answer must give the
    contact address).

    The explanation gives how many and their positions, never the addresses (they may be
    personal data; to forbid addresses use `pii`). The value is 1.0 or 0.0.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "contains_email"

    def inspect(self, subject: Subject) -> Finding:
        found = find_emails(str(subject["output_text"]))
        if not found:
            return Finding(False, 0.0, "no email address found")
        return Finding(
            True,
            1.0,
            f"{len(found)} email address(es) at char {', '.join(str(m.start()) for m in found[:5])}",
            details={"spans": [[m.start(), m.end()] for m in found[:100]]},
        )
