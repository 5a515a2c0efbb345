"""The `secrets` evaluator and `find_secrets`: named formats, PEM blocks, generic assignments."""

from __future__ import annotations

import pytest
from assay.evaluators.registry import build_evaluator

from assay.privacy.pii import find_pii
from assay.privacy.secrets import SECRET_KINDS, find_secrets
from tests.unit.fake_secrets import (
    ANTHROPIC,
    AWS_KEY_ID,
    AWS_SECRET,
    GENERIC,
    GITHUB,
    GOOGLE,
    JWT,
    OPENAI,
    PEM,
    SLACK,
    STRIPE,
)


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        ("openai", OPENAI),
        ("anthropic", ANTHROPIC),
        ("aws_access_key_id", AWS_KEY_ID),
        ("github", GITHUB),
        ("slack", SLACK),
        ("stripe", STRIPE),
        ("google", GOOGLE),
        ("jwt", JWT),
        ("private_key", PEM),
    ],
)
def test_named_formats_and_their_exact_spans(kind, secret):
    text = f"here: {secret} ok"
    [match] = find_secrets(text)
    assert (match.kind, text[match.start : match.end]) == (kind, secret)
    assert [m.entity_type for m in find_pii(text)] == ["API_KEY"]  # redaction sees them too


def test_aws_secret_needs_its_name_and_a_random_value():
    text = f"aws_secret_access_key = {AWS_SECRET}"
    [match] = find_secrets(text)
    assert match.kind == "aws_secret_access_key" and text[match.start :] == AWS_SECRET
    assert find_secrets(AWS_SECRET) == []  # no name: a random string


def test_generic_assignment_with_prefixed_names():
    [match] = find_secrets(f'MY_SERVICE_CLIENT_SECRET: "{GENERIC}"')
    assert match.kind == "generic"
    assert find_secrets("API_KEY=YOUR_API_KEY_GOES_HERE") == []
    assert find_secrets("tokenizer = load('bert-base-uncased-v2')") == []


def test_named_format_wins_over_the_assignment_covering_it():
    assert [m.kind for m in find_secrets(f"OPENAI_API_KEY={OPENAI}")] == ["openai"]


def test_pem_header_alone_is_documentation_not_a_key():
    assert find_secrets("Files start with -----BEGIN PRIVATE KEY----- and end with -----END PRIVATE KEY-----") == []
    truncated = PEM.rsplit("\n", 1)[0]  # the END line cut off: still a leak
    assert [m.kind for m in find_secrets(truncated)] == ["private_key"]


def test_kinds_filter_and_unknown_kind():
    text = f"{AWS_KEY_ID} and {STRIPE}"
    assert [m.kind for m in find_secrets(text, kinds=["stripe"])] == ["stripe"]
    with pytest.raises(ValueError, match="valid: anthropic"):
        find_secrets(text, kinds=["azure"])
    assert set(SECRET_KINDS) >= {"openai", "jwt", "private_key", "generic"}


def test_secrets_evaluator_details_have_kinds_and_spans_but_no_values():
    evaluator = build_evaluator("no_secrets", "secrets", {"allow": [AWS_KEY_ID]})
    output = f"Use {AWS_KEY_ID} in docs; prod is {STRIPE}."
    [score] = evaluator.evaluate({"subject_id": "s", "output_text": output})
    assert (score.passed, score.value, score.failure_category) == (False, 1.0, "secret_leak")
    start = output.index("sk_live")
    assert score.details == {"entities": [{"type": "stripe", "start": start, "end": start + 32}]}
    assert score.explanation == "found stripe x1"
    assert STRIPE[8:16] not in score.model_dump_json()
    [clean] = evaluator.evaluate({"subject_id": "s", "output_text": "Set OPENAI_API_KEY in your shell."})
    assert (clean.passed, clean.value, clean.details) == (True, 0.0, {"entities": []})


def test_secrets_evaluator_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="kinds.*unknown azure"):
        build_evaluator("s", "secrets", {"kinds": ["azure"]})


def test_pii_score_details_carry_types_and_spans():
    output = "Mail ana@example.com, card 4111 1111 1111 1111."
    [score] = build_evaluator("pii", "pii", {}).evaluate({"subject_id": "s", "output_text": output})
    assert score.details == {
        "entities": [
            {"type": "EMAIL", "start": 5, "end": 20},
            {"type": "CREDIT_CARD", "start": 27, "end": 46},
        ]
    }
    assert "ana@" not in score.model_dump_json()
