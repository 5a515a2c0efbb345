from __future__ import annotations

import math

import pytest
from assay.evaluators.reference import (
    Bleu,
    Cosine,
    EmbeddingSimilarity,
    ExactMatch,
    Jaccard,
    JaroWinkler,
    Levenshtein,
    RougeL,
    SorensenDice,
    TokenF1,
)
from assay.evaluators.similarity import (
    bleu,
    cosine,
    cosine_of_vectors,
    exact_match,
    hashing_embedding,
    jaccard,
    jaro,
    jaro_winkler,
    lcs_length,
    levenshtein_distance,
    levenshtein_similarity,
    normalize_answer,
    rouge_l,
    sorensen_dice,
    token_f1,
)

from assay.testing.llm_server import LLMTestServer, embedding_for


def subject(output_text, expected_output, **fields):
    return {
        "subject_id": "c1",
        "output_text": output_text,
        "expected_output": expected_output,
        **fields,
    }


def one(evaluator, subj):
    [score] = evaluator.evaluate(subj)
    return score


# --- metric functions against hand-worked values ---------------------------------------------


def test_normalize_answer_is_squad_style():
    assert normalize_answer("  The Eiffel-Tower, in PARIS!  ") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theory") == "theory"  # articles only as whole words


def test_exact_match_after_normalisation():
    assert exact_match("The Beatles.", "beatles") == 1.0
    assert exact_match("Beatles", "The Rolling Stones") == 0.0


def test_token_f1_worked_example():
    # "cat sat" vs "cat sat down": overlap 2, P = 2/2, R = 2/3, F1 = 2*1*(2/3)/(5/3) = 0.8
    assert token_f1("The cat sat.", "a cat sat down") == pytest.approx(0.8)
    # multiset overlap: "the" dropped; "paris paris" vs "paris": overlap 1, P 1/2, R 1 -> 2/3
    assert token_f1("Paris Paris", "Paris") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("a b", "c") == 0.0


def test_rouge_l_worked_examples_from_lins_paper():
    reference = "police killed the gunman"
    # LCS("police kill the gunman") = police, the, gunman = 3; P = R = 3/4
    assert rouge_l("police kill the gunman", reference) == pytest.approx(0.75)
    # LCS("the gunman kill police") = the, gunman = 2; P = R = 2/4
    assert rouge_l("the gunman kill police", reference) == pytest.approx(0.5)
    # unequal lengths: LCS 2, P = 2/2, R = 2/4 -> F = 2*1*0.5/1.5 = 2/3
    assert rouge_l("police gunman", reference) == pytest.approx(2 / 3)
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


def test_bleu_worked_example_with_method1_smoothing():
    # candidate "the cat sat on the mat", reference "the cat is on the mat" (6 tokens each)
    # p1 = 5/6, p2 = 3/5 (the cat, on the, the mat), p3 = 1/4 (on the mat),
    # p4 = 0 matches of 3 -> smoothed 0.1/3; BP = 1 (same length)
    expected = (5 / 6 * 3 / 5 * 1 / 4 * (0.1 / 3)) ** 0.25
    assert bleu("the cat sat on the mat", "the cat is on the mat") == pytest.approx(expected)
    assert expected == pytest.approx(0.2541, abs=1e-4)


def test_bleu_brevity_penalty_and_identity():
    assert bleu("The cat is on the mat.", "the cat is on the mat.") == pytest.approx(1.0)
    # candidate "the cat is on" (4) vs reference of 6: precisions 1, BP = exp(1 - 6/4)
    assert bleu("the cat is on", "the cat is on the mat") == pytest.approx(math.exp(1 - 6 / 4))
    assert bleu("cat", "the cat is on the mat") == 0.0  # no 2-grams to score at all


def test_levenshtein_worked_example():
    assert levenshtein_distance("kitten", "sitting") == 3
    assert levenshtein_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert levenshtein_similarity("", "") == 1.0 and levenshtein_similarity("abc", "") == 0.0


def test_jaro_winkler_reference_values():
    assert jaro("MARTHA", "MARHTA") == pytest.approx(0.944, abs=1e-3)
    assert jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.961, abs=1e-3)
    assert jaro_winkler("DWAYNE", "DUANE") == pytest.approx(0.840, abs=1e-3)
    assert jaro_winkler("DIXON", "DICKSONX") == pytest.approx(0.813, abs=1e-3)
    assert jaro_winkler("abc", "xyz") == 0.0 and jaro_winkler("", "") == 1.0


def test_set_and_bag_metrics():
    assert jaccard("a b c", "b c d") == pytest.approx(2 / 4)
    assert sorensen_dice("a b c", "b c d") == pytest.approx(2 * 2 / 6)
    # "night" vs "nacht": bigrams ni ig gh ht / na ac ch ht -> 1 shared: 2*1/8
    assert sorensen_dice("night", "nacht", unit="char_bigrams") == pytest.approx(0.25)
    assert sorensen_dice("colour", "color", unit="char_bigrams") > sorensen_dice("colour", "color")
    # (2*1 + 1*1) / (sqrt(5) * sqrt(2))
    assert cosine("a a b", "a b") == pytest.approx(3 / math.sqrt(10))
    assert cosine("x", "") == 0.0


def test_hashing_embedding_is_deterministic_and_measures_overlap():
    a = hashing_embedding("The refund was issued on Monday")
    assert a == hashing_embedding("the refund  was issued on monday")
    near = cosine_of_vectors(a, hashing_embedding("The refund was issued on Tuesday"))
    far = cosine_of_vectors(a, hashing_embedding("Quantum chromodynamics lecture notes"))
    assert near > 0.7 > 0.3 > far


# --- evaluators ---------------------------------------------------------------------------


def test_evaluator_value_threshold_and_category():
    evaluator = RougeL(name="r")
    assert evaluator.threshold == 0.5
    good = one(evaluator, subject("police kill the gunman", "police killed the gunman"))
    assert (good.passed, good.value) == (True, pytest.approx(0.75))
    assert "rouge_l 0.750 >= threshold 0.5" == good.explanation
    bad = one(
        RougeL(name="r", threshold=0.8),
        subject("police kill the gunman", "police killed the gunman"),
    )
    assert bad.passed is False and bad.failure_category == "reasoning_error"


@pytest.mark.parametrize(
    ("cls", "default"),
    [
        (ExactMatch, 1.0),
        (TokenF1, 0.5),
        (RougeL, 0.5),
        (Bleu, 0.3),
        (Levenshtein, 0.8),
        (JaroWinkler, 0.9),
        (Jaccard, 0.5),
        (SorensenDice, 0.5),
        (Cosine, 0.7),
        (EmbeddingSimilarity, 0.8),
    ],
)
def test_default_thresholds_and_skip_without_reference(cls, default):
    evaluator = cls(name="m")
    assert evaluator.threshold == default
    score = one(evaluator, {"subject_id": "c1", "output_text": "x"})
    assert score.status == "skipped" and "expected_output" in score.explanation


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.5", True])
def test_threshold_must_be_a_number_in_unit_interval(bad):
    with pytest.raises(ValueError, match="threshold"):
        TokenF1(name="m", threshold=bad)


def test_character_metrics_ignore_case_by_default():
    assert one(JaroWinkler(name="j"), subject("martha", "MARHTA")).value == pytest.approx(
        0.961, abs=1e-3
    )
    strict = one(JaroWinkler(name="j", ignore_case=False), subject("martha", "MARHTA"))
    assert strict.value == 0.0
    assert one(Levenshtein(name="l"), subject("Hello   World", "hello world")).value == 1.0


def test_sorensen_dice_rejects_unknown_unit():
    with pytest.raises(ValueError, match="tokens or char_bigrams"):
        SorensenDice(name="d", unit="chars")


def test_structured_expected_output_is_compared_as_json_text():
    score = one(ExactMatch(name="e"), subject('{"a": 1}', {"a": 1}))
    assert score.passed is True


def test_embedding_similarity_local_default_is_offline_and_deterministic():
    evaluator = EmbeddingSimilarity(name="emb")
    score = one(evaluator, subject("Your refund was issued.", "Your refund was issued."))
    assert score.value == pytest.approx(1.0) and score.passed is True
    low = one(evaluator, subject("Shipping takes five days.", "Your refund was issued."))
    assert low.passed is False and low.value < 0.5


def test_embedding_similarity_through_litellm_and_the_local_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    output, reference = "refund issued today", "refund issued yesterday"
    expected = cosine_of_vectors(embedding_for(output), embedding_for(reference))
    with LLMTestServer() as server:
        evaluator = EmbeddingSimilarity(
            name="emb", model="openai/text-embedding-test", api_base=server.api_base, threshold=0.5
        )
        score = one(evaluator, subject(output, reference))
        again = one(evaluator, subject(output, reference))  # both texts cached: no new request
        requests = server.stats["embedding_requests"]
    assert score.status == "completed"
    assert score.value == pytest.approx(expected)
    assert score.passed is (expected >= 0.5)
    assert again.value == score.value
    assert requests == 1


def test_embedding_similarity_provider_failure_is_an_error_score(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    evaluator = EmbeddingSimilarity(
        name="emb",
        model="openai/text-embedding-test",
        api_base="http://127.0.0.1:9/v1",
        timeout_s=2,
    )
    score = one(evaluator, subject("a", "b"))
    assert score.status == "error" and score.passed is None
    assert "openai/text-embedding-test" in score.explanation


def test_reference_module_does_not_import_litellm():
    import subprocess
    import sys

    code = "import sys, assay.evaluators.reference; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_bit_parallel_lcs_and_levenshtein_agree_with_the_textbook_tables():
    import random

    from assay.evaluators.similarity import lcs_length_table, levenshtein_distance_table

    rng = random.Random(7)
    for _ in range(2000):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 14)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 14)))
        assert levenshtein_distance(a, b) == levenshtein_distance_table(a, b), (a, b)
        assert lcs_length(a, b) == lcs_length_table(a, b), (a, b)
    words_a, words_b = "the cat sat on the mat".split(), "a cat is on a mat".split()
    assert lcs_length(words_a, words_b) == lcs_length_table(words_a, words_b) == 3
