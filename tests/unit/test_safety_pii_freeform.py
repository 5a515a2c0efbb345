"""ADDRESS and PERSON: opt-in rule-based types, their spans, and the bulk prefilter."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from assay.evaluators.registry import build_evaluator

from assay.privacy.pii import (
    DEFAULT_ENTITY_TYPES,
    ENTITY_TYPES,
    PII_CANDIDATE_RE2,
    find_pii,
    pii_candidate_re2,
)
from assay.privacy.redaction import Redactor

HANG_GUARD_S = 120
"""Fails a detector that never ends (never a timing assertion)."""


def found(text: str, entity: str) -> list[str]:
    return [m.text for m in find_pii(text, entities=[entity])]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Ship it to 742 Evergreen Terrace, Springfield, IL 62704 please.", "742 Evergreen Terrace, Springfield, IL 62704"),
        ("Office: 10 Downing Street today", "10 Downing Street"),
        ("Wir wohnen in der Hauptstraße 5 in Berlin.", "Hauptstraße 5"),
        ("Send mail to Lindenweg 12a.", "Lindenweg 12a"),
        ("Billing address: Sara Schwarz\n    28245 Puruntie 82 Apt. 595\n", "28245 Puruntie 82 Apt. 595"),
        ("She lives at 86036 Rua do Arenque 1634 now", "86036 Rua do Arenque 1634"),
        ("Write to P.O. Box 149, thanks", "P.O. Box 149"),
        ("PSC 0413, Box 8144\nAPO AA 42323", "PSC 0413, Box 8144\nAPO AA 42323"),
        ("my zip code is 35350", "35350"),
    ],
)
def test_address_shapes(text, address):
    assert address in found(text, "ADDRESS")


@pytest.mark.parametrize(
    "text",
    [
        "During 1971, the company grew.",
        "The meeting is at 5 pm in room 4.",
        "Spring 2020 was odd; we sold 300 units.",
        "Chapter 12 covers 3 topics.",
        "I moved to 2 new teams in 2023",
    ],
)
def test_not_addresses(text):
    assert found(text, "ADDRESS") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Please ask Dr. Cettina Fanucci about it.", "Cettina Fanucci"),
        ("Hi, my name is Rubija.", "Rubija"),
        ("Name: Jožef Albin\nPhone: 555", "Jožef Albin"),
        ("Thanks for the help.\n\nKind regards,\nPeter Parker", "Peter Parker"),
        ("Dear Anna Smith, your order shipped.", "Anna Smith"),
        ("Mr. John O'Neil called.", "John O'Neil"),
        ("Tilly Nicholson lives at 10252 Oak Street", "Tilly Nicholson"),
        ("I'm Naomi Ryan", "Naomi Ryan"),
    ],
)
def test_person_shapes(text, name):
    assert name in found(text, "PERSON")


@pytest.mark.parametrize(
    "text",
    [
        "I am Canadian and this is Paris.",
        "Phrase: X\nOutput: done\nPhrase: Y",
        "When: 2000-04-16\nWhere: Upton",
        "The Customer Service team will reply.",
        "Hello World",
    ],
)
def test_not_person_names(text):
    assert found(text, "PERSON") == []


def test_new_types_are_opt_in():
    text = "Dear Anna Smith, we ship to 742 Evergreen Terrace."
    assert find_pii(text) == []
    assert [m.entity_type for m in find_pii(text, entities=ENTITY_TYPES)] == ["PERSON", "ADDRESS"]
    assert set(ENTITY_TYPES) - set(DEFAULT_ENTITY_TYPES) == {"ADDRESS", "PERSON"}


def test_pii_evaluator_reports_address_and_person_spans_only():
    evaluator = build_evaluator("pii", "pii", {"entities": ["PERSON", "ADDRESS", "EMAIL"]})
    output = "Dear Anna Smith, we ship to 742 Evergreen Terrace."
    [score] = evaluator.evaluate({"subject_id": "s", "output_text": output})
    assert score.passed is False and score.failure_category == "pii_leak"
    assert score.details == {"entities": [{"type": "PERSON", "start": 5, "end": 15}, {"type": "ADDRESS", "start": 28, "end": 49}]}
    assert "Anna" not in score.model_dump_json() and "Evergreen" not in score.model_dump_json()


def test_redactor_with_new_types_uses_their_prefilter():
    table = pa.table({name: pa.array([None, None], pa.string()) for name in (
        "input_text", "output_text", "messages", "context", "tool_calls", "expected_output",
        "feedback_comment", "error_message", "metadata")})
    table = table.set_column(1, "output_text", pa.array(["Dear Anna Smith, hello", "nothing here"]))
    redacted, totals = Redactor(entities=["PERSON"]).calls(table)
    assert redacted.column("output_text").to_pylist() == ["Dear [PERSON], hello", "nothing here"]
    assert totals == {"PERSON": 1}
    assert pii_candidate_re2() == PII_CANDIDATE_RE2


def _freeform_text(rng: random.Random) -> str:
    words = ["Anna", "Smith", "Street", "Rd", "Apt", "at", "lives", "my name is", "Dr.", "Regards,\n",
             "Name:", "Hauptstraße", "Koskikatu", "Rua", "ul.", "Box", "P.O.", "PSC", "zip", ",", "IL",
             "Evergreen", "Terrace", "Mr", "Kevin", "\n", "o'neil", "Nicole:", "John:", "hello", "42",
             "62704", "12a", "Lane", "Suite", "5", "I'm", "Ola", "Ubul", "vej", "gate", "u.", "tér", "é",
             "Mohmad", "Vizirov", "R.", "said", "will be", "explained"]  # names no list holds, then a verb
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 10)))


def test_the_prefilter_for_every_type_never_skips_a_text_holding_pii():
    rng = random.Random(11)
    # A name no list holds, found by the verb after it.
    named = ["Mohmad R. Vizirov will be talking in the conference", "Then Ubul Vizirov explained why"]
    assert all(find_pii(text, entities=["PERSON"]) for text in named)
    texts = named + [_freeform_text(rng) for _ in range(3_000)] + ["nothing to see", "42 apples"]
    candidate = pc.match_substring_regex(pa.array(texts), pii_candidate_re2(ENTITY_TYPES)).to_pylist()
    holding = [i for i, text in enumerate(texts) if find_pii(text, entities=ENTITY_TYPES)]
    assert len(holding) > 600
    assert [texts[i] for i in holding if not candidate[i]] == []
    assert candidate[-2] is False


@pytest.mark.parametrize("text", ["A" * 80_000, "-----BEGIN PRIVATE KEY-----" + "Ab" * 40_000, "Aa " * 28_000])
def test_long_pathological_texts_end(text):
    """A guard against catastrophic backtracking, not a speed target (bench/detectors.py
    measures speed): at 20,000 characters PERSON took 10-15 s before its lookbehind and grew
    with the square of the length, so these texts four times as long would take minutes; the
    linear patterns take about a second. The limit only stops a hang."""
    import threading

    from assay.detectors.injection import find_injection_signals
    from assay.detectors.toxicity import find_toxicity

    found = {}

    def detect() -> None:
        found["pii"] = find_pii(text, entities=ENTITY_TYPES)
        find_injection_signals(text)
        find_toxicity(text)

    worker = threading.Thread(target=detect, daemon=True)  # a hung one does not hold pytest's exit
    worker.start()
    worker.join(HANG_GUARD_S)
    assert "pii" in found and not worker.is_alive(), f"the detectors never ended on {text[:30]!r}..."
