"""Structured PII by each format's rules (assay.privacy.structured), and redaction at ingest removing
exactly what the `pii` evaluator finds. Every example is written here (fake people, test
card numbers, documentation address ranges)."""

import json

import pytest
from assay.evaluators.safety import PiiLeak

from assay.config import RedactionConfig
from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.privacy import find_pii
from assay.privacy.redaction import Redactor
from assay.privacy.structured import (
    card_issuer,
    card_valid,
    check_phone_regions,
    find_cards,
    find_ibans,
    find_ips,
    find_phones,
    find_ssns,
    iban_valid,
)


def spans(found, text):
    return [text[s:e] for s, e in found]


# --- cards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, issuer",
    [
        ("501800000009", "maestro"),  # 12 digits: Maestro issues 12-19
        ("6759649826438453", "maestro"),
        ("4111111111111111", "visa"),
        ("4222222222222", "visa"),  # 13-digit Visa
        ("4000000000000000006", "visa"),  # 19-digit Visa
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),  # 2-series
        ("378282246310005", "amex"),
        ("30569309025904", "diners"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("213100000000001", "jcb15"),
        ("6200000000000005", "unionpay"),
        ("2200000000000004", "mir"),
    ],
)
def test_valid_cards_by_issuer_range_and_luhn(number, issuer):
    assert card_issuer(number) == issuer and card_valid(number)
    text = f"card {number} expires soon"
    assert spans(find_cards(text), text) == [number]


@pytest.mark.parametrize(
    "number",
    [
        "501800000008",  # Maestro range and length, Luhn off by one
        "411111111111",  # Luhn-valid shape but Visa never issues 12 digits
        "378282246310",  # Amex prefix, 12 digits: not an Amex length
        "700000000008",  # no issuer starts with 7
        "1700000000004",  # an epoch-millisecond timestamp passing Luhn
        "0000000000000000",  # a filler
    ],
)
def test_invalid_cards(number):
    assert not card_valid(number)
    assert list(find_cards(f"number {number} here")) == []


def test_grouped_cards_and_mixed_separators():
    text = "pay with 5018 0000 0009 or 4111-1111-1111-1111, not 4111 1111-1111 1111"
    assert spans(find_cards(text), text) == ["5018 0000 0009", "4111-1111-1111-1111"]


# --- IP addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["2001:db8::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1", "::ffff:192.0.2.1",
     "fe80::1%eth0", "2001:db8:0:0:1:0:0:1"],
)  # fmt: skip
def test_ipv6_addresses(address):
    text = f"login from {address} at noon"
    assert spans(find_ips(text), text)[-1] == address
    assert [m.entity_type for m in find_pii(text)] == ["IP_ADDRESS"]


@pytest.mark.parametrize(
    "text",
    ["the match starts at 10:30:45", "MAC 00:1A:2B:3C:4D:5E", "use std::vector here", "a::b", "::",
     "2001:db8::g1", "1:2:3:4:5:6:7:8:9"],
)  # fmt: skip
def test_not_ipv6(text):
    assert list(find_ips(text)) == [] and find_pii(text) == []


def test_ipv4_still_checked_by_octets():
    text = "from 192.168.10.255 and 256.1.1.1 and 203.0.113.7"
    assert spans(find_ips(text), text) == ["192.168.10.255", "203.0.113.7"]


# --- phones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "467 3395",  # a short local number, no cue word
        "555-1234",
        "60-56-85-91",  # pairs of digits joined by dashes
        "06-12-34-56-78",
        "0490 75 40 81",
        "699 956 915",
        "089-12345678",  # trunk prefix + area code, a dash, the number
        "030-1234567",
        "415-5552671",  # area code and number joined by a dash
        "(415) 555-2671",
        "+44 20 7946 0958",
        "+14155552671",
    ],
)
def test_national_format_phones_without_a_cue_word(phone):
    text = f"She said {phone} and left."
    assert spans(find_phones(text), text) == [phone]


def test_a_bare_ten_digit_number_after_a_label_is_a_phone_when_valid():
    text = "Name: Ana Lopez\nEmergency contact: 4155552671\nNotes: none"
    assert spans(find_phones(text), text) == ["4155552671"]
    # The same digits in running text, or after a reference label, are not phones.
    assert list(find_phones("we shipped 4155552671 units")) == []
    assert list(find_phones("Ref: 4155552671")) == []


@pytest.mark.parametrize(
    "text",
    [
        "Your order 12345678 has shipped",
        "Order #555-123-4567 is late",
        "We sold 2024-01-15 12",
        "scores 2019-2020 season",
        "between 250-3000 units",
        "Total 1,234,567.89 EUR",
        "The office is at 704 1436 Redbird Lane",  # a house number, not a local phone
        "invoice no. 0490 75 40 81",
        "1234567",  # seven bare digits
        "version 1.2.3.4567",
    ],
)
def test_numbers_that_are_not_phones(text):
    assert list(find_phones(text)) == []


def test_phone_regions_narrow_national_numbers_but_not_international_ones():
    text = "ring 60-56-85-91 or +44 20 7946 0958"
    assert spans(find_phones(text), text) == ["60-56-85-91", "+44 20 7946 0958"]
    # Eight digits are a possible number in Denmark or the UK, never in the US; an
    # international number is checked against its own country code.
    assert spans(find_phones(text, ("US",)), text) == ["+44 20 7946 0958"]
    assert spans(find_phones(text, ("DK",)), text) == ["60-56-85-91", "+44 20 7946 0958"]
    assert check_phone_regions(["gb", "de"]) == ("GB", "DE")
    with pytest.raises(ValueError, match="unknown phone region.*XX.*valid: two-letter"):
        check_phone_regions(["GB", "XX"])


def test_config_rejects_unknown_phone_regions_with_one_clear_line():
    with pytest.raises(ValueError, match="XX"):
        RedactionConfig(phone_regions=["XX"])
    with pytest.raises(ValueError, match="pii: `phone_regions`: unknown phone region"):
        PiiLeak(name="pii", phone_regions=["ZZ"])


# --- IBAN and SSN --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "FR14 2004 1010 0505 0001 3M02 606",
     "NL91ABNA0417164300", "NO9386011117947", "de89 3704 0044 0532 0130 00", "CH93-0076-2011-6238-5295-7"],
)  # fmt: skip
def test_ibans_by_country_length_and_mod97(iban):
    text = f"transfer to {iban} today"
    assert spans(find_ibans(text), text) == [iban]


@pytest.mark.parametrize(
    "compact",
    [
        "DE89370400440532013001",  # checksum
        "DE8937040044053201300",  # DE is 22 characters
        "GB82WEST12345698765433",
        "NO9386011117948",
        "XX00ABCDEFGHIJKLMNO",  # mod-97 fails
    ],
)
def test_invalid_ibans(compact):
    assert not iban_valid(compact)
    assert list(find_ibans(f"IBAN {compact}")) == []


def test_ssn_rules_dashed_and_cued():
    text = "SSN 123-45-6789; Social security number: 234 56 7890; ssn 345678901"
    assert spans(find_ssns(text), text) == ["123-45-6789", "234 56 7890", "345678901"]
    for invalid in ("000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"):
        assert list(find_ssns(f"SSN {invalid}")) == [], invalid
    # Unseparated or spaced nine digits without the word are not claimed as an SSN.
    assert list(find_ssns("ticket 234 56 7890")) == [] and list(find_ssns("id 345678901")) == []


# --- one detector: what the evaluator finds, ingest redaction removes ----------------------

NEW_FORMATS = (
    "Card 501800000009 was declined. Login from 2001:db8::8a2e:370:7334, ring me: 467 3395 "
    "or 060-5685-9100, desk 60-56-85-91, IBAN CH93-0076-2011-6238-5295-7, SSN 234 56 7890."
)


def test_redaction_at_ingest_removes_what_the_pii_evaluator_finds():
    evaluator = PiiLeak(name="pii")
    leaks, _ = evaluator.leaks(NEW_FORMATS)
    assert sorted(m.entity_type for m in leaks) == sorted(
        ["CREDIT_CARD", "IP_ADDRESS", "PHONE", "PHONE", "PHONE", "IBAN", "US_SSN"]
    )
    row = {"call_id": "c1", "ts": "2025-03-10T12:00:00Z", "app": "a", "feature": "f", "model": "m",
           "status": "success", "output_text": NEW_FORMATS}  # fmt: skip
    table = rows_to_table([row], CALL_ARROW_SCHEMA, frozenset({"metadata", "messages", "context", "tool_calls"}))
    redacted, totals = Redactor.from_config(RedactionConfig()).calls(table)
    (out,) = redacted.to_pylist()
    for match in leaks:
        assert match.text not in out["output_text"]
    assert sum(totals.values()) == len(leaks)
    assert json.loads(out["metadata"])["redactions"]["output_text"] == {
        "CREDIT_CARD": 1, "IBAN": 1, "IP_ADDRESS": 1, "PHONE": 3, "US_SSN": 1
    }  # fmt: skip
    assert evaluator.leaks(out["output_text"])[0] == []
