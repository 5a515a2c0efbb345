"""Degenerate output (assay.detectors.degenerate, the `degenerate_output` evaluator): constant junk is flagged, by `degenerate_output`
and by `not_gibberish`; real code, JSON, markdown tables and lists written here are not."""

import pytest
from assay.evaluators.degenerate import DegenerateOutput
from assay.evaluators.registry import build_evaluator
from assay.evaluators.text_gibberish import NotGibberish

from assay.detectors.degenerate import degenerate_flags
from tests.support.degenerate_samples import CONSTANT_JUNK, REAL_OUTPUTS


def subject(text: str) -> dict:
    return {"subject_id": "s1", "output_text": text}


@pytest.mark.parametrize("name", sorted(CONSTANT_JUNK))
def test_constant_junk_is_flagged(name):
    text = CONSTANT_JUNK[name]
    assert degenerate_flags(text), name
    [score] = DegenerateOutput(name="degenerate").evaluate(subject(text))
    assert (score.passed, score.value, score.failure_category) == (False, 1.0, "format_break")
    assert score.explanation.startswith("degenerate output: ")


@pytest.mark.parametrize("name", sorted(REAL_OUTPUTS))
def test_real_code_json_tables_and_lists_are_not_flagged(name):
    text = REAL_OUTPUTS[name]
    assert degenerate_flags(text) == [], name
    [score] = DegenerateOutput(name="degenerate").evaluate(subject(text))
    assert (score.passed, score.value) == (True, 0.0)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("<unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad>", "repeated_tokens"),
        ("]] }} )) [[ {{ (( ]] }} <|im_end|> ]] }} )) [[ {{ (( ]] }} <|im_end|> ]] }} ))", "bracket_soup"),
        ("Answer: ;;;;:::::,,,,,....;;;;]]]]", "punctuation_run"),
        ("{ ( [ ] ) } ( ] { ) [ } ( ] { ) [ } done", "bracket_soup"),
    ],
)
def test_each_shape_is_named(text, kind):
    assert kind in [f.kind for f in degenerate_flags(text)]


def test_not_gibberish_no_longer_passes_bracket_junk():
    junk = CONSTANT_JUNK["brackets_and_code_tokens"]
    [score] = NotGibberish(name="readable").evaluate(subject(junk))
    assert (score.passed, score.value) == (False, 0.0)
    assert "degenerate: bracket_soup" in score.explanation
    [score] = NotGibberish(name="readable").evaluate(subject(REAL_OUTPUTS["markdown_table"]))
    assert score.passed


def test_degenerate_output_is_in_the_catalogue_and_offline():
    evaluator = build_evaluator("junk", "degenerate_output")
    assert isinstance(evaluator, DegenerateOutput) and evaluator.offline
