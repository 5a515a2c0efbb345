"""A team that starts by watching production: its own logs and config, no candidates, the
`assay` command run as a subprocess."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration import user_world
from tests.integration.user_world import lake_rows
from tests.support.cli import assay, user_env

pytestmark = pytest.mark.integration


def test_a_team_without_candidates_monitors_its_logs(tmp_path):
    """Most teams start by watching production before they compare models: `assay run` with no
    candidates scores the logs, builds the SLO marts, says there is nothing to decide and exits 0
    (so `assay run && ...` goes on) instead of failing on a missing baseline."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    exports = user_world.write_exports(tmp_path / "exports", [yesterday])
    project = tmp_path / "watch-only"
    project.mkdir()
    config = project / "assay.yaml"
    config.write_text("project: {app: travel-bot}\n"
                      "evaluators:\n  - {name: no_refusal, type: refusal}\n  - {name: reachable, type: provider_status}\n")
    home = tmp_path / "assay-home"
    env = user_env(home, config)
    path, calls = exports["litellm"]
    assert assay("ingest", str(path), cwd=project, env=env).returncode == 0

    ran = assay("run", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "nothing to decide" in ran.stdout and "Traceback" not in ran.stderr
    row = next(line.split() for line in ran.stdout.splitlines() if line.strip().startswith(yesterday.isoformat()))
    scores = lake_rows(home, "call_scores")
    failing = sum(1 for s in scores if s["passed"] is False)
    assert row == [yesterday.isoformat(), str(calls), "0", str(len(scores)), str(failing)]
    sampled = lake_rows(home, "sampled_calls")
    assert 0 < len(sampled) <= calls  # the default sample drops exact repeats
    assert len(scores) == 2 * len(sampled)  # both evaluators over every sampled call
    assert not (home / "lake" / "deploy_decisions").exists()
