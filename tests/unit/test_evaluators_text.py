from __future__ import annotations

import pytest
from assay.evaluators.text import MAX_SEARCH_CHARS, Contains
from assay.evaluators.text_regex import Regex
from assay.evaluators.text_size import Length


def subject(output_text, **fields):
    return {"subject_id": "call-1", "output_text": output_text, **fields}


def one(evaluator, subj):
    [score] = evaluator.evaluate(subj)
    return score


# --- contains ------------------------------------------------------------------------------


def test_contains_any_is_case_insensitive_by_default():
    score = one(
        Contains(name="mentions_refund", value=["refund", "credit"]),
        subject("Your REFUND is on its way"),
    )
    assert score.passed is True
    assert score.value == 1.0
    assert score.failure_category is None


def test_contains_respects_ignore_case_false():
    score = one(Contains(name="c", value="Refund", ignore_case=False), subject("your refund"))
    assert score.passed is False
    assert "none of 'Refund' found" in score.explanation
    assert score.failure_category == "format_break"


def test_contains_all_names_the_missing_value():
    evaluator = Contains(name="c", value=["order", "tracking", "eta"], mode="all")
    score = one(evaluator, subject("Your order has a tracking number."))
    assert score.passed is False
    assert "'eta'" in score.explanation and "'order'" not in score.explanation


def test_contains_none_fails_when_a_forbidden_value_is_present():
    evaluator = Contains(name="no_competitor", value=["acme", "globex"], mode="none")
    assert one(evaluator, subject("Try Globex instead")).passed is False
    assert one(evaluator, subject("We can help")).passed is True


def test_contains_casefold_matches_sharp_s():
    assert one(Contains(name="c", value="STRASSE"), subject("Hauptstraße 1")).passed is True


def test_contains_skips_when_output_is_missing_and_says_why():
    score = one(Contains(name="c", value="x"), subject(None))
    assert score.status == "skipped"
    assert score.passed is None
    assert score.explanation == "missing input: output_text"


@pytest.mark.parametrize("bad", [[], [""], ["ok", 3]])
def test_contains_rejects_empty_or_non_string_values(bad):
    with pytest.raises(ValueError, match="contains"):
        Contains(name="c", value=bad)


def test_contains_rejects_unknown_mode():
    with pytest.raises(ValueError, match="any, all, none"):
        Contains(name="c", value="x", mode="some")


# --- regex ---------------------------------------------------------------------------------


def test_regex_must_match():
    evaluator = Regex(name="order_ref", pattern=r"\bORD-\d{6}\b")
    assert one(evaluator, subject("Reference ORD-123456.")).passed is True
    failed = one(evaluator, subject("Reference ORD-12345."))
    assert failed.passed is False and failed.value == 0.0


def test_regex_must_not_match_reports_position_not_text():
    evaluator = Regex(name="no_placeholder", pattern=r"\{\{\s*\w+\s*\}\}", must_match=False)
    score = one(evaluator, subject("Hello {{ customer_name }}, thanks"))
    assert score.passed is False
    assert "at char 6" in score.explanation
    assert "customer_name" not in score.explanation
    assert one(evaluator, subject("Hello Ana, thanks")).passed is True


def test_regex_ignore_case_defaults_to_false():
    assert one(Regex(name="r", pattern="error"), subject("ERROR")).passed is False
    assert one(Regex(name="r", pattern="error", ignore_case=True), subject("ERROR")).passed is True


@pytest.mark.parametrize(
    "pattern", ["(a+)+$", "(.*)*x", "(x+x+)+y", r"(\w{1,3})+", "(a|b+)*c", r"(?:中\w+)*"]
)
def test_regex_rejects_nested_quantifiers(pattern):
    with pytest.raises(ValueError, match="nests quantifiers"):
        Regex(name="r", pattern=pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"(\d{3}-)+\d{4}", "((ab*))+", r"[a-z]+(?:-[a-z]+)*", r"\w+(?:[.-]\w+)*@", r"(?:ab)+"],
)
def test_regex_accepts_safe_repetition(pattern):
    Regex(name="r", pattern=pattern)


def test_regex_rejects_overlong_and_invalid_patterns():
    with pytest.raises(ValueError, match="501 chars; at most 500"):
        Regex(name="r", pattern="a" * 501)
    with pytest.raises(ValueError, match="invalid pattern"):
        Regex(name="r", pattern="(unclosed")


def test_regex_only_searches_the_head_of_a_long_output():
    evaluator = Regex(name="r", pattern="NEEDLE")
    text = "x" * MAX_SEARCH_CHARS + "NEEDLE"
    score = one(evaluator, subject(text))
    assert score.passed is False
    assert f"searched the first {MAX_SEARCH_CHARS}" in score.explanation
    assert one(evaluator, subject("x" * (MAX_SEARCH_CHARS - 6) + "NEEDLE")).passed is True


# --- length --------------------------------------------------------------------------------


def test_length_bounds_are_inclusive_and_value_is_the_length():
    evaluator = Length(name="len", min_chars=3, max_chars=5)
    assert one(evaluator, subject("abc")).passed is True
    assert one(evaluator, subject("abcde")).passed is True
    short = one(evaluator, subject("ab"))
    assert (short.passed, short.value) == (False, 2.0)
    assert "min_chars=3" in short.explanation
    long = one(evaluator, subject("abcdef"))
    assert (long.passed, long.value) == (False, 6.0)
    assert long.metric == "length_chars"


def test_length_with_only_one_bound():
    assert one(Length(name="l", max_chars=10), subject("short")).passed is True
    assert one(Length(name="l", min_chars=10), subject("short")).passed is False


def test_length_requires_a_consistent_bound():
    with pytest.raises(ValueError, match="at least one"):
        Length(name="l")
    with pytest.raises(ValueError, match="greater than"):
        Length(name="l", min_chars=10, max_chars=5)
    with pytest.raises(ValueError, match="non-negative integer"):
        Length(name="l", max_chars=-1)
