"""A new team's first day with assay, as they would live it: their own config, golden set, logs
exported from three tools, and models behind an OpenAI-compatible HTTP server; every step is
the `assay` command run as a subprocess, its exit status and counts checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from assay.testing.llm_server import LLMTestServer
from tests.integration import user_world
from tests.support.cli import assay, user_env

pytestmark = pytest.mark.integration

# A fake credential: litellm's openai provider insists on one; the local server ignores it.
FAKE_KEY = "-".join(["local", "test", "server"])


def lake_rows(home, table: str) -> list[dict]:
    files = [p for p in (home / "lake" / table).glob("*=*/*.parquet")]
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def test_a_new_team_ingests_its_exports_and_decides_on_its_candidates(tmp_path):
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    with LLMTestServer(answers=user_world.SCRIPTED_MODELS, in_subprocess=True) as server:
        project = tmp_path / "travel-bot"
        config = user_world.write_project(project, server.api_base)
        exports = user_world.write_exports(tmp_path / "exports", days)
        home = tmp_path / "assay-home"
        env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY)

        checked = assay("validate-config", cwd=project, env=env)
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


def test_a_golden_set_alone_compares_models_without_any_logs(tmp_path):
    """"Compare these models on our test set": no logs landed, only golden cases."""
    with LLMTestServer(answers=user_world.SCRIPTED_MODELS, in_subprocess=True) as server:
        project = tmp_path / "travel-bot"
        config = user_world.write_project(project, server.api_base)
        home = tmp_path / "assay-home"
        env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY)

        ran = assay("run", cwd=project, env=env)
        assert ran.returncode == 0, ran.stderr
        assert "no production logs landed: comparing the candidates on 12 golden" in ran.stderr
        assert not (home / "lake" / "raw_calls").exists() or not lake_rows(home, "raw_calls")
        reported = json.loads(assay("report", "--format", "json", cwd=project, env=env).stdout)
        verdicts = {d["candidate_id"]: d["verdict"] for d in reported}
        assert verdicts == {"challenger": "approved", "refuser": "rejected"}
