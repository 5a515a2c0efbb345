"""Issue 19, item 4 for the judges a user configures most: `assay judge align` on a built-in
rubric (`type: faithfulness`, an `llm_judge` preset) from the user's own config, against the
local server scripted as a judge that passes wrong opening hours unless its prompt carries a
graded example of them. The held-out kappa rises with its interval, the examples (the rubric's
own sections: question, context, response) are listed and written, the new version is a new
series; with examples that do not help nothing is written; a pairwise judge is refused in one
line naming why."""

from __future__ import annotations

import pytest
import yaml
from assay.evaluators.llm_judge import LLMJudge, PairwiseJudge

from assay.config import load_config
from assay.testing.llm_server import Faults
from tests.support.cli import assay, one_line, user_env
from tests.unit.test_judge_align import RESPONSE, adopted_report, labelled_world, run_align

PASS = '{"passed": true, "score": 1.0, "label": "supported", "reason": "every claim is in the context"}'
FAIL = '{"passed": false, "score": 0.0, "label": "unsupported", "reason": "a claim is not in the context"}'
# A graded example of the blind spot: its response states opening hours and people failed it.
HOURS_EXAMPLE = r"UNTRUSTED example_\d+ \w+>>>\n(?:[^\n]*\n)*?response: [^\n]*opens at[^\n]*\nverdict: fail"
CONFIG = """\
project: {{app: clinic}}
judge: {{model: openai/judge-1, params: {{api_base: "{api_base}"}}}}
evaluators:
  # is every claim in the retrieved context?
  - name: grounded
    type: faithfulness
  - name: preferred
    type: pairwise
candidates:
  - candidate_id: current
    model: openai/model-a
    is_baseline: true
"""


def _world(tmp_path, api_base: str):
    context = ["The Elm Street clinic opens at 9 am on weekdays.", "Parking is paid, 2 EUR an hour."]
    # 10 state the wrong hours (people: fail), 10 invent free parking (fail), 10 are grounded (pass).
    calls = [(f"When do you open on day {i}?", f"The clinic opens at 7 am on day {i}.", False) for i in range(10)]
    calls += [(f"Where do I park for visit {i}?", f"Parking is free for visit {i}.", False) for i in range(10)]
    calls += [(f"Is visit {i} on a weekday?", f"Yes, and visit {i} is at the Elm Street clinic.", True) for i in range(10)]
    return labelled_world(tmp_path, CONFIG.format(api_base=api_base), calls, evaluator="grounded", app="clinic",
                          context=context)


def _judge(*, learns: bool) -> Faults:
    blind_spot = {"when": RESPONSE + "opens at", "reply": PASS} | ({"unless": HOURS_EXAMPLE} if learns else {})
    # Shown an example, it checks the hours against the context (and fails them).
    checks_hours = {"when": RESPONSE + "opens at", "reply": FAIL}
    return Faults(rules=[blind_spot, checks_hours, {"when": RESPONSE + "free", "reply": FAIL},
                         {"when": RESPONSE, "reply": PASS}])


def _align(tmp_path, *, learns: bool, args: tuple[str, ...] = ()):
    return run_align(tmp_path, _judge(learns=learns), lambda api_base: _world(tmp_path, api_base), "grounded", args)


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_align_a_builtin_rubric_adopts_examples_that_help_on_held_out_labels(tmp_path):
    run, config, before, paid = _align(tmp_path, learns=True, args=("--format", "json"))
    report = adopted_report(run, config, paid)  # the 10 wrong hours, passed before, learnt
    # The examples are in the rubric's own shape: question, context, response, verdict.
    assert report["examples"] and all(set(ex) == {"question", "context", "response", "verdict"}
                                      and "opens at" in ex["response"] and ex["verdict"] == "fail"
                                      for ex in report["examples"])
    assert report["old_version"] == "faithfulness.v1"
    assert report["new_version"].startswith("faithfulness.v1.e")
    entry = yaml.safe_load(config.read_text())["evaluators"][0]
    assert entry["type"] == "faithfulness" and entry["params"]["examples"] == report["examples"]
    assert "# is every claim in the retrieved context?" in config.read_text()
    assert config.read_text().endswith(before.split("  - name: preferred")[1])  # the rest untouched
    new = load_config(config)
    from assay.assets.scoring import build_evaluators

    assert build_evaluators(new.evaluators, new.judge.model)["grounded"].version == report["new_version"]


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_align_a_builtin_rubric_does_not_adopt_examples_that_do_not_help(tmp_path):
    run, config, before, _ = _align(tmp_path, learns=False)
    assert "kappa before 0.400" in run.stdout and "kappa after  0.400" in run.stdout
    assert "change +0.000 [+0.000, +0.000]" in run.stdout
    assert "response: The clinic opens at 7 am" in run.stdout  # the examples it tried are listed
    assert "not adopted: held-out kappa lower bound" in run.stdout
    assert config.read_text() == before


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_align_refuses_a_pairwise_judge_in_one_line(tmp_path):
    config, home = _world(tmp_path, "http://127.0.0.1:9/v1")
    run = assay("judge", "align", "preferred", cwd=tmp_path, env=user_env(home, config, OPENAI_API_KEY="test"))
    assert run.returncode == 1
    line = one_line(run.stderr)
    assert "'preferred' (type pairwise) is not aligned" in line and "winners of a pair" in line


def test_builtin_rubric_examples_are_fenced_versioned_and_checked():
    plain = LLMJudge(name="grounded", rubric="faithfulness")
    example = {"question": "When do you open?", "context": ["Opens at 9 am."], "response": "Opens at 7 am.",
               "verdict": "fail", "reason": "wrong hours"}
    taught = LLMJudge(name="grounded", rubric="faithfulness", examples=[example])
    assert plain.version == "faithfulness.v1" and taught.version.startswith("faithfulness.v1.e")
    subject = {"subject_id": "c1", "input_text": "Open on Sunday?", "context": ["Closed on Sundays."],
               "output_text": "We are closed on Sundays."}
    prompt = taught.request_for(subject, default_model="openai/j").messages[1]["content"]
    assert "The example_N sections are graded examples" in prompt
    assert "question: When do you open?\ncontext: [1] Opens at 9 am.\nresponse: Opens at 7 am.\nverdict: fail" in prompt
    assert prompt.index("example_1") < prompt.index("UNTRUSTED response")
    # example_from gives the rubric's sections of a subject: what align writes.
    assert taught.example_from(subject, False) == {"question": "Open on Sunday?", "context": ["Closed on Sundays."],
                                                   "response": "We are closed on Sundays.", "verdict": "fail"}
    with pytest.raises(ValueError, match=r"examples\[0\]: keys \['answer', 'verdict'\]; valid: the rubric's sections "
                                         r"\(question, context, response\)"):
        LLMJudge(name="grounded", rubric="faithfulness", examples=[{"answer": "x", "verdict": "fail"}])
    with pytest.raises(ValueError, match="verdict must be pass/fail"):
        LLMJudge(name="grounded", rubric="faithfulness", examples=[{"response": "x", "verdict": "meh"}])
    with pytest.raises(ValueError, match="a pairwise judge takes no examples"):
        PairwiseJudge(name="preferred", examples=[{"response_a": "x", "verdict": "pass"}])
