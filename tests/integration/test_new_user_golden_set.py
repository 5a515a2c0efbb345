"""A team that only wants to compare models on its own test set: no logs landed, only golden
cases and models behind the local OpenAI-compatible server; one candidate breaks mid-run."""

from __future__ import annotations

import json

import pytest

from assay.testing.llm_server import LLMTestServer
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY, lake_rows
from tests.support.cli import user_env

pytestmark = pytest.mark.integration


def test_a_golden_set_alone_compares_models_and_a_broken_candidate_stops_nothing(tmp_path, monkeypatch, capsys):
    """"Compare these models on our test set": no logs landed, only golden cases. One candidate's
    outputs file vanishes after the config was checked: its replay fails, the others are
    decided, and it gets its own decision naming the cause."""
    from assay.orchestration import preflight
    from assay.orchestration.cli import main

    with LLMTestServer(answers=user_world.SCRIPTED_MODELS) as server:
        project = tmp_path / "travel-bot"
        config = user_world.write_project(project, server.api_base,
                                          [{"candidate_id": "offline", "recorded": "offline-outputs.jsonl"}])
        outputs = project / "offline-outputs.jsonl"
        outputs.write_text("".join(json.dumps({"case_id": c["id"], "output": "See My Trips.", "latency_ms": 800,
                                               "cost_usd": 0.0001}) + "\n" for c in user_world.golden_cases()))
        home = tmp_path / "assay-home"
        for key, value in user_env(home, config, OPENAI_API_KEY=FAKE_KEY).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored after: ensure_home sets it
        checked = preflight.check_config

        def check_then_lose_the_file(*args, **kwargs):
            found = checked(*args, **kwargs)
            outputs.unlink()  # gone after it was checked: the replay step finds nothing
            return found

        monkeypatch.setattr(preflight, "check_config", check_then_lose_the_file)
        monkeypatch.chdir(project)
        assert main(["run"]) == 0
        err = capsys.readouterr().err
        assert "no production logs landed: comparing the candidates on 12 golden" in err
        (failure,) = [line for line in err.splitlines() if "FAIL candidate_job" in line]
        assert "failed at candidate_outputs:" in failure and "recorded-outputs file not found" in failure
        assert "(run " in failure and "full log: " in failure
        assert main(["report", "--format", "json"]) == 0
        decisions = {d["candidate_id"]: d for d in json.loads(capsys.readouterr().out)}
        assert {c: d["verdict"] for c, d in decisions.items()} == {
            "challenger": "approved", "refuser": "rejected", "offline": "insufficient_evidence"}
        reasons = " ".join(decisions["offline"]["reasons"])
        assert "candidate_job run " in reasons and "failed at candidate_outputs:" in reasons, reasons
        assert "recorded-outputs file not found" in reasons, reasons
        assert not lake_rows(home, "raw_calls")
