"""Rule-based detectors for free-form PII: street addresses and person names.

Unlike the validated detectors of `assay.privacy.pii` (Luhn, mod-97, octet ranges), these
are rules over shapes and cue words, so they are opt-in entity types (`ADDRESS`, `PERSON`):
lower precision, and they see only what a rule can find (a name with an honorific, after
"my name is", "Name:", a closing like "Regards,", or a first name from the list below
followed by a capitalised word; an address with a house number and a street word, a unit,
a PO box, a "City, ST 12345" line, or a number-led phrase after a cue like "lives at").

Every pattern is built from the word lists of this module, and so is `CANDIDATE_RE2`: the
literals one of them must contain, used by `assay.privacy.redaction` to skip texts in bulk.
Measured on presidio-research synthetic data by `make bench-detectors` (`bench/detectors.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# --- addresses -------------------------------------------------------------------------------

# Street words that follow the name ("12 Baker Street", "Hauptstraße 5" written apart).
STREET_SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive",
    "Dr", "Court", "Ct", "Place", "Pl", "Way", "Terrace", "Ter", "Parkway", "Pkwy", "Circle", "Cir",
    "Highway", "Hwy", "Square", "Sq", "Trail", "Trl", "Crescent", "Close", "Row", "Walk", "Alley",
    "Plaza", "Loop", "Pike", "Gardens", "Grove", "Mews", "Hill", "Park", "Green", "Rise", "Vale",
    "View", "Ridge", "Heights", "Point", "Crossing", "Center", "Centre", "Commons", "Estates",
    "Expressway", "Freeway", "Junction", "Landing", "Meadows", "Parade", "Quay", "Wharf", "Wynd",
    "Embankment", "Esplanade", "Broadway", "Causeway", "Union", "Squares", "Fort", "Mission",
    "Glens", "Ports", "Harbor", "Harbour", "Route",
)  # fmt: skip
# Street words between the name and the number ("Trenerys gate 232", "Király u. 15.",
# "Brucker Bundesstrasse 31" is an ending).
STREET_MIDDLES = (
    "Straße", "Strasse", "Str.", "Weg", "Gasse", "Platz", "Allee", "Ring", "Damm", "Ufer",
    "Chaussee", "gate", "gata", "gatan", "vei", "vej", "u.", "utca", "út", "útja", "tér", "rkp.", "Street",
    "Road", "Avenue", "Lane",
)  # fmt: skip
# Street words written as the end of one word ("Koskikatu 25", "Søndergade 52").
STREET_ENDINGS = (
    "straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "ring", "damm", "graben",
    "ufer", "katu", "tie", "kuja", "polku", "vej", "vænget", "gade", "gata", "gatan", "vägen",
    "veien", "veg", "straat", "laan", "plein", "gracht", "kade", "utca", "straeti", "braut",
    "hove", "stræde", "torv", "torget", "plads",
)  # fmt: skip
# Street words that come before the name ("Rua do Arenque 1634", "ul. Słowicza 10").
STREET_PREFIXES = (
    "Rua", "Via", "Viale", "Vicolo", "Piazza", "Calle", "Avenida", "Av.", "Avenue", "Rue", "Boulevard",
    "Bd", "Chemin", "Allée", "Place", "Plaza", "Carrer", "Travessa", "Largo", "Praça", "Paseo",
    "Camino", "Ronda", "ul.", "ulica", "al.", "Aleja", "Λεωφόρος", "Οδός", "Λ.",
)  # fmt: skip
UNIT_WORDS = ("Apt", "Apartment", "Suite", "Ste", "Unit", "Flat", "Floor", "Fl", "Room", "Rm")
ADDRESS_CUES = (
    "address", "lives at", "lived at", "lived in", "located at", "resides at", "reside at",
    "is at", "arrived at", "sent to", "send it to", "send a new one to", "ship to", "shipped to",
    "deliver to", "delivered to", "moved to", "meet me at", "meet you at", "drops you off at",
    "adresse", "anschrift", "dirección", "indirizzo",
)  # fmt: skip

_W = r"[^\W\d_]"  # a letter, any script
_CAPW = rf"(?:[A-ZÀ-ÖØ-ÞĀ-ſΑ-Ω]{_W}*\.?)"  # a capitalised word
_WORD = rf"(?:{_W}[\w'’.-]*)"
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4})?"


def _alt(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_SUFFIXED = re.compile(
    rf"(?<![\w.]){_NUM}\s+(?:{_WORD}\s+){{0,4}}?(?:{_alt(STREET_SUFFIXES)})\.?(?![\w])"
)
_ENDING = re.compile(
    rf"(?<![\w])(?P<word>{_W}[\w'’-]*(?:{_alt(STREET_ENDINGS)}))\s+\d{{1,5}}[a-zA-Z]?\b\.?", re.IGNORECASE
)
# English words with a street ending: "During 1971", "Spring 2020", "evening 5".
_NOT_STREET = re.compile(r"(?i)(?:[aeiouy]ring|^[bs]?t?ring|^spring|tie)$")
# A Faker-style block line: "20789 Allika 46" (postcode or number, street name, number).
_LINE_STREET = re.compile(
    rf"(?m:^[ \t>]*(?P<addr>\d{{3,6}}[ \t]+{_CAPW}(?:[ \t]{_CAPW}){{0,2}}[ \t]+\d{{1,5}}[a-zA-Z]?\b\.?))"
)
_ZIP_CUED = re.compile(
    r"(?i:\b(?:zip(?: ?code)?|post(?:al)? ?code|plz)\b)(?:\s+is)?\s*:?\s*(?P<zip>\d{3,6}(?:[- ]\d{2,4})?)\b"
)
# Near a street: a postcode, alone or after a country or town ("Finland 80896").
_POSTCODE = re.compile(r"(?<![\w-])\d{4,6}(?:-\d{3,4})?(?![\w-])")
_PREFIXED = re.compile(
    rf"(?<![\w])(?:{_alt(STREET_PREFIXES)})\s+(?:{_WORD}\s+){{0,4}}?\d{{1,5}}[a-zA-Z]?\b"
)
_MIDDLED = re.compile(
    rf"(?<![\w]){_CAPW}(?:\s{_CAPW}){{0,2}}\s(?:{_alt(STREET_MIDDLES)})\s\d{{1,5}}[a-zA-Z]?\b\.?"
)
_UNIT = re.compile(rf"(?<![\w])(?:{_alt(UNIT_WORDS)})\.?\s?#?\s?\d{{1,5}}[A-Za-z]?\b")
_POBOX = re.compile(
    r"(?<![\w])(?:P\.?\s?O\.?\s?Box|Postfach|Postbox|PSC|Unit)\s+\d{1,6}(?:,?\s+Box\s+\d{1,6})?"
    r"|\b(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}\b"
)
_CITY_STATE_ZIP = re.compile(
    rf"(?<![\w]){_CAPW}(?:[ -]{_CAPW}){{0,3}},\s*[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?\b"
)
_UK_POSTCODE = re.compile(r"(?<![\w])[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}(?![\w])")
_POSTCODE_CITY = re.compile(rf"(?<![\w])\d{{4,5}}[ \t]+{_CAPW}")
_CUE = re.compile(rf"(?i:\b(?:{_alt(ADDRESS_CUES)})\b)(?:\s+is)?\s*:?\s*")
# After a cue: a number-led phrase ("... lives at 5049 Harjukuja 54") up to the end of the
# sentence or of the block, and never a time or an amount.
_CONNECTORS = r"(?:de|do|da|dos|das|del|la|le|di|van|von|der|den|al|el|du|of|the)"
_CUED = re.compile(
    rf"(?:P\.?O\.? Box\s+|ul\.\s+|{_NUM}\s+){_CAPW}(?:[ \t]+(?:{_CAPW}|{_CONNECTORS}|\d{{1,5}}\b\.?))*"
)
_NOT_PLACE = re.compile(r"\d\s*(?:am|pm|a\.m|p\.m|h|min|%|percent|years?|days?|hours?)\b|\d:\d", re.IGNORECASE)


def _joined(spans: list[tuple[int, int]], text: str) -> Iterator[tuple[int, int]]:
    """Adjacent fragments ("41086 Kiannonkatu 98", "Suite 464", "OULU") as one address: gaps
    of commas, spaces, quote marks (">") and single line breaks are bridged, as is a leading
    ZIP code ("86036 Rua do Arenque 1634")."""
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        lead = re.search(r"\d{3,6}\s+$", text[max(0, start - 8) : start])
        if lead:
            start -= len(lead.group())
        if merged and start <= merged[-1][1] + 4 and not text[merged[-1][1] : start].strip(" ,\t\n>"):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        # A final "." ends the sentence unless it ends an abbreviation ("St.", "Rd.").
        if text[end - 1] == "." and not re.search(r"(?<![\w.])[A-Za-z]{1,3}\.$", text[start:end]):
            end -= 1
        yield start, end


def find_addresses(text: str) -> Iterator[tuple[int, int]]:
    spans = [
        (m.start(), m.end())
        for pattern in (_SUFFIXED, _PREFIXED, _MIDDLED, _POBOX, _CITY_STATE_ZIP)
        for m in pattern.finditer(text)
    ]
    spans += [(m.start("addr"), m.end("addr")) for m in _LINE_STREET.finditer(text)]
    spans += [(m.start(), m.end()) for m in _ENDING.finditer(text) if not _NOT_STREET.search(m.group("word"))]
    spans += [(m.start("zip"), m.end("zip")) for m in _ZIP_CUED.finditer(text)]
    for m in _CUE.finditer(text):
        cued = _CUED.match(text, m.end())
        if (
            cued
            and any(c.isdigit() for c in cued.group())
            and not _NOT_PLACE.search(cued.group())
        ):
            spans.append((cued.start(), cued.end()))
    if spans:
        # Units and postcodes alone are too weak; next to a street they are part of it.
        anchors = list(spans)
        for pattern in (_UNIT, _UK_POSTCODE, _POSTCODE_CITY, _POSTCODE):
            for m in pattern.finditer(text):
                if any(0 <= m.start() - e <= 60 or 0 <= s - m.end() <= 10 for s, e in anchors):
                    spans.append((m.start(), m.end()))
    yield from _joined(spans, text)


# --- person names ------------------------------------------------------------------------------

HONORIFICS = (
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Sir", "Dame", "Lady", "Lord",
    "Madam", "Mme", "Mlle", "Herr", "Frau", "Sr", "Sra", "Srta", "Dott", "Rev", "Capt", "Sgt",
)  # fmt: skip
NAME_CUES = ("my name is", "my name's", "name is", "call me", "under the name", "signed")
# Followed by a capitalised word that is often not a name ("I am Canadian", "this is Paris"):
# the name must then be a listed first name or two capitalised words.
WEAK_NAME_CUES = (
    "i am", "i'm", "this is", "it's under", "is under", "married to", "son of", "daughter of",
    "talk to", "speak to", "ask for", "spoke with", "spoke to", "hello", "hi", "dear",
)  # fmt: skip
NAME_FIELDS = (
    "name", "full name", "first name", "last name", "surname", "customer", "patient", "contact",
    "employee", "passenger", "recipient", "sender", "account holder", "cardholder", "attn",
    "author", "signed by", "user", "client", "guest", "beneficiary", "owner",
)  # fmt: skip
CLOSINGS = (
    "regards", "kind regards", "best regards", "warm regards", "best", "best wishes",
    "sincerely", "yours sincerely", "yours truly", "cheers", "thanks", "thank you", "many thanks",
    "respectfully", "cordially", "mit freundlichen grüßen", "cordialement", "saludos",
)  # fmt: skip
# A modest list of common first names across the locales we see (English, German, French,
# Spanish, Portuguese, Italian, Dutch, Nordic, Central/Eastern European). Words that are
# also everyday English capitalised words (Will, May, Mark, Bill, Grace...) are left out.
FIRST_NAMES = frozenset("""
Aaron Abby Adam Adrian Agnes Aidan Alan Albert Alberto Alejandro Aleksandra Alex Alexander
Alexandra Alfred Alice Alicia Alma Amanda Amelia Amy Ana Andrea Andreas Andrew Andrzej Angela
Anita Ann Anna Anne Annette Anthony Antonio Arne Astrid Barbara Beatriz Ben Benjamin Bernd
Bert Berta Beth Betty Birgit Bjorn Björn Bonifacy Brandon Brenda Brian Bruno Bryan Caitlyn
Camila Carl Carla Carlos Carmen Carol Caroline Catherine Cecilia Charles Charlotte Chloe Chris
Christian Christina Christine Christopher Claire Clara Claudia Colin Craig Cynthia Dagmar
Daniel Daniela Danielle David Deborah Dennis Derek Diana Diego Dieter Dominik Donald Dorothy
Edward Elena Eli Elias Elisa Elisabeth Elizabeth Ella Ellen Emil Emilia Emily Emma Eric Erik
Erika Ernst Eva Evelyn Fabian Faina Felix Fernando Filip Florian Frances Francesca Francesco
Francisco Frank Franz Freya Gabriel Gabriela Gary George Georg Gerhard Gina Giovanni Giulia
Giuseppe Gloria Greta Gregory Gustav Hannah Hans Harald Harry Heather Heidi Heinz Helen Helena
Helga Henrik Henry Ingrid Irene Isabel Isabella Ivan Iva Jack Jacob Jakob James Jan Jana Jane
Janet Janka Jason Javier Jean Jeffrey Jennifer Jens Jeremy Jessica Joan Joanna Johan Johann
Johannes John Jonas Jonathan Jorge Jose José Joseph Joshua Josef Jožef Juan Judith Julia Julian
Julie Jürgen Justin Karen Karin Karl Katarina Katarzyna Kate Katherine Kathleen Katrine Kelly
Kenneth Kevin Kim Klaus Krisztián Kristina Kyle Lars Laura Lauren Lea Leah Lena Leon Leonardo
Liam Linda Lisa Louis Louise Luca Lucas Lucia Luis Lukas Magnus Manuel Marco Marcus Margaret
Maria María Marie Marina Mario Marisa Marta Martha Martin Mary Mathias Matej Matteo Matthew
Matthias Max Maximilian Megan Melissa Mette Michael Michał Michelle Miguel Mikael Mikkel Milan
Monika Natalia Natalie Nathan Nicholas Nicola Nicolas Nicole Niels Nikolai Nils Nina Noah Nora
Ola Olaf Olga Oliver Olivia Oscar Pablo Pamela Patricia Patrick Paul Paula Pavel Pedro Peter
Petra Philip Philippe Pierre Piotr Rachel Rafael Ralf Raquel Rebecca Richard Rita Robert
Roberto Rolf Ronald Rosa Ruth Ryan Samantha Samuel Sandra Sara Sarah Sebastian Sergei Sergio
Sharon Sigrid Silvia Simon Simone Sofia Sophia Sophie Stefan Stefanie Stephanie Stephen Steven
Susan Susanne Sven Szabina Tamara Teresa Thomas Timothy Tobias Tomas Tomasz Tomomi Torben Ulrich
Ursula Valentina Vanessa Victor Vincent Walter Werner William Wolfgang Yusuf
Zoe Zofia Zsofia
""".split())

_UPPER = "[A-ZÀ-ÖØ-ÞĀ-ſ]"
_NAME_TOKEN = rf"(?:(?:{_UPPER}{_W}+|{_UPPER}['’]{_UPPER}{_W}+)(?:-{_UPPER}{_W}+)?)"
_INITIAL = r"(?:[A-Z]\.?)"
_FULL_NAME = rf"{_NAME_TOKEN}(?:[ \t](?:{_INITIAL}[ \t])?{_NAME_TOKEN}){{0,2}}"
_HONORIFIC_NAME = re.compile(rf"\b(?:{_alt(HONORIFICS)})\.?\s+(?P<name>{_FULL_NAME})")
_CUED_NAME = re.compile(rf"(?i:\b(?:{_alt(NAME_CUES)}))\s+(?P<name>{_FULL_NAME})")
_WEAK_CUED_NAME = re.compile(rf"(?i:\b(?:{_alt(WEAK_NAME_CUES)}))[ \t]+(?P<name>{_FULL_NAME})")
_FIELD_NAME = re.compile(
    rf"(?im:^[ \t>*-]*(?:{_alt(NAME_FIELDS)})[ \t]*:[ \t]*)(?P<name>{_FULL_NAME})"
)
_CLOSING_NAME = re.compile(rf"(?im:^[ \t>]*(?:{_alt(CLOSINGS)})[ \t]*[,!.]?[ \t]*\n[ \t>]*)(?P<name>{_FULL_NAME})$", re.MULTILINE)
# "Nicole: Remember me" - a speaker label at the start of a line, counted only in a dialogue
# (two or more different labels, one of them a listed first name), never a form label.
_SPEAKER = re.compile(rf"(?m:^[ \t>]*(?P<name>{_NAME_TOKEN}):[ \t]+[^\W\d_])")
_NOT_SPEAKERS = frozenset("""
User Assistant System Bot Agent Human Customer Support Q A Question Answer Note Name Phone Email
Address Title Subject Date Time From To Cc Re Fw Input Output Example Summary Description Status
Step Tip Warning Error Source Reference Location Website Fax Mobile Desk Office Company Role
When Where Who What Why How Which Price Total Amount Type Category Notes Comment Details Message
Reason Result Priority Topic Event Venue Host Team Department Country City State Language
""".split())
# "Tilly Nicholson lives at ...": two capitalised words, then a verb that takes a person.
NAME_VERBS = (
    "lives", "lived", "will be", "is from", "was born", "says", "said", "spent", "explained", "works",
    "worked", "wrote", "called", "emailed", "asked", "told", "replied",
)
"""Verbs after which two capitalised words are taken for a name ("Anna Berg said")."""
_NAME_THEN_VERB = re.compile(
    rf"(?<![\w'’-])(?P<name>{_NAME_TOKEN}(?:[ \t]{_INITIAL})?[ \t]{_NAME_TOKEN})[ \t]+(?:{_alt(NAME_VERBS)})\b"
)
_CAPITALISED = re.compile(rf"(?<![\w'’-]){_NAME_TOKEN}")
_SURNAME = re.compile(rf"(?:[ \t]{_INITIAL})?[ \t]{_NAME_TOKEN}(?:[- ]{_NAME_TOKEN})?")
# Capitalised words that follow a cue without being a name ("I am Happy", "This is Paris").
_NOT_NAMES = frozenset("""
I A An The This That It He She We They You My Your Our Their His Her Not Here There What Who
Sorry Happy Glad Sure Fine Good Great Okay Ok Yes No Just Still Also Very So Now Today Going
Looking Writing Calling Trying Interested Available Ready Done New Back Home Back Monday Tuesday
Wednesday Thursday Friday Saturday Sunday January February March April June July August September
October November December English French German Spanish American British Street Road Avenue
Apt Suite Unit Please Thanks Thank Hello Hi Dear Regards Best Cheers Team Support Customer Service
Inc Ltd LLC Corp Company Bank University Hospital School Hotel
""".split())


def _trim(name: str) -> str:
    """The name without trailing words that are not part of it."""
    words = name.split()
    while words and words[-1].rstrip(".") in _NOT_NAMES:
        words.pop()
    return " ".join(words)


def find_person_names(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_HONORIFIC_NAME, _CUED_NAME, _FIELD_NAME, _CLOSING_NAME, _WEAK_CUED_NAME):
        for m in pattern.finditer(text):
            name = _trim(m.group("name"))
            words = name.split()
            if not words or words[0] in _NOT_NAMES:
                continue
            if pattern is _WEAK_CUED_NAME and len(words) < 2 and words[0] not in FIRST_NAMES:
                continue
            yield m.start("name"), m.start("name") + len(name)
    for m in _NAME_THEN_VERB.finditer(text):
        if not set(m.group("name").split()) & _NOT_NAMES:
            yield m.start("name"), m.end("name")
    speakers = [
        m for m in _SPEAKER.finditer(text)
        if m.group("name")[1:].islower() and m.group("name") not in _NOT_SPEAKERS | _NOT_NAMES
    ]
    labels = {m.group("name") for m in speakers}
    if len(labels) >= 2 and labels & FIRST_NAMES:
        for m in speakers:
            yield m.start("name"), m.end("name")
    # "<FirstName> <Capitalised>", or a listed first name alone: each capitalised word is
    # tried, so "Dear Anna Smith" is found.
    for m in _CAPITALISED.finditer(text):
        if m.group() in FIRST_NAMES:
            rest = _SURNAME.match(text, m.end())
            name = _trim(m.group() + rest.group()) if rest else m.group()
            yield m.start(), m.start() + len(name or m.group())


# --- bulk prefilter ------------------------------------------------------------------------------

def _literals(words: tuple[str, ...] | frozenset[str]) -> str:
    return "|".join(re.escape(w.rstrip(".")) for w in sorted(words, key=len, reverse=True) if w.isascii())


# Each detector's matches contain one of these (ASCII) literals, case-insensitively; a text
# with non-ASCII characters is a candidate anyway (`assay.privacy.pii.PII_CANDIDATE_RE2`).
CANDIDATE_RE2 = {
    # Whole words (each pattern has a boundary there) or, for the endings, parts of words.
    "ADDRESS": r"(?i:\b(?:" + "|".join((
        _literals(STREET_SUFFIXES), _literals(STREET_PREFIXES), _literals(STREET_MIDDLES),
        r"box|postfach|postbox|psc|unit|apo|fpo|dpo|zip|post ?code|postal ?code|plz", _literals(ADDRESS_CUES),
    )) + ")|" + _literals(STREET_ENDINGS) + r"|,\s*[a-z]{2}\s+\d{5}|\d{3,6}[ \t]+[a-z])",
    "PERSON": r"(?i:\b(?:" + "|".join((
        _literals(HONORIFICS), _literals(NAME_CUES), _literals(WEAK_NAME_CUES), _literals(NAME_FIELDS),
        _literals(CLOSINGS), _literals(FIRST_NAMES), _literals(NAME_VERBS),
    )) + "))",
}
