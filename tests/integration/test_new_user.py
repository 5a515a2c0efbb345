"""A new team's first day with assay, as they would live it: their own config, golden set, logs
exported from three tools, and models behind an OpenAI-compatible HTTP server; every step is
the `assay` command run as a subprocess, its exit status and counts checked."""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime, timedelta

import pytest

from assay.testing.llm_server import Faults, LLMTestServer
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY, lake_rows
from tests.support.cli import assay, user_env
from tests.support.launcher import COLD_ENV

pytestmark = pytest.mark.integration

# The judge model's answer to `assay suggest` (its prompt starts `RUBRIC: prompt_revision`).
SUGGESTED_TEMPLATE = ("You help travellers with {feature} questions. Always answer the question asked, with the "
                      "steps in My Trips; never refuse a booking, baggage or refund question.")
SUGGESTION_REPLY = json.dumps({"prompt_template": SUGGESTED_TEMPLATE,
                               "rationale": "The candidate refused every question; the template now asks for answers."})


def test_a_new_team_ingests_its_exports_and_decides_on_its_candidates(tmp_path):
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    faults = Faults(scripted={"RUBRIC: prompt_revision": [SUGGESTION_REPLY]})
    with LLMTestServer(faults, answers=user_world.SCRIPTED_MODELS, in_subprocess=True) as server:
        project = tmp_path / "travel-bot"
        config = user_world.write_project(project, server.api_base,
                                          templates={"refuser": "You help travellers with {feature} questions."})
        exports = user_world.write_exports(tmp_path / "exports", days)
        home = tmp_path / "assay-home"
        env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY)

        # The first command a fresh interpreter, as the team's shell starts it; the others forked
        # from the preloaded test launcher (tests/support/launcher.py), as in the other tests.
        checked = assay("validate-config", cwd=project, env=env | {COLD_ENV: "1"})
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith("ok: 4 evaluators, 3 candidates, 12 golden/red-team cases")

        ingested = assay("ingest", *(str(path) for path, _ in exports.values()), cwd=project, env=env)
        assert ingested.returncode == 0, ingested.stderr
        per_file = {line.split(": ", 1)[0]: line for line in ingested.stdout.splitlines()}
        for path, calls in exports.values():
            assert f" calls={calls} " in per_file[str(path)], ingested.stdout
        expected_calls = sum(calls for _, calls in exports.values())
        assert len(lake_rows(home, "raw_calls")) == expected_calls == 47

        ran = assay("run", cwd=project, env=env)
        assert ran.returncode == 0, ran.stderr
        # No demo in the product path: no ground truth read, no detection table printed.
        assert "injected" not in ran.stdout + ran.stderr and "demo" not in ran.stdout
        assert not (home / "demo_truth").exists()
        assert len(lake_rows(home, "raw_calls")) == 47  # `run` re-reads nothing twice

        reported = assay("report", "--format", "json", cwd=project, env=env)
        assert reported.returncode == 0, reported.stderr
        decisions = {d["candidate_id"]: d for d in json.loads(reported.stdout)}
        assert set(decisions) == {"challenger", "refuser"}
        assert decisions["challenger"]["verdict"] == "approved", decisions["challenger"]["reasons"]
        assert decisions["refuser"]["verdict"] == "rejected", decisions["refuser"]["reasons"]
        assert all(d["baseline_id"] == "current" for d in decisions.values())

        cases = lake_rows(home, "regression_dataset")
        version = decisions["challenger"]["dataset_version"]
        current = [c for c in cases if c["dataset_version"] == version]
        assert sum(1 for c in current if c["source"] == "golden") == 12
        assert any(c["source"] != "golden" for c in current)  # the logs' refusals became cases

        assert assay("gate", "challenger", cwd=project, env=env).returncode == 0
        refused = assay("gate", "refuser", cwd=project, env=env)
        assert refused.returncode == 1 and "REJECTED" in refused.stderr
        assert assay("gate", "nobody", cwd=project, env=env).returncode == 4
        # The judge and the candidates were reached over HTTP, never through `sim/`.
        assert server.stats["requests"] > 0

        # A revised prompt for the refuser from its regressed cases, asked of the judge model:
        # shown as a diff and dismissed, nothing written; then accepted, from the engine's cache.
        before = config.read_text()
        shown = assay("suggest", "refuser", cwd=project, env=env, stdin_text="n\n")
        assert shown.returncode == 0, shown.stderr
        assert f"+{SUGGESTED_TEMPLATE}" in shown.stdout and "-You help travellers with {feature} questions." in shown.stdout
        assert "dismissed: nothing written" in shown.stdout and config.read_text() == before
        asked = server.stats["requests"]
        accepted = assay("suggest", "refuser", "--accept", "--id", "refuser-revised", cwd=project, env=env)
        assert accepted.returncode == 0, accepted.stderr
        assert "accepted: added candidate refuser-revised" in accepted.stdout
        assert server.stats["requests"] == asked  # the same question: answered from the cache
        changed = [line for line in difflib.ndiff(before.splitlines(), config.read_text().splitlines())
                   if line[:2] in ("- ", "+ ")]
        assert all(line.startswith("+ ") for line in changed)  # lines added, none changed or removed
        assert "+ - candidate_id: refuser-revised" in changed
        suggestions = sorted(lake_rows(home, "prompt_suggestions"), key=lambda r: r["created_at"])
        assert [(r["decision"], r["new_candidate_id"]) for r in suggestions] == [
            ("dismissed", None), ("accepted", "refuser-revised")]
        evidence = json.loads(suggestions[1]["evidence"])
        assert [e["is_critical"] for e in evidence[:2]] == [True, True]  # the critical regressions first
        assert all("no_refusal" in {f["evaluator"] for f in e["failing_evaluators"]} for e in evidence)

        # The next run replays the accepted candidate with its template and decides it.
        rerun = assay("run", cwd=project, env=env)
        assert rerun.returncode == 0, rerun.stderr
        reported = assay("report", "--format", "json", cwd=project, env=env)
        decisions = {d["candidate_id"]: d for d in json.loads(reported.stdout)}
        revised = decisions["refuser-revised"]
        assert revised["verdict"] == "rejected", revised["reasons"]  # the same model still refuses
        assert revised["frontier"]["candidate_id"] == "refuser-revised"
        replays = [r for r in lake_rows(home, "candidate_outputs") if r["candidate_id"] == "refuser-revised"]
        paired = next(g for g in revised["gates"] if g["gate"] == "evidence")["n"]
        assert len(replays) == paired > 0
        prompt_version = f"v1-suggested-{suggestions[1]['suggestion_id'][:6]}"
        assert {r["prompt_version"] for r in replays} == {prompt_version}
        assert assay("gate", "refuser-revised", cwd=project, env=env).returncode == 1
