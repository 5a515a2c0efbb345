"""Structured PII by the rules of each format: phone numbers, payment cards, IP addresses,
IBANs and US social security numbers.

Pure functions, strings in and `(start, end)` spans out, importing nothing else of assay:
`assay.privacy.pii.find_pii` takes its PHONE, CREDIT_CARD, IBAN, IP_ADDRESS and US_SSN
detectors from here, and both the `pii` evaluator and redaction at ingest
(`assay.privacy.redaction`) call `find_pii`, so what the evaluator finds is what redaction
removes.

Each format is checked by its own rules rather than by its shape alone:

- phones: a run of digits and separators, its grouping checked here (cued by a word such as
  "Phone:" or not), then parsed by Google's libphonenumber (`phonenumbers`) for the regions
  given (default `DEFAULT_PHONE_REGIONS`): it must be a possible number in one of them;
  a bare run of digits with no separator must be a *valid* one;
- cards: 12-19 digits, the Luhn checksum, and an issuer range whose lengths include that
  length (`CARD_ISSUERS`);
- IPv4 and IPv6: `ipaddress` parses every candidate;
- IBAN: the country's length from the SWIFT registry and the mod-97 checksum;
- US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000.

Measured on presidio-research synthetic sentences by `make bench-detectors`
(docs/evaluators.md, "What the offline detectors are worth").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

import phonenumbers

DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "IE", "FR", "DE", "AT", "CH", "NL", "BE", "LU", "ES", "PT", "IT", "GR",
    "SE", "NO", "DK", "FI", "IS", "PL", "CZ", "SK", "HU", "RO", "BG", "HR", "SI", "EE", "LV",
    "LT", "UA", "RU", "TR", "IL", "AE", "SA", "EG", "ZA", "NG", "KE", "MA", "IN", "PK", "BD",
    "CN", "HK", "TW", "JP", "KR", "SG", "MY", "TH", "VN", "PH", "ID", "AU", "NZ", "MX", "BR",
    "AR", "CL", "CO", "PE",
)  # fmt: skip
"""Regions a national-format number (no leading +) is tried in: Europe, the Americas, Asia,
Oceania and the largest African markets. A config narrows it (`phone_regions`)."""

Span = tuple[int, int]


def check_phone_regions(regions: Iterable[str]) -> tuple[str, ...]:
    """The regions upper-cased, or ValueError naming the unknown ones."""
    chosen = tuple(str(r).upper() for r in regions)
    unknown = [r for r in chosen if r not in phonenumbers.SUPPORTED_REGIONS]
    if unknown or not chosen:
        raise ValueError(
            f"unknown phone region(s) {', '.join(unknown) or '(none given)'}; valid: two-letter ISO "
            f"3166 region codes libphonenumber knows, such as {', '.join(DEFAULT_PHONE_REGIONS[:6])}"
        )
    return chosen


# --- phones --------------------------------------------------------------------------------

# A run of digits and phone separators; the grouping is checked in Python, which is clearer
# than one regex and immune to backtracking on long digit strings.
_PHONE = re.compile(
    r"(?<![\w+@/.:-])(?P<number>(?:\+|\(\+?)?\d[\d ().-]{5,22}\d)"
    r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?(?![\w@]|[.:-]\d)",
    re.IGNORECASE,
)
# Before a number: an order, invoice or ticket number is not a phone however it is written.
_NOT_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|tracking|ref|reference|account|acct|ticket|case|sku|serial|"
    r"item|po|transaction|confirmation|booking|id|part|model|version|isbn|zip|postcode|postal"
    r"|pin|room|page|pages|chapter|between|range|card|cc|iban|ssn|amount|total|price|usd|eur"
    r"|gbp)\b\W{0,3}(?:number|no|num|nr|n°)?\.?\s*[:#]?|#)\s*$",
    re.IGNORECASE,
)
# A label or verb right before the number ("Phone:", "Fax:", "call me on"): then any
# 7-15 digits are a phone, however written.
_PHONE_CUES = {
    "phone": "", "tel": "", "telephone": "", "mobile": "", "cell": "", "fax": "", "desk": "",
    "landline": "", "hotline": "", "contact": "", "home": "", "work": "", "office": "",
    "call": "(?: me| us| them| him| her)?(?: back)?(?: on| at)?",
    "reach": " (?:me|us|them|him|her)(?: on| at)?", "answering": " at",
    "text": " (?:me|us)(?: on| at)?", "whats": " ?app", "dial": "",
    "ring": " (?:me|us)(?: on| at)?", "sms": "", "messages to": "", "number": "",
}  # fmt: skip
_PHONE_CUE = re.compile(
    r"\b(?:" + "|".join(word + rest for word, rest in _PHONE_CUES.items()) + ")"
    r"(?:\s?(?:number|no\.?|nr\.?|#|\((?:home|work|mobile|cell)\)))?[\s:.]*$",
    re.IGNORECASE,
)
# A line label right before the number ("Emergency contact: 9498777106"): the number may be
# written without separators, and then it must be a valid number in a region.
_LABEL = re.compile(r"(?:^|\n)[^\S\n]*[A-Za-z][A-Za-z ()'/-]{0,30}:[^\S\n]*$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")  # SSN-shaped, valid or not: never a phone
_DOTTED_QUAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_DATE_LIKE = re.compile(
    r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}\b|^\d{1,2}[-./]\d{1,2}[-./]\d{4}\b"
    r"|^(?:19|20)\d\d (?:0?[1-9]|1[0-2]) \d{1,2}\b|^\d{1,2} (?:0?[1-9]|1[0-2]) (?:19|20)\d\d\b"
)
# After a short number, a capitalised word: a house number and a street ("704 1436 Redbird
# Lane"), not a phone.
_STREET_AFTER = re.compile(r"^,? [A-Z][a-z]")
_GROUPS = re.compile(r"[ ().+-]+")


@lru_cache(maxsize=4096)
def _possible_in(digits: str, regions: tuple[str, ...], *, valid: bool) -> bool:
    """Whether libphonenumber takes `digits` (national form) as a possible (or, with
    `valid`, a valid) number of one of `regions`."""
    for region in regions:
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) if valid else phonenumbers.is_possible_number(number):
            return True
    return False


def _international_ok(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


def _grouping_ok(candidate: str, groups: list[str], digits: str) -> bool:
    """Separated national formats that people write phone numbers in, without a cue word."""
    sizes = [len(g) for g in groups]
    if len(groups) >= 3:
        # "(415) 555-2671", "0490 75 40 81", "60-56-85-91", "699 956 915", "21 284 698 2548":
        # every group phone-sized, the number long enough not to be a date or a score.
        return all(s <= 5 for s in sizes) and len(digits) >= 8 and min(sizes[1:]) >= 2
    first, second = groups
    if len(digits) >= 10 and max(sizes) <= 5:
        return True  # "02079 460958"
    if len(first) == 3 and len(second) == 4 and first[0] in "23456789":
        return True  # a short local number: "467 3395", "555-1234"
    if first.startswith("0") and 2 <= len(first) <= 5 and 5 <= len(second) <= 8 and len(digits) >= 9:
        return True  # trunk prefix, area code, dash, number: "089-12345678", "0909 123456"
    if len(first) == 3 and len(second) == 7 and first[0] in "23456789":
        return True  # area code and number joined by a dash: "415-5552671"
    return False


def _phone_ok(candidate: str, before: str, after: str, regions: tuple[str, ...]) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15:
        return False
    if candidate.count("(") != candidate.count(")") or "  " in candidate:
        return False
    if re.search(r"[ .-]{2,}", candidate.replace(") ", ")").replace(" (", "(")):
        return False
    if _DOTTED_QUAD.match(candidate) or _DATE_LIKE.match(candidate) or _SSN_SHAPE.match(candidate):
        return False
    if len(set(digits)) == 1:
        return False  # "0000000", a filler
    if candidate.startswith(("+", "(+")):
        return _international_ok(candidate)
    if _PHONE_CUE.search(before):
        return True
    if _NOT_PHONE_CONTEXT.search(before):
        return False
    groups = [g for g in _GROUPS.split(candidate) if g]
    if len(groups) == 1:
        # No separator: an order number, an amount or an id, unless a line label names it and
        # the number is a valid one: "Emergency contact: 9498777106".
        return (
            10 <= len(digits) <= 12
            and _LABEL.search(before) is not None
            and _possible_in(digits, regions, valid=True)
        )
    if not _grouping_ok(candidate, groups, digits):
        return False
    if len(digits) <= 8 and _STREET_AFTER.match(after):
        return False
    return _possible_in(digits, regions, valid=False)


def find_phones(text: str, regions: Iterable[str] | None = None) -> Iterator[Span]:
    """Phone numbers in `text`: international (+...), national formats of `regions`, with
    or without a cue word before them."""
    chosen = tuple(regions) if regions is not None else DEFAULT_PHONE_REGIONS
    for m in _PHONE.finditer(text):
        before, after = text[max(0, m.start() - 40) : m.start()], text[m.end() : m.end() + 3]
        if _phone_ok(m.group("number"), before, after, chosen):
            yield m.start(), m.end()


# --- payment cards -------------------------------------------------------------------------

CARD_ISSUERS: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    # (network, prefix ranges (inclusive, compared on as many leading digits), lengths)
    ("visa", ((4, 4),), (13, 16, 19)),
    ("mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("amex", ((34, 34), (37, 37)), (15,)),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    ("discover", ((6011, 6011), (644, 649), (65, 65)), (16, 17, 18, 19)),
    ("jcb", ((3528, 3589),), (16, 17, 18, 19)),
    ("jcb15", ((1800, 1800), (2131, 2131)), (15,)),
    ("unionpay", ((62, 62), (81, 81)), (16, 17, 18, 19)),
    ("maestro", ((50, 50), (56, 69)), (12, 13, 14, 15, 16, 17, 18, 19)),
    ("mir", ((2200, 2204),), (16, 17, 18, 19)),
    ("uatp", ((1, 1),), (15,)),
    ("troy", ((9792, 9792),), (16,)),
)
"""Issuer identification ranges and the lengths each issues (ISO/IEC 7812 as published by
the networks). A number outside every range is not claimed: epoch-millisecond timestamps and
ids starting with 0, 7, 8 or 9 pass Luhn one time in ten."""

_CARD = re.compile(r"(?<![\d-])(?<!\d[ -])\d(?:[ -]?\d){11,18}(?![ -]?\d)")


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


def card_issuer(digits: str) -> str | None:
    """The network whose range and lengths take `digits`, or None."""
    for network, ranges, lengths in CARD_ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return network
    return None


def card_valid(digits: str) -> bool:
    return (
        12 <= len(digits) <= 19
        and len(set(digits)) > 1
        and card_issuer(digits) is not None
        and luhn_valid(digits)
    )


def find_cards(text: str) -> Iterator[Span]:
    """Card numbers, 12-19 digits, plain or in groups joined by one kind of separator."""
    for m in _CARD.finditer(text):
        candidate = m.group()
        if len(set(re.sub(r"\d", "", candidate))) > 1:  # "4111 1111-1111 1111": not a card
            continue
        if card_valid(re.sub(r"\D", "", candidate)):
            yield m.start(), m.end()


# --- IP addresses --------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)")
# Hex groups and colons (an IPv4 tail allowed, a zone id "%eth0" too); ipaddress decides.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?(?![\w:])"
)


def find_ips(text: str) -> Iterator[Span]:
    """IPv4 (dotted quad, octets in range) and IPv6 addresses (any notation `ipaddress`
    parses, with at least two groups and a digit: "::" or "dead::beef" alone are not)."""
    for m in _IPV4.finditer(text):
        yield m.start(), m.end()
    if text.count(":") < 2:
        return
    for m in _IPV6.finditer(text):
        candidate = m.group().split("%")[0]
        groups = [g for g in re.split(r"[:.]", candidate) if g]
        if len(groups) < 2 or not any(c.isdigit() for c in candidate):
            continue
        if "::" not in candidate and candidate.count(":") < 7 and "." not in candidate:
            continue  # "10:30:45", a MAC address: fewer than 8 groups and no "::"
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield m.start(), m.end()


# --- IBAN ----------------------------------------------------------------------------------

IBAN_LENGTHS = {
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
"""Lengths from the SWIFT IBAN registry; a country code not listed is accepted at 15..34."""
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")


def iban_valid(compact: str) -> bool:
    iban = compact.upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    number = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(number) % 97 == 1


def find_ibans(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        # The pattern may run on into the following words ("... 32 to other"): retry without
        # the trailing separated chunks until the remainder validates.
        chunks = re.split(r"(?<=[A-Za-z0-9])(?=[ -])", m.group())
        for n in range(len(chunks), 0, -1):
            prefix = "".join(chunks[:n])
            if prefix not in (prefix.upper(), prefix.lower()):
                continue  # mixed case: words, not an account number
            if iban_valid(re.sub(r"[ -]", "", prefix)):
                yield m.start(), m.start() + len(prefix)
                break


# --- US SSN --------------------------------------------------------------------------------

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
# Spaced or unseparated, an SSN is claimed only after the word: "SSN: 123 45 6789".
_SSN_CUED = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?)?)\b\W{0,4}(?:is\s+)?"
    r"(?P<number>(?!000|666|9\d\d)\d{3}( ?)(?!00)\d{2}\2(?!0000)\d{4})(?![\d-])",
    re.IGNORECASE,
)


def find_ssns(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        yield m.start(), m.end()
    for m in _SSN_CUED.finditer(text):
        if "-" not in m.group("number"):
            yield m.start("number"), m.end("number")


# --- prefilters ----------------------------------------------------------------------------

# What a text needs for each detector to find anything, as RE2 patterns (no lookarounds) for
# the bulk prefilter of a whole column (`assay.privacy.redaction`): PHONE, CREDIT_CARD and US_SSN 7
# digits joined by phone separators (the shortest phone; a card has 12, an SSN 9); IP_ADDRESS
# a dotted quad's middle or two colons with 0-4 hex digits between them (every IPv6 address).
DIGIT_RUN_RE2 = r"\d(?:[ ().-]*\d){6}"
PHONE_SHAPE = re.compile(r"\d[\d ().-]{5,22}\d")  # in every _PHONE match
IP_RE2 = r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"


def may_hold_ip(text: str, digits: int) -> bool:
    return (digits >= 4 and text.count(".") >= 3) or text.count(":") >= 2


DETECTORS = {
    "PHONE": find_phones,
    "CREDIT_CARD": find_cards,
    "IBAN": find_ibans,
    "IP_ADDRESS": find_ips,
    "US_SSN": find_ssns,
}
"""Entity type -> detector (text -> spans)."""
