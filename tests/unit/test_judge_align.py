"""Issue 19, item 4: `assay judge align EVALUATOR` against the local server scripted as a
judge that errs on one kind of item unless its prompt carries a graded example of it: the
held-out kappa rises, the report says by how much with its interval and lists the examples,
and the new version is written; with examples that do not help, nothing is written."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

import pytest
import yaml

from assay.config import load_config
from assay.contracts.call import CALL_JSON_COLUMNS, CallRecord
from assay.lake import Lake
from assay.testing.llm_server import Faults, LLMTestServer
from tests.support.cli import assay, user_env

PASS = '{"passed": true, "label": "pass", "reason": "meets the policy"}'
FAIL = '{"passed": false, "label": "fail", "reason": "breaks the policy"}'
RESPONSE = r"UNTRUSTED response \w+>>>\n[^\n]*"
REFUND_EXAMPLE = r"UNTRUSTED example_\d+ \w+>>>\n(?:input: [^\n]*\n)?output: [^\n]*REFUND"
CONFIG = """\
project: {{app: shop}}
judge: {{model: openai/judge-1, params: {{api_base: "{api_base}"}}}}
evaluators:
  # the support policy, as a rubric
  - name: policy
    type: custom_rubric
    params:
      criteria: The reply follows the support policy (no refunds promised, polite).
candidates:
  - candidate_id: current
    model: openai/model-a
    is_baseline: true
"""


def labelled_world(tmp_path, config_text: str, calls: list[tuple[str, str, bool]], *, evaluator: str, app: str,
                   context: list[str] | None = None):
    """(assay.yaml, ASSAY_HOME) of a user whose judged calls — (input, output, people's verdict)
    — are in sampled_calls, with the people's labels for `evaluator` in labels.csv."""
    from assay.assets.sampled_calls import SAMPLED_SCHEMA

    config = tmp_path / "assay.yaml"
    config.write_text(textwrap.dedent(config_text))
    home = tmp_path / "home"
    ts = datetime(2026, 11, 24, 9, tzinfo=UTC)
    rows = [CallRecord(call_id=f"call-{i:02d}", ts=ts, app=app, feature="support", model="openai/model-a",
                       input_text=question, context=context, output_text=answer).model_dump() | {"sample_reason": "hash"}
            for i, (question, answer, _) in enumerate(calls)]
    Lake(home / "lake").write_partition("sampled_calls", rows, partition={"day": "2026-11-24"}, schema=SAMPLED_SCHEMA,
                                        json_columns=CALL_JSON_COLUMNS)
    (tmp_path / "labels.csv").write_text("call_id,evaluator,label\n" + "".join(
        f"call-{i:02d},{evaluator},{'pass' if ok else 'fail'}\n" for i, (*_, ok) in enumerate(calls)))
    return config, home


def run_align(tmp_path, judge: Faults, world, evaluator: str, args: tuple[str, ...] = ()):
    """`assay labels import` then `assay judge align EVALUATOR` against the scripted judge, in the
    user's folder made by `world(api_base)`: (the run, assay.yaml, its text before, requests
    the server answered)."""
    with LLMTestServer(judge) as server:
        config, home = world(server.api_base)
        env = user_env(home, config, OPENAI_API_KEY="test")
        imported = assay("labels", "import", "labels.csv", cwd=tmp_path, env=env)
        assert imported.returncode == 0, imported.stderr
        before = config.read_text()
        run = assay("judge", "align", evaluator, *args, cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
        return run, config, before, server.stats["requests"]


def adopted_report(run, config, paid: int) -> dict:
    """The JSON report of an alignment of 30 labelled calls, 10 of one kind the judge passed and
    people failed, that learnt them all from the other folds; the new version written."""
    report = json.loads(run.stdout)
    assert (report["labelled"], report["disagreements"], report["folds"]) == (30, 10, 5)
    # Before: the judge passes 10 calls people fail: kappa (2/3 - 4/9) / (5/9).
    assert report["before"]["cohen_kappa"] == pytest.approx(0.4)
    assert report["after"]["cohen_kappa"] == pytest.approx(1.0)  # held out: every fold learnt from the others
    gain, low, high = report["kappa_gain"]
    assert gain == pytest.approx(0.6) and 0 < low <= gain <= high
    assert report["adopted"] is True and report["written_to"] == str(config)
    assert paid == 30 + 30  # the current judge on 30 calls, then each call once held out
    return report


def _world(tmp_path, api_base: str):
    # 10 promise a refund (people: fail), 10 are rude (fail), 10 are fine (pass).
    outputs = [(f"We will REFUND order {i} in full, BAD for policy", False) for i in range(10)]
    outputs += [(f"Go away about order {i}, BAD manners", False) for i in range(10)]
    outputs += [(f"Order {i} ships tomorrow, thank you", True) for i in range(10)]
    calls = [(f"where is order {i}?", text, ok) for i, (text, ok) in enumerate(outputs)]
    return labelled_world(tmp_path, CONFIG.format(api_base=api_base), calls, evaluator="policy", app="shop")


def _judge(*, learns: bool) -> Faults:
    blind_spot = {"when": RESPONSE + "REFUND", "reply": PASS} | ({"unless": REFUND_EXAMPLE} if learns else {})
    return Faults(rules=[blind_spot, {"when": RESPONSE + "BAD", "reply": FAIL}, {"when": RESPONSE, "reply": PASS}])


def _align(tmp_path, *, learns: bool, args: tuple[str, ...] = ()):
    return run_align(tmp_path, _judge(learns=learns), lambda api_base: _world(tmp_path, api_base), "policy", args)


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_align_adopts_a_version_that_does_better_on_held_out_labels(tmp_path):
    run, config, before, paid = _align(tmp_path, learns=True, args=("--format", "json"))
    report = adopted_report(run, config, paid)
    # Every fold built its examples from the other folds' mistakes: all refund promises.
    assert all(ex for ex in report["fold_examples"])
    assert all("REFUND" in ex["output"] and ex["verdict"] == "fail" for ex in report["examples"])
    written = yaml.safe_load(config.read_text())["evaluators"][0]["params"]["examples"]
    assert written == report["examples"]
    assert config.read_text().startswith(before.split("  # the support policy")[0])
    assert "# the support policy, as a rubric" in config.read_text()
    new = load_config(config)  # still a valid config, and the new version is a new series
    from assay.assets.scoring import build_evaluators

    assert build_evaluators(new.evaluators, new.judge.model)["policy"].version == report["new_version"]
    assert report["new_version"] != report["old_version"]


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_align_does_not_adopt_examples_that_do_not_help(tmp_path):
    run, config, before, _ = _align(tmp_path, learns=False)
    assert "kappa before 0.400" in run.stdout and "kappa after  0.400" in run.stdout
    assert "change +0.000 [+0.000, +0.000]" in run.stdout
    assert "not adopted: held-out kappa lower bound" in run.stdout
    assert config.read_text() == before
