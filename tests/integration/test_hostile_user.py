"""What a user gets wrong on the run side ends in one clear line and a non-zero exit, with
nothing landed or stored: the `assay` command as a subprocess, as the user types it."""

from __future__ import annotations

import pytest

from tests.integration import user_world
from tests.support.cli import assay, one_line, user_env

pytestmark = pytest.mark.integration


def tree(folder) -> dict[str, int]:
    """Every file below `folder` with its size: what must not change."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


@pytest.fixture
def user(tmp_path):
    project = tmp_path / "travel-bot"
    config = user_world.write_project(project, "http://127.0.0.1:9/v1")
    home = tmp_path / "home"
    return project, config, home, user_env(home, config, OPENAI_API_KEY="x")


def edit(config, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        (("type: refusal", "type: refusl"), 2, "key `evaluators.1.type`: unknown evaluator type 'refusl'; did you mean 'refusal'?"),
        (("threshold: 0.05", "treshold: 0.05"), 2, "key `evaluators.3.params.treshold`: evaluator 'matches_reference'"),
        (("model: openai/model-refuser", "model: madeup/model-refuser"), 2,
         "key `candidates.2.model`: litellm does not know the provider of 'madeup/model-refuser'"),
        (("model: openai/model-refuser", "recorded: gone.jsonl"), 2,
         "key `candidates.2.recorded`: candidate 'refuser':"),
        (("golden_dir: golden", "golden_dir: goldn"), 1, "nothing to evaluate: no logs landed under"),
    ],
    ids=["unknown-type", "unknown-param", "unknown-provider", "missing-recorded-file", "nothing-to-evaluate"],
)
def test_a_bad_config_or_nothing_to_do_stops_run_before_it_starts(user, change, status, expected):
    project, config, home, env = user
    edit(config, *change)
    before = tree(home)
    result = assay("run", cwd=project, env=env, timeout_s=120)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert str(config) in result.stderr or "nothing to evaluate" in result.stderr
    assert tree(home / "landing") == before.get("landing", {}) == {}
    assert not (home / "lake").exists() and not (home / "dagster" / "storage").exists()


def test_other_mistakes_each_end_in_one_line(user, tmp_path):
    project, config, home, env = user
    cases = [
        (["run", "--day", "2026-13-45"], 1, "--day '2026-13-45' is not a date (YYYY-MM-DD)"),
        (["gate", "challenger"], 4, "no decisions yet"),
        (["report"], 1, "no decisions yet: run `assay run`"),
    ]
    for args, status, expected in cases:
        result = assay(*args, cwd=project, env=env, timeout_s=120)
        assert result.returncode == status, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert expected in result.stderr.strip().splitlines()[-1], (args, result.stderr)

    missing = assay("validate-config", cwd=project, env=env | {"ASSAY_CONFIG": str(tmp_path / "nope.yaml")})
    assert missing.returncode == 2
    assert one_line(missing.stderr) == f"assay: {tmp_path / 'nope.yaml'}: config file not found " \
                                       "(set ASSAY_CONFIG or run from a folder with assay.yaml)"
    assert not (home / "lake").exists()
