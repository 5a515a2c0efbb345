from __future__ import annotations

import pytest
from assay.evaluators.safety import PiiLeak, Refusal

from assay.privacy import find_pii, iban_valid, luhn_valid, redact
from tests.unit.fake_secrets import AWS_KEY_ID, GENERIC, GITHUB, OPENAI, OPENAI_LEGACY, SLACK


def types_in(text):
    return [m.entity_type for m in find_pii(text)]


def score_of(evaluator, output_text):
    [score] = evaluator.evaluate({"subject_id": "c1", "output_text": output_text})
    return score


# --- detector ------------------------------------------------------------------------------


def test_email_span_excludes_trailing_punctuation():
    [match] = find_pii("Write to jane.doe+orders@mail.example.co.uk.")
    assert match.entity_type == "EMAIL"
    assert match.text == "jane.doe+orders@mail.example.co.uk"


@pytest.mark.parametrize(
    "phone",
    [
        "+1 (415) 555-2671",
        "+14155552671",
        "415-555-2671",
        "(415) 555 2671",
        "020 7946 0958",
        "+44 20 7946 0958",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "0151.234.56789",
    ],
)
def test_phone_formats(phone):
    [match] = find_pii(f"Call me on {phone} tomorrow")
    assert (match.entity_type, match.text) == ("PHONE", phone)


@pytest.mark.parametrize(
    "text",
    [
        "Your order 12345678 has shipped",
        "order 123456789012",
        "Order #555-123-4567 is late",
        "tracking number: 1Z 999 AA1 012",
        "We sold 2024-01-15 12",
        "12345 6789 results",
        "between 250-3000 units",  # a range (a bare "555-1234" is a short local phone number now)
        "Total 1,234,567.89 EUR",
    ],
)
def test_numbers_that_are_not_phones(text):
    assert "PHONE" not in types_in(text)


def test_phone_extension_is_part_of_the_match():
    [match] = find_pii("Desk: 345-899-3560x4587.")
    assert match.text == "345-899-3560x4587"


def test_credit_card_requires_luhn():
    assert types_in("card 4111 1111 1111 1111 exp 12/29") == ["CREDIT_CARD"]
    assert types_in("card 4111-1111-1111-1111") == ["CREDIT_CARD"]
    assert types_in("card 378282246310005") == ["CREDIT_CARD"]
    assert "CREDIT_CARD" not in types_in("card 4111 1111 1111 1112")  # Luhn-invalid
    assert "CREDIT_CARD" not in types_in("ref 411111111111")  # 12 digits
    assert "CREDIT_CARD" not in types_in("id 0000 0000 0000 0000")  # Luhn-valid but a filler


def test_luhn_valid_timestamps_and_ids_are_not_cards():
    # Both pass Luhn; neither has an issuer prefix.
    assert luhn_valid("1700000000004") and luhn_valid("8000000000000003")
    assert types_in('{"created_ms": 1700000000004, "id": 8000000000000003}') == []


def test_card_inside_a_longer_number_is_not_a_card():
    assert types_in("batch 41111111111111110000000") == []


def test_luhn_and_iban_helpers():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE89370400440532013001")
    assert not iban_valid("DE8937040044053201300")  # wrong length for DE


def test_iban_with_and_without_spaces_and_bad_checksum():
    assert types_in("IBAN: DE89 3704 0044 0532 0130 00, thanks") == ["IBAN"]
    assert types_in("pay GB82WEST12345698765432 to them") == ["IBAN"]
    assert types_in("my iban is gb82west12345698765432") == ["IBAN"]
    assert "IBAN" not in types_in("IBAN: DE88 3704 0044 0532 0130 00")  # checksum off by one
    assert "IBAN" not in types_in("GB82WEST12345698765433")


def test_iban_span_stops_before_following_words():
    [match] = find_pii("Transfer from GB82 WEST 1234 5698 7654 32 to savings")
    assert match.text == "GB82 WEST 1234 5698 7654 32"


def test_ipv4_octets_must_be_in_range():
    [match] = find_pii("Login from 192.168.10.255.")
    assert (match.entity_type, match.text) == ("IP_ADDRESS", "192.168.10.255")
    assert types_in("version 999.1.1.1") == []
    assert types_in("bad 256.1.1.1 and 1.2.3.4.5") == []


def test_ssn_rules():
    assert types_in("SSN 123-45-6789") == ["US_SSN"]
    for invalid in ("000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"):
        # Neither an SSN nor, being SSN-shaped, a phone number.
        assert types_in(f"SSN {invalid}") == [], invalid


@pytest.mark.parametrize(
    "secret",
    [
        OPENAI,
        OPENAI_LEGACY,
        AWS_KEY_ID,
        GITHUB,
        SLACK,
    ],
)
def test_api_key_formats(secret):
    [match] = find_pii(f"use {secret} here")
    assert (match.entity_type, match.text) == ("API_KEY", secret)


def test_generic_key_assignment_needs_entropy():
    [match] = find_pii(f'config: api_key="{GENERIC}"')
    assert (match.entity_type, match.text) == ("API_KEY", GENERIC)
    assert find_pii("api_key=YOUR_API_KEY_GOES_HERE") == []
    assert find_pii("see sk-this-is-a-long-kebab-case-name") == []


def test_overlaps_resolve_to_the_longest_match():
    # The digits of the address are phone-shaped; the email is longer and wins.
    assert types_in("reach 415-555-2671@example.com") == ["EMAIL"]


def test_pii_match_repr_hides_the_value():
    [match] = find_pii("mail ana@example.com")
    assert "ana@example.com" not in repr(match)


def test_find_pii_rejects_unknown_entity_types():
    with pytest.raises(ValueError, match="valid: EMAIL, PHONE"):
        find_pii("x", entities=["EMAILS"])


# --- redact --------------------------------------------------------------------------------


def test_redact_masks_every_type():
    text = (
        "Ana (ana@example.com, +44 20 7946 0958) paid with 4111 1111 1111 1111 from "
        f"10.0.0.12; SSN 123-45-6789; key {AWS_KEY_ID}; IBAN GB82WEST12345698765432."
    )
    assert redact(text) == (
        "Ana ([EMAIL], [PHONE]) paid with [CREDIT_CARD] from [IP_ADDRESS]; SSN [US_SSN]; "
        "key [API_KEY]; IBAN [IBAN]."
    )


def test_redact_hash_mode_is_stable_and_hides_the_value():
    first = redact("ana@example.com", mode="hash")
    assert first.startswith("[EMAIL:") and "ana" not in first
    assert first == redact("ana@example.com", mode="hash")
    assert first != redact("bob@example.com", mode="hash")
    with pytest.raises(ValueError, match="mask, hash"):
        redact("x", mode="blur")


def test_redact_leaves_clean_text_alone():
    text = "Order 12345678 ships to 742 Evergreen Terrace on 2024-05-01."
    assert redact(text) == text
    assert redact("") == ""


# --- pii evaluator -------------------------------------------------------------------------


def test_pii_leak_explanation_counts_types_and_never_echoes_pii():
    output = "Sure: ana@example.com, bob@example.org, card 4111 1111 1111 1111."
    score = score_of(PiiLeak(name="pii"), output)
    assert score.passed is False
    assert score.value == 3.0
    assert score.failure_category == "pii_leak"
    assert score.explanation == "found CREDIT_CARD x1, EMAIL x2"
    dumped = score.model_dump_json(exclude={"duration_ms", "scored_at"})  # numbers could collide
    for secret in ("ana@example.com", "bob@example.org", "4111 1111 1111 1111", "4111"):
        assert secret not in dumped


def test_pii_leak_with_only_a_key_is_a_secret_leak():
    score = score_of(PiiLeak(name="pii"), f"export AWS_ACCESS_KEY_ID={AWS_KEY_ID}")
    assert score.passed is False
    assert score.failure_category == "secret_leak"
    assert "AKIA" not in score.explanation


def test_configured_category_is_not_overridden():
    evaluator = PiiLeak(name="pii", failure_category="toxicity")
    assert score_of(evaluator, f"key {AWS_KEY_ID}").failure_category == "toxicity"


def test_pii_leak_allow_list_and_entity_subset():
    evaluator = PiiLeak(name="pii", allow=["Support@Acme.com", "+1 800 555 0199"])
    score = score_of(evaluator, "Contact support@acme.com or +1-800-555-0199.")
    assert score.passed is True
    assert "2 allow-listed" in score.explanation
    assert score_of(evaluator, "Contact support@acme.com or ana@acme.com").passed is False

    emails_only = PiiLeak(name="pii", entities=["EMAIL"])
    assert score_of(emails_only, "server 10.0.0.1").passed is True
    with pytest.raises(ValueError, match="valid: EMAIL"):
        PiiLeak(name="pii", entities=["NAME"])


def test_pii_leak_skips_without_output():
    [score] = PiiLeak(name="pii").evaluate({"subject_id": "c1", "output_text": None})
    assert (score.status, score.passed) == ("skipped", None)
    assert score.explanation == "missing input: output_text"


# --- refusal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m sorry, but I can\u2019t help with that.",
        "I cannot assist with this request.",
        "I cannot assist.",
        "As an AI language model, I'm unable to browse the internet.",
        "I won't be able to provide that information.",
        "I apologize, but I cannot fulfill this request.",
        "I must respectfully decline.",
        "Unfortunately, I'm unable to help with requests like this.",
    ],
)
def test_refusals_are_detected(text):
    score = score_of(Refusal(name="refusal"), text)
    assert score.passed is False
    assert score.value == 1.0
    assert score.failure_category == "refusal"


@pytest.mark.parametrize(
    "text",
    [
        "I can't wait to help you with your trip!",
        "Sorry, we cannot ship to PO boxes. Please give a street address.",
        "I can't help but notice your order is late; here is a refund.",
        "I'm sorry for the delay, I can't wait to get it to you.",
        "I can't find order 123 in our system; could you check the number?",
        "Our policy cannot be changed, but I can help you file a claim.",
    ],
)
def test_non_refusals_pass(text):
    score = score_of(Refusal(name="refusal"), text)
    assert score.passed is True, score.explanation
    assert score.value == 0.0
    assert score.failure_category is None
