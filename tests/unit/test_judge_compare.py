"""Issue 19, item 5: `assay judge compare EVALUATOR --model NEW` re-grades a stored sample of
judged calls with the new model against the local OpenAI-compatible server, reports agreement
and each judge's kappa against people, pays for each call once, and leaves assay.yaml as it is."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

import pytest

from assay.calibration import binary_series_figures
from assay.contracts.call import CALL_JSON_COLUMNS, CallRecord
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.lake import Lake
from assay.testing.llm_server import Faults, LLMTestServer
from tests.support.cli import assay, one_line, user_env

DAY = "2026-11-24"
CONFIG = """\
project: {{app: shop}}
judge: {{model: openai/judge-old, params: {{api_base: "{api_base}"}}}}
evaluators:
  - name: helpful
    type: llm_judge
    params: {{rubric: answers_query}}
  - name: no_refusal
    type: refusal
candidates:
  - candidate_id: current
    model: openai/model-a
    params: {{api_base: "{api_base}"}}
    is_baseline: true
"""


def _world(tmp_path, api_base: str, calls: int = 12):
    from assay.assets.sampled_calls import SAMPLED_SCHEMA

    config = tmp_path / "assay.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(api_base=api_base)))
    home = tmp_path / "home"
    lake = Lake(home / "lake")
    ts = datetime(2026, 11, 24, 9, tzinfo=UTC)
    rows = [CallRecord(call_id=f"call-{i:02d}", ts=ts, app="shop", feature="faq", model="openai/model-a",
                       input_text=f"question {i}", output_text=f"answer {i}",
                       messages=[{"role": "user", "content": f"question {i}"}]).model_dump() | {"sample_reason": "hash"}
            for i in range(calls)]
    lake.write_partition("sampled_calls", rows, partition={"day": DAY}, schema=SAMPLED_SCHEMA, json_columns=CALL_JSON_COLUMNS)
    old = {f"call-{i:02d}": i % 3 != 0 for i in range(calls)}
    scores = [Score(subject_id=sid, evaluator="helpful", evaluator_version="helpful.v1", metric="helpful", passed=passed,
                    status="completed", judge_model="openai/judge-old", scored_at=ts).model_dump() for sid, passed in old.items()]
    lake.write_partition("call_scores", scores, partition={"day": DAY}, schema=SCORE_ARROW_SCHEMA, json_columns=SCORE_JSON_COLUMNS)
    people = {f"call-{i:02d}": i % 2 == 0 for i in range(8)}  # 8 of the 12 calls labelled
    (tmp_path / "labels.csv").write_text("call_id,evaluator,label\n" + "".join(
        f"{sid},helpful,{'pass' if ok else 'fail'}\n" for sid, ok in people.items()))
    return config, home, old, people


@pytest.mark.integration  # `assay` subprocesses: not in make test-fast
def test_compare_regrades_once_reports_agreement_and_kappa_against_people(tmp_path):
    with LLMTestServer(Faults()) as server:
        config, home, old, people = _world(tmp_path, server.api_base)
        env = user_env(home, config, OPENAI_API_KEY="test")
        assert assay("labels", "import", "labels.csv", cwd=tmp_path, env=env).returncode == 0
        before = config.read_text()
        first = assay("judge", "compare", "helpful", "--model", "openai/judge-new", "--format", "json",
                      cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert server.stats["requests"] == 12  # one judge call per re-graded subject
        report = json.loads(first.stdout)
        assert (report["old_model"], report["new_model"]) == ("openai/judge-old", "openai/judge-new")
        assert (report["sampled"], report["regraded"], report["labelled"]) == (12, 12, 8)
        assert (report["paid_requests"], report["cache_hits"]) == (12, 0)
        # The stored judge against people, computed here from what the test stored.
        expected = binary_series_figures([(people[s], old[s]) for s in sorted(people)], resamples=2000)
        assert report["old_vs_people"]["cohen_kappa"] == pytest.approx(expected["cohen_kappa"])
        assert report["new_vs_people"]["n"] == 8 and report["agreement"]["n"] == 12
        again = assay("judge", "compare", "helpful", "--model", "openai/judge-new", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert server.stats["requests"] == 12  # the second comparison is all cache hits
        assert "re-graded 12; paid requests 0, cache hits 12" in again.stdout
        assert f"agreement old vs new: {report['agreement']['accuracy']:.3f} of verdicts" in again.stdout
        assert "against people (8 labelled calls)" in again.stdout
        assert config.read_text() == before
        refused = assay("judge", "compare", "no_refusal", "--model", "openai/judge-new", cwd=tmp_path, env=env)
        assert refused.returncode == 1
        assert "evaluator 'no_refusal' (type refusal) is not an LLM judge; LLM judges: helpful" in one_line(refused.stderr)
