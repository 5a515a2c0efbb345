"""Secret detection: API keys, tokens and private keys in free text.

Named formats (OpenAI, Anthropic, AWS, GitHub, Slack, Stripe, Google, JWT, PEM private keys)
and high-entropy values assigned to a key-like name (`client_secret=...`). The `secrets`
evaluator, the `API_KEY` entity of `assay.privacy.pii` and the instrument's payload redaction
all use `find_secrets`; see docs/architecture.md, "Privacy".

What it finds is a credential: callers report kinds and spans, never the matched text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Named secret formats, most specific first (an Anthropic key also matches the OpenAI
# shape). Each is at least 16 characters long (`assay.instrument` relies on it).
SECRET_KINDS: tuple[str, ...] = (
    "anthropic", "openai", "aws_access_key_id", "aws_secret_access_key", "github", "slack",
    "stripe", "google", "jwt", "private_key", "generic",
)  # fmt: skip
_KEY_FORMATS = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<anthropic>sk-ant-(?:(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,})"
    r"|(?P<openai>sk-(?:proj-|svcacct-|admin-|live_|test_)?[A-Za-z0-9_-]{20,})"
    r"|(?P<aws_access_key_id>(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})"
    r"|(?P<github>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})"
    r"|(?P<slack>xox[abprs]-[A-Za-z0-9-]{10,})"
    r"|(?P<stripe>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,})"
    r"|(?P<google>AIza[0-9A-Za-z_-]{35})"
    r"|(?P<jwt>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    r")(?![\w-])"
    # A PEM block; the body stops at the first "-", so the END line is matched when present
    # and a truncated key (header and body only) is still found.
    r"|(?P<private_key>-----BEGIN [A-Z0-9 ]{0,20}PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s:,]*"
    r"(?:-----END [A-Z0-9 ]{0,20}PRIVATE KEY(?: BLOCK)?-----)?)"
)
_PEM_LINES = re.compile(r"-----[A-Z0-9 ]+-----|\s")
# A quote around a name or value may be escaped, any number of times: JSON kept inside a JSON
# string (tool-call arguments, a logged request body) writes `{\"api_key\": \"...\"}`.
_QUOTE = r"(?:\\*[\"'])?"
_AWS_SECRET = re.compile(
    r"(?i)aws_?secret(?:_?access)?_?key" + _QUOTE + r"\s*[:=]\s*" + _QUOTE
    + r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# `OPENAI_API_KEY=...`, `"client_secret": "..."`: a key-like name (with any prefix words),
# then a value; only a value that looks generated counts (`_looks_random`).
_KEY_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|apikey|x-api-key|secret[_-]?key"
    r"|client[_-]?secret|access[_-]?token|auth[_-]?token|api[_-]?token|private[_-]?key|secret"
    r"|token)(?![A-Za-z0-9])" + _QUOTE + r"\s*[:=]\s*" + _QUOTE
    + r"(?P<value>[A-Za-z0-9_\-./+=]{16,})"
)


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _looks_random(value: str) -> bool:
    """A generated secret mixes letters and digits with high per-character entropy;
    `api_key=YOUR_API_KEY_HERE` or a file path does not."""
    has_letter = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    return has_letter and has_digit and shannon_entropy(value) >= 3.5


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    """One of `SECRET_KINDS`."""
    start: int
    end: int

    def __repr__(self) -> str:
        return f"SecretMatch({self.kind}, {self.start}:{self.end})"


def _secret_candidates(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _KEY_FORMATS.finditer(text):
        kind = m.lastgroup or "generic"
        token = m.group()
        if kind == "openai" and not (any(c.isdigit() for c in token) and any(c.isalpha() for c in token[3:])):
            continue  # "sk-this-is-a-kebab-case-identifier"
        if kind == "private_key" and len(_PEM_LINES.sub("", token)) < 40:
            continue  # a header alone, as in documentation: "-----BEGIN PRIVATE KEY-----"
        yield m.start(), m.end(), kind
    for m in _AWS_SECRET.finditer(text):
        if _looks_random(m.group("value")):
            yield m.start("value"), m.end("value"), "aws_secret_access_key"
    for m in _KEY_ASSIGNMENT.finditer(text):
        value = m.group("value").rstrip(".")
        if _looks_random(value):
            yield m.start("value"), m.start("value") + len(value), "generic"


def find_secrets(text: str, *, kinds: Iterable[str] | None = None) -> list[SecretMatch]:
    """API keys, tokens and private keys in `text`, in order of position, without overlaps.

    A named format wins over a generic assignment covering the same characters
    (`OPENAI_API_KEY=sk-proj-...` is one `openai` secret)."""
    if not text:
        return []
    wanted = set(SECRET_KINDS if kinds is None else kinds)
    unknown = wanted - set(SECRET_KINDS)
    if unknown:
        raise ValueError(f"unknown secret kind(s) {', '.join(sorted(unknown))}; valid: {', '.join(SECRET_KINDS)}")
    taken: list[SecretMatch] = []
    # Named formats first, then the longest: the first claim on a character keeps it.
    ranked = sorted(_secret_candidates(text), key=lambda c: (c[2] == "generic", -(c[1] - c[0]), c[0]))
    for start, end, kind in ranked:
        if all(end <= t.start or start >= t.end for t in taken):
            taken.append(SecretMatch(kind, start, end))
    return sorted((t for t in taken if t.kind in wanted), key=lambda t: t.start)


def may_hold_key(text: str) -> bool:
    """Every alternative of _KEY_ASSIGNMENT holds key, secret or token (any case); every
    one of _KEY_FORMATS one of these literals."""
    lowered = text.lower()
    return (
        "key" in lowered or "secret" in lowered or "token" in lowered
        or "sk-" in text or "AKIA" in text or "ASIA" in text or "ABIA" in text or "ACCA" in text
        or "xox" in text or "AIza" in text or "eyJ" in text or "_live_" in text or "_test_" in text
        or ("gh" in text and "_" in text)  # gh[pousr]_..., github_pat_...
    )  # fmt: skip


# The bulk prefilters (`assay.privacy.pii.pii_candidate_re2`): every text holding a secret
# contains one of these. Broad: the literals of `may_hold_key`, with gh[pousr]_ and
# github_pat_ written out. Narrow: a key-like name only followed by what _KEY_ASSIGNMENT /
# _AWS_SECRET need after it (a separator, then 16 value characters), and the PEM header's
# "PRIVATE KEY". Every request's `params` says `"max_tokens"`: the broad form sends each to
# the detectors.
KEY_CANDIDATE_RE2 = r"(?i:key|secret|token)|sk-|AKIA|ASIA|ABIA|ACCA|xox|AIza|gh[pousr]_|github_pat_|eyJ|_live_|_test_"
KEY_NARROW_RE2 = (
    r"(?i:key|secret|token)" + _QUOTE + r"\s*[:=]\s*" + _QUOTE + r"[A-Za-z0-9_\-./+=]{16}"
    r"|PRIVATE KEY|sk-|AKIA|ASIA|ABIA|ACCA|xox|AIza|gh[pousr]_|github_pat_|eyJ|_live_|_test_"
)
