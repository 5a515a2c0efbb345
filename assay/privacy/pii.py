"""PII detection and redaction: the validated detectors, `find_pii` and `redact`.

The detector is pattern-based and validated (Luhn for cards, mod-97 for IBANs, octet ranges
for IPs, SSA rules for SSNs, entropy for generic keys): it trades recall on free-form
formats for precision and speed, so it can run on every call and before anything is sent
to a judge provider. Names and street addresses (`ADDRESS`, `PERSON`) are rule-based
(`assay.privacy.freeform`) and opt-in; secrets (`API_KEY`) come from `assay.privacy.secrets`.
Core infrastructure: ingest redaction, the instrument, the LLM transport and the `pii`
evaluator all use it (docs/architecture.md, "Privacy").

What it finds is personal data: an explanation or a log line names entity types and
counts, never the matched text.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from assay.privacy import structured
from assay.privacy.freeform import CANDIDATE_RE2 as FREEFORM_CANDIDATE_RE2
from assay.privacy.freeform import find_addresses, find_person_names
from assay.privacy.secrets import KEY_CANDIDATE_RE2, KEY_NARROW_RE2, find_secrets, may_hold_key

DEFAULT_ENTITY_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "IP_ADDRESS",
    "US_SSN",
    "API_KEY",
)
"""The validated types: what `find_pii`, `redact`, ingest redaction and the `pii` evaluator
look for unless told otherwise."""
ENTITY_TYPES: tuple[str, ...] = (*DEFAULT_ENTITY_TYPES, "ADDRESS", "PERSON")
"""Every type; ADDRESS and PERSON are rule-based (`assay.privacy.freeform`), lower in
precision, and opt-in: name them in `entities`."""

# When two candidate matches cover exactly the same span, the more specific type wins
# ("123-45-6789" is both SSN- and phone-shaped; a spaced 15-digit card is phone-shaped).
_PRIORITY = {
    "API_KEY": 0,
    "CREDIT_CARD": 1,
    "IBAN": 2,
    "US_SSN": 3,
    "EMAIL": 4,
    "IP_ADDRESS": 5,
    "PHONE": 6,
    "ADDRESS": 7,
    "PERSON": 8,
}


@dataclass(frozen=True)
class PiiMatch:
    entity_type: str
    start: int
    end: int
    text: str

    def __repr__(self) -> str:
        # Keep the value out of reprs that end up in tracebacks and logs.
        return f"PiiMatch({self.entity_type}, {self.start}:{self.end})"


# --- detectors -----------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.start(), m.end()


def _api_keys(text: str) -> Iterator[tuple[int, int]]:
    for match in find_secrets(text):
        yield match.start, match.end


_DETECTORS: dict[str, Callable[[str], Iterable[tuple[int, int]]]] = {
    "EMAIL": _emails,
    **structured.DETECTORS,  # PHONE, CREDIT_CARD, IBAN, IP_ADDRESS, US_SSN: by each format's rules
    "API_KEY": _api_keys,
    "ADDRESS": find_addresses,
    "PERSON": find_person_names,
}


def check_entities(entities: Iterable[str] | None) -> tuple[str, ...]:
    if entities is None:
        return DEFAULT_ENTITY_TYPES
    chosen = tuple(entities)
    unknown = [e for e in chosen if e not in ENTITY_TYPES]
    if unknown:
        raise ValueError(
            f"unknown PII entity type(s) {', '.join(unknown)}; valid: {', '.join(ENTITY_TYPES)}"
        )
    return chosen


_DIGITS = "0123456789"
_PHONE_SHAPE = structured.PHONE_SHAPE  # in every phone, card and SSN match
_PHONE_NARROW_RE2 = structured.DIGIT_RUN_RE2  # 7 digits joined by phone separators: the shortest phone


# What each detector's matches need in an ASCII text, checked with C-speed str methods (or
# a far simpler pattern): without it the detector cannot yield anything, so skipping it
# changes no result. Most texts (a question, an answer) hold no "@", few digits and no
# dotted quad, and each detector's regex costs ~10 us per text however short. Only for
# ASCII text: in other text `\d` also matches non-ASCII digits and IGNORECASE folds more.
_NEEDS: dict[str, Callable[[str, int], bool]] = {
    "EMAIL": lambda text, digits: "@" in text,
    "PHONE": lambda text, digits: digits >= 7 and _PHONE_SHAPE.search(text) is not None,  # 7..15 digits
    "CREDIT_CARD": lambda text, digits: digits >= 12,
    "IBAN": lambda text, digits: digits >= 2 and len(text) >= 15,
    "IP_ADDRESS": structured.may_hold_ip,
    "US_SSN": lambda text, digits: digits >= 9,
    "API_KEY": lambda text, digits: may_hold_key(text),
    "ADDRESS": lambda text, digits: digits >= 1,  # every address rule needs a number
    "PERSON": lambda text, digits: True,
}


# Per entity type, one RE2 pattern (no lookarounds) that every text holding a match of its
# detector contains: used to skip, in bulk and in C++, the texts of a whole column that
# cannot hold PII (`assay.privacy.redaction`). In an ASCII text: EMAIL needs "@"; PHONE
# _PHONE_SHAPE, which CREDIT_CARD (12+ digits, single separators) and US_SSN (9 digits)
# matches also hold (or, narrower, _PHONE_NARROW_RE2); IP_ADDRESS structured.IP_RE2; IBAN the first
# 15 characters of its pattern, all upper or all lower case (_ibans skips mixed case); API_KEY
# `assay.privacy.secrets.KEY_CANDIDATE_RE2`; ADDRESS and PERSON the literals of their word
# lists (`assay.privacy.freeform.CANDIDATE_RE2`). Any non-ASCII text is a candidate: there
# `\d` and IGNORECASE mean more in Python.
_CANDIDATE_RE2 = {
    "EMAIL": "@",
    "PHONE": _PHONE_SHAPE.pattern,
    "CREDIT_CARD": _PHONE_SHAPE.pattern,
    "US_SSN": _PHONE_SHAPE.pattern,
    "IP_ADDRESS": structured.IP_RE2,
    "IBAN": r"[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11}|[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){11}",
    "API_KEY": KEY_CANDIDATE_RE2,
    **FREEFORM_CANDIDATE_RE2,
}


_NARROW_CANDIDATE_RE2 = _CANDIDATE_RE2 | dict.fromkeys(("PHONE", "CREDIT_CARD", "US_SSN"), _PHONE_NARROW_RE2) | {
    "API_KEY": KEY_NARROW_RE2
}


def pii_candidate_re2(entities: Iterable[str] | None = None, *, narrow: bool = False) -> str:
    """The RE2 prefilter for these entity types (default: `DEFAULT_ENTITY_TYPES`). The
    `narrow` one skips more texts but costs more a byte: run it over the candidates of the
    first, before the detectors."""
    patterns = _NARROW_CANDIDATE_RE2 if narrow else _CANDIDATE_RE2
    parts = dict.fromkeys(patterns[e] for e in check_entities(entities))
    return "|".join((*parts, r"[^\x00-\x7f]"))


PII_CANDIDATE_RE2 = pii_candidate_re2()


def find_pii(
    text: str, *, entities: Iterable[str] | None = None, phone_regions: Iterable[str] | None = None
) -> list[PiiMatch]:
    """PII and secrets in `text`, in order of position, without overlaps. `phone_regions`:
    where national-format phone numbers are checked (default
    `assay.privacy.structured.DEFAULT_PHONE_REGIONS`; international ones count whatever it says).

    Where candidates overlap, the longest wins (an email's digits are not also a phone
    number); on equal spans the more specific type wins (SSN over phone).
    """
    if not text:
        return []
    chosen = check_entities(entities)
    if text.isascii():
        digits = sum(map(text.count, _DIGITS))
        chosen = [entity for entity in chosen if _NEEDS[entity](text, digits)]
    detectors = _DETECTORS
    if phone_regions is not None:
        regions = tuple(phone_regions)
        detectors = _DETECTORS | {"PHONE": lambda t: structured.find_phones(t, regions)}
    candidates = [
        (start, end, entity)
        for entity in chosen
        for start, end in detectors[entity](text)
    ]
    candidates.sort(key=lambda c: (-(c[1] - c[0]), _PRIORITY[c[2]], c[0]))
    taken: list[tuple[int, int, str]] = []  # kept sorted by start, never overlapping
    for start, end, entity in candidates:
        i = bisect.bisect_left(taken, (start,))
        if (i == 0 or taken[i - 1][1] <= start) and (i == len(taken) or taken[i][0] >= end):
            taken.insert(i, (start, end, entity))
    return [PiiMatch(entity, start, end, text[start:end]) for start, end, entity in taken]


def redact(
    text: str,
    *,
    mode: Literal["mask", "hash"] = "mask",
    entities: Iterable[str] | None = None,
    phone_regions: Iterable[str] | None = None,
) -> str:
    """`text` with each PII match replaced by `[EMAIL]`, `[PHONE]`, ...

    `mode="hash"` writes `[EMAIL:1a2b3c4d]` (a salted-free SHA-256 prefix) so that the same
    value can be correlated across records; it is not anonymisation: a phone number's hash
    can be brute-forced.
    """
    if mode not in ("mask", "hash"):
        raise ValueError(f"redact: unknown mode {mode!r}; valid: mask, hash")
    if not text:
        return text
    parts: list[str] = []
    cursor = 0
    for match in find_pii(text, entities=entities, phone_regions=phone_regions):
        parts.append(text[cursor : match.start])
        if mode == "mask":
            parts.append(f"[{match.entity_type}]")
        else:
            digest = hashlib.sha256(match.text.encode("utf-8")).hexdigest()[:8]
            parts.append(f"[{match.entity_type}:{digest}]")
        cursor = match.end
    parts.append(text[cursor:])
    return "".join(parts)


def normalise_pii_value(entity_type: str, value: str) -> str:
    """The form allow-lists compare in: addresses case-folded, numbers without separators."""
    value = value.strip().casefold()
    if entity_type == "EMAIL":
        return value
    return re.sub(r"[\s().-]", "", value)

