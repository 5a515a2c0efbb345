"""Redaction before the lake: originals never written, leaks still detected, ids pseudonymised."""

import json
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from assay.assets.raw_calls import materialise_day
from assay.evaluators.safety import PiiLeak

from assay.config import RedactionConfig
from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.lake import Lake
from assay.privacy.redaction import RedactionKeyMissing, Redactor

LEAK = "Contact maria.gonzalez@example.com or +1 415 555 0134; ours is support@acme.example."


def test_text_is_masked_counted_and_the_allow_list_kept():
    redactor = Redactor(allow=["support@acme.example"])
    text, found = redactor.text(LEAK)
    assert "maria" not in text and "555" not in text
    assert "[EMAIL]" in text and "[PHONE]" in text and "support@acme.example" in text
    assert found == {"EMAIL": 1, "PHONE": 1}


def test_pseudonyms_are_stable_per_key_and_differ_between_keys():
    a, b = Redactor(mode="pseudonymise", key=b"k1"), Redactor(mode="pseudonymise", key=b"k2")
    assert a.text(LEAK)[0] == a.text(LEAK)[0]
    assert a.text(LEAK)[0] != b.text(LEAK)[0]
    assert "[EMAIL:" in a.text(LEAK)[0]


def test_pseudonymising_without_a_key_names_the_variable():
    with pytest.raises(RedactionKeyMissing, match="ASSAY_PSEUDONYM_KEY"):
        Redactor(pseudonymise_ids=["user_id"])


def _calls(**fields) -> pa.Table:
    row = {"call_id": "c1", "ts": "2025-03-10T12:00:00Z", "app": "a", "feature": "f", "model": "m",
           "status": "success", "metadata": {"team": "x"}, "user_id": "u-42"} | fields
    return rows_to_table([row], CALL_ARROW_SCHEMA, frozenset({"metadata", "messages", "context", "tool_calls"}))


def test_calls_record_what_was_removed_and_pseudonymise_ids():
    table, totals = Redactor(pseudonymise_ids=["user_id"], key=b"k").calls(
        _calls(output_text=LEAK, messages=[{"role": "user", "content": "I am bob@corp.example"}])
    )
    (row,) = table.to_pylist()
    metadata = json.loads(row["metadata"])
    assert metadata["team"] == "x"  # existing metadata kept
    assert metadata["redactions"]["output_text"] == {"EMAIL": 2, "PHONE": 1}
    assert metadata["redactions"]["messages"] == {"EMAIL": 1}
    assert "bob@corp.example" not in row["messages"] and json.loads(row["messages"])  # still JSON
    assert row["user_id"].startswith("[user_id:") and "u-42" not in row["user_id"]
    assert totals == {"EMAIL": 3, "PHONE": 1}


def test_the_pii_evaluator_still_fails_a_leak_after_redaction():
    table, _ = Redactor(allow=["support@acme.example"]).calls(_calls(output_text=LEAK))
    (row,) = table.to_pylist()
    subject = row | {"subject_id": "c1", "metadata": json.loads(row["metadata"])}
    (score,) = PiiLeak(name="no_pii", allow=["support@acme.example"]).evaluate(subject)
    assert score.passed is False and score.failure_category == "pii_leak"
    assert "EMAIL x1" in score.explanation and "PHONE x1" in score.explanation


def test_no_original_value_reaches_any_file_of_the_lake(tmp_path):
    day = date(2025, 3, 10)
    folder = tmp_path / "landing" / "native" / day.isoformat()
    folder.mkdir(parents=True)
    good = {"call_id": "c1", "ts": "2025-03-10T12:00:00Z", "app": "a", "feature": "f", "model": "m",
            "output_text": LEAK, "input_text": "my card is 4111 1111 1111 1111"}
    bad = {"call_id": "c2", "ts": "2025-03-10T12:00:00Z", "latency_ms": -1, "output_text": "mail maria.gonzalez@example.com"}
    (folder / "calls.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    done = materialise_day(
        Lake(tmp_path / "lake"), tmp_path / "landing", day, default_app="a", prices={},
        redaction=RedactionConfig(allow=["support@acme.example"]),
    )
    assert done.redacted == {"EMAIL": 2, "PHONE": 1, "CREDIT_CARD": 1}
    # Read back decoded (Parquet pages are compressed: a byte search of the file proves nothing).
    paths = list((tmp_path / "lake").rglob("*.parquet"))
    assert len(paths) >= 3
    for path in paths:
        stored = json.dumps(pq.read_table(path).to_pylist(), default=str)
        for original in ("maria.gonzalez", "555 0134", "4111 1111"):
            assert original not in stored, (path, original)
    rejected = pq.read_table(tmp_path / "lake" / "rejected_calls" / "day=2025-03-10" / "part.parquet").to_pylist()
    assert "[EMAIL]" in rejected[0]["raw"]  # the quarantine keeps the record, minus the PII


def test_redaction_off_keeps_text_as_is(tmp_path):
    day = date(2025, 3, 10)
    folder = tmp_path / "landing" / "native" / day.isoformat()
    folder.mkdir(parents=True)
    record = {"call_id": "c1", "ts": "2025-03-10T12:00:00Z", "app": "a", "feature": "f", "model": "m", "output_text": LEAK}
    (folder / "calls.jsonl").write_text(json.dumps(record) + "\n")
    lake = Lake(tmp_path / "lake")
    done = materialise_day(lake, tmp_path / "landing", day, default_app="a", prices={}, redaction=RedactionConfig(enabled=False))
    assert done.redacted == {}
    assert lake.read_partition("raw_calls", {"day": day.isoformat()}).column("output_text")[0].as_py() == LEAK


def _pii_like_text(rng) -> str:
    """Text made of fragments near and inside every detector's pattern."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    fragments = [
        lambda: f"{rng.choice(['maria', 'a.b', 'x+y'])}@{rng.choice(['example.com', 'acme.co.uk', 'x'])}",
        lambda: rng.choice(["+1 ", "(", "+44 ", ""]) + rng.choice([" ", "-", ".", ""]).join(digits(rng.randint(1, 5)) for _ in range(rng.randint(1, 5))),
        lambda: rng.choice([" ", "-", ""]).join(digits(4) for _ in range(4)),
        lambda: "4111 1111 1111 1111",
        lambda: f"{digits(3)}-{digits(2)}-{digits(4)}",
        lambda: ".".join(str(rng.randint(0, 300)) for _ in range(4)),
        lambda: rng.choice(["DE89 3704 0044 0532 0130 00", "gb82west12345698765432", "GB82 WEST 1234 5698 7654 32"]),
        lambda: rng.choice(["sk-proj-", "AKIA", "ghp_", "xoxb-", "AIza"]) + "".join(rng.choice("ABCdef0123456789_-") for _ in range(40)),
        lambda: f"{rng.choice(['api_key', 'TOKEN', 'Secret'])}={''.join(rng.choice('aZ09xQ7') for _ in range(24))}",
        lambda: rng.choice(["order", "ref #", "call me at", "é", "١٢٣٤٥٦٧٨٩٠١", "ＡＢ"]),
        lambda: rng.choice(["Phone:", "TEL.", "Fax #", "reach us on", "WhatsApp", "dial", "ring me at",
                            "mobile number:", "text me on ", "Cell no.", "answering at"]),
        lambda: rng.choice(["(", "(+", "+", ""]) + rng.choice([") (", ")-(", ") ", " ", "-", ""]).join(
            digits(rng.randint(1, 4)) for _ in range(rng.randint(2, 4))),
        lambda: digits(rng.randint(1, 20)),
    ]
    return " ".join(rng.choice(fragments)() for _ in range(rng.randint(1, 4)))


def test_the_bulk_prefilter_never_skips_a_text_holding_pii():
    import random

    import pyarrow.compute as pc

    from assay.privacy.pii import PII_CANDIDATE_RE2, find_pii, pii_candidate_re2

    rng = random.Random(7)
    # Short IPs, and phones in non-ASCII digits (Python's \d matches them, RE2's does not).
    edge = ["1.2.3.4", "ip 8.8.8.8 ok", "+١ ٤١٥ ٥٥٥ ٠١٣٤", "call ٤١٥-٥٥٥-٠١٣٤ now"]
    # The formats assay.privacy.structured added: IPv6, a 7-digit local number, a 12-digit card.
    edge += ["from fe80::1 now", "2001:db8::8a2e:370:7334", "ring 467 3395", "card 501800000009"]
    texts = [_pii_like_text(rng) for _ in range(20_000)] + edge + [LEAK, "nothing to see here", "order 884748. Please"]
    holding = [i for i, text in enumerate(texts) if find_pii(text)]
    assert len(holding) > 5_000  # the generator does reach the detectors
    for pattern in (PII_CANDIDATE_RE2, pii_candidate_re2(narrow=True)):
        candidate = pc.match_substring_regex(pa.array(texts), pattern).to_pylist()
        assert [texts[i] for i in holding if not candidate[i]] == []
        assert not candidate[-2] and not candidate[-1]  # and it does skip plain text
    # The narrow one skips an order number the broad one lets through (6 digits: a 7-digit
    # local phone number is the shortest PII the narrow one must keep).
    assert pc.match_substring_regex(pa.array(["order 63160 3 weeks ago"]), PII_CANDIDATE_RE2)[0].as_py()
    assert not pc.match_substring_regex(pa.array(["order 63160 3 weeks ago"]), pii_candidate_re2(narrow=True))[0].as_py()


def test_names_and_addresses_are_redacted_when_the_config_opts_in():
    text = "Hi, my name is Maria Gonzalez, I live at 221 Baker Street. Mail maria@example.com"
    default = Redactor.from_config(RedactionConfig())
    opted_in = Redactor.from_config(RedactionConfig(entities=["EMAIL", "PERSON", "ADDRESS"]))
    kept, _ = default.text(text)
    assert "Maria Gonzalez" in kept and "221 Baker Street" in kept and "maria@example.com" not in kept
    redacted, _ = opted_in.text(text)
    assert "Maria" not in redacted and "Baker Street" not in redacted and "maria@" not in redacted
    assert "[PERSON]" in redacted and "[ADDRESS]" in redacted
