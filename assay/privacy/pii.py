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


# A run of digits and phone separators; the structure is checked in Python, which is both
# clearer and immune to regex backtracking on long digit strings.
_PHONE = re.compile(
    r"(?<![\w+@/.-])(?P<number>(?:\+|\(\+?)?\d[\d ().-]{6,22}\d)"
    r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?(?![\w@]|[.-]\d)",
    re.IGNORECASE,
)
_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|tracking|ref|reference|account|acct|ticket|case|sku|serial|"
    r"item|po|transaction|confirmation|booking|id)\b\W{0,3}(?:number|no|num|nr|n°)?\.?\s*[:#]?"
    r"|#)\s*$",
    re.IGNORECASE,
)
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")  # SSN-shaped, valid or not: never a phone
_DOTTED_QUAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}\b|^\d{1,2}[-./]\d{1,2}[-./]\d{4}\b")


# A label or verb right before the number ("Phone:", "Fax:", "call me on"): then short
# local numbers ("467 3395", 7-8 digits) and unseparated ones ("9498777106") are phones too.
# Each cue is its first word and the pattern of the rest (the bulk prefilter,
# _PHONE_NARROW_RE2, looks for the first words).
_PHONE_CUES = {
    "phone": "", "tel": "", "telephone": "", "mobile": "", "cell": "", "fax": "",
    "call": "(?: me| us)?(?: on| at)?", "reach": " (?:me|us)(?: on| at)?", "answering": " at",
    "text": " (?:me|us)(?: on| at)?", "whats": " ?app", "dial": "", "ring": " (?:me|us)(?: on| at)?",
}
_PHONE_CUE = re.compile(
    r"\b(?:" + "|".join(word + rest for word, rest in _PHONE_CUES.items()) + ")"
    r"(?:\s?(?:number|no\.?|nr\.?|#))?[\s:.]*$",
    re.IGNORECASE,
)


def _phone_ok(candidate: str, before: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    is_cued = _PHONE_CUE.search(before) is not None
    if not (7 if is_cued else 9) <= len(digits) <= 15:
        return False
    if candidate.count("(") != candidate.count(")") or "  " in candidate:
        return False
    if re.search(r"[ .-]{2,}", candidate.replace(") ", ")").replace(" (", "(")):
        return False
    if _DOTTED_QUAD.match(candidate) or _DATE_LIKE.match(candidate) or _SSN_SHAPE.match(candidate):
        return False
    if is_cued:
        return True
    groups = [g for g in re.split(r"[ ().+-]+", candidate) if g]
    if candidate.startswith(("+", "(+")):
        # An international number may be written without separators: "+14155552671".
        return len(groups) == 1 or all(len(g) <= 5 for g in groups[1:])
    # Without a leading +, separators are what distinguish a phone number from an order
    # number, an amount or an ID: require at least one, and phone-sized groups.
    if len(groups) < 2 or any(len(g) > 5 for g in groups):
        return False
    if len(groups) == 2 and len(digits) < 10:
        return False  # "17151 2450": a ZIP code and a house number, more often than a phone
    return not _PHONE_CONTEXT.search(before)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(text):
        if _phone_ok(m.group("number"), text[max(0, m.start() - 40) : m.start()]):
            yield m.start(), m.end()


_CARD = re.compile(r"(?<![\d-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_prefix_ok(digits: str) -> bool:
    """Issuer prefixes start with 2-6 (Mastercard 2-series, Amex/Diners/JCB, Visa,
    Mastercard/Maestro, Discover/UnionPay), or are 15-digit UATP/JCB numbers starting with 1.
    This drops 13-digit epoch-millisecond timestamps and IDs starting with 0, 7, 8 or 9, of
    which one in ten would otherwise pass Luhn by chance."""
    return digits[0] in "23456" or (digits[0] == "1" and len(digits) == 15)


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        candidate = m.group()
        separators = set(re.sub(r"\d", "", candidate))
        if len(separators) > 1:  # "4111 1111-1111 1111": not how anyone writes a card
            continue
        digits = re.sub(r"\D", "", candidate)
        if len(set(digits)) > 1 and _card_prefix_ok(digits) and luhn_valid(digits):
            yield m.start(), m.end()


# Lengths from the SWIFT IBAN registry; a country code not listed is accepted at 15..34.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")


def iban_valid(compact: str) -> bool:
    iban = compact.upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        # The pattern may run on into the following words ("... 32 to other"): retry without
        # the trailing space-separated chunks until the remainder validates.
        chunks = m.group().split(" ")
        for n in range(len(chunks), 0, -1):
            prefix = " ".join(chunks[:n])
            if prefix not in (prefix.upper(), prefix.lower()):
                continue  # mixed case: words, not an account number
            if iban_valid(prefix.replace(" ", "")):
                yield m.start(), m.start() + len(prefix)
                break


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)")


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for m in _IPV4.finditer(text):
        yield m.start(), m.end()


_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")


def _ssns(text: str) -> Iterator[tuple[int, int]]:
    for m in _SSN.finditer(text):
        yield m.start(), m.end()


def _api_keys(text: str) -> Iterator[tuple[int, int]]:
    for match in find_secrets(text):
        yield match.start, match.end


_DETECTORS: dict[str, Callable[[str], Iterable[tuple[int, int]]]] = {
    "EMAIL": _emails,
    "PHONE": _phones,
    "CREDIT_CARD": _cards,
    "IBAN": _ibans,
    "IP_ADDRESS": _ips,
    "US_SSN": _ssns,
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
_IP_SHAPE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")  # in every _IPV4 match
_PHONE_SHAPE = re.compile(r"\d[\d ().-]{6,22}\d")  # in every _PHONE match
# In every text holding a phone _phone_ok accepts, a card or an SSN: 9 or more digits
# joined by the separators _PHONE allows, or (a cued phone: 7 or more) the first word of a
# cue (_PHONE_CUES) then, with no digit between, 7 digits. Narrower than _PHONE_SHAPE
# ("order 631602 3 weeks ago" does not match) but a third slower for RE2 over a column.
_PHONE_NARROW_RE2 = (
    r"\d(?:[ ().-]*\d){8}"
    r"|(?i:" + "|".join(_PHONE_CUES) + r")\D*\d(?:[ ().-]*\d){6}"
)


# What each detector's matches need in an ASCII text, checked with C-speed str methods (or
# a far simpler pattern): without it the detector cannot yield anything, so skipping it
# changes no result. Most texts (a question, an answer) hold no "@", few digits and no
# dotted quad, and each detector's regex costs ~10 us per text however short. Only for
# ASCII text: in other text `\d` also matches non-ASCII digits and IGNORECASE folds more.
_NEEDS: dict[str, Callable[[str, int], bool]] = {
    "EMAIL": lambda text, digits: "@" in text,
    "PHONE": lambda text, digits: digits >= 7 and _PHONE_SHAPE.search(text) is not None,  # _phone_ok: 7..15 digits
    "CREDIT_CARD": lambda text, digits: digits >= 13,
    "IBAN": lambda text, digits: digits >= 2 and len(text) >= 15,
    "IP_ADDRESS": lambda text, digits: digits >= 4 and text.count(".") >= 3 and _IP_SHAPE.search(text) is not None,
    "US_SSN": lambda text, digits: digits >= 9 and text.count("-") >= 2,
    "API_KEY": lambda text, digits: may_hold_key(text),
    "ADDRESS": lambda text, digits: digits >= 1,  # every address rule needs a number
    "PERSON": lambda text, digits: True,
}


# Per entity type, one RE2 pattern (no lookarounds) that every text holding a match of its
# detector contains: used to skip, in bulk and in C++, the texts of a whole column that
# cannot hold PII (`assay.privacy.redaction`). In an ASCII text: EMAIL needs "@"; PHONE
# _PHONE_SHAPE, which CREDIT_CARD (13+ digits, single separators) and US_SSN (ddd-dd-dddd)
# matches also hold (or, narrower, _PHONE_NARROW_RE2); IP_ADDRESS _IP_SHAPE; IBAN the first
# 15 characters of its pattern, all upper or all lower case (_ibans skips mixed case); API_KEY
# `assay.privacy.secrets.KEY_CANDIDATE_RE2`; ADDRESS and PERSON the literals of their word
# lists (`assay.privacy.freeform.CANDIDATE_RE2`). Any non-ASCII text is a candidate: there
# `\d` and IGNORECASE mean more in Python.
_CANDIDATE_RE2 = {
    "EMAIL": "@",
    "PHONE": _PHONE_SHAPE.pattern,
    "CREDIT_CARD": _PHONE_SHAPE.pattern,
    "US_SSN": _PHONE_SHAPE.pattern,
    "IP_ADDRESS": _IP_SHAPE.pattern,
    "IBAN": r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11}|[a-z]{2}\d{2}(?: ?[a-z0-9]){11}",
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


def find_pii(text: str, *, entities: Iterable[str] | None = None) -> list[PiiMatch]:
    """PII and secrets in `text`, in order of position, without overlaps.

    Where candidates overlap, the longest wins (an email's digits are not also a phone
    number); on equal spans the more specific type wins (SSN over phone).
    """
    if not text:
        return []
    chosen = check_entities(entities)
    if text.isascii():
        digits = sum(map(text.count, _DIGITS))
        chosen = [entity for entity in chosen if _NEEDS[entity](text, digits)]
    candidates = [
        (start, end, entity)
        for entity in chosen
        for start, end in _DETECTORS[entity](text)
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
    for match in find_pii(text, entities=entities):
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

