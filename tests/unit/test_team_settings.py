"""`storage.instance`, `workers.executor` and the provider limits: what assay writes for Dagster,
what the engine is given, and the one clear line a user gets for a half-configured team stack.
No services here (tests/unit/test_shared_provider_limits.py and
tests/integration/test_team_stack.py run the real ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assay.config import ConfigError, load_config
from assay.llm.configured import configured_engine
from assay.runtime import DAGSTER_YAML, AssayHome, ensure_home
from tests.support.cli import assay, one_line, user_env

PG_URL = "postgresql+psycopg2://assay@db.internal:5432/assay"


def _home(tmp_path: Path, config_text: str, monkeypatch) -> tuple[AssayHome, Path]:
    config = tmp_path / "assay.yaml"
    config.write_text(config_text)
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))  # restored after: ensure_home sets it
    return AssayHome(tmp_path / "home"), config


def test_no_storage_settings_write_the_same_dagster_yaml_as_before(tmp_path, monkeypatch):
    home, _ = _home(tmp_path, "judge: {model: sim/judge}\n", monkeypatch)
    ensure_home(home)
    assert (home.dagster_home / "dagster.yaml").read_text() == DAGSTER_YAML


def test_postgres_instance_names_the_variable_never_the_address(tmp_path, monkeypatch):
    home, _ = _home(tmp_path, "storage:\n  instance: postgres\n", monkeypatch)
    monkeypatch.setenv("ASSAY_PG_URL", PG_URL)
    ensure_home(home)
    text = (home.dagster_home / "dagster.yaml").read_text()
    written = yaml.safe_load(text)
    assert written["storage"] == {"postgres": {"postgres_url": {"env": "ASSAY_PG_URL"}}}
    assert "db.internal" not in text
    # The daemon's queue: at most 4 runs, 2 per job and 2 per backfill.
    runs = written["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == 4
    assert {(limit["key"], limit["limit"]) for limit in runs["tag_concurrency_limits"]} == {
        ("assay/job", 2), ("dagster/backfill", 2)}
    assert written["concurrency"]["pools"] == {"default_limit": 1}  # the warehouse's one writer, as before


def test_every_job_carries_its_name_for_the_queue():
    from assay.orchestration.jobs import ALL_JOBS, JOB_TAG

    assert {job.name: job.run_tags.get(JOB_TAG) for job in ALL_JOBS} == {job.name: job.name for job in ALL_JOBS}


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("storage:\n  instance: postgres\n", {}, "key `storage.instance`: postgres needs ASSAY_PG_URL"),
    ("storage:\n  instance: postgres\n", {"ASSAY_PG_URL": "postgresql://assay@db:5432/assay"},
     "ASSAY_PG_URL must start with postgresql+psycopg2://"),
    ("storage:\n  instance: mysql\n", {}, "key `storage.instance`: Input should be 'sqlite' or 'postgres'"),
    ("workers:\n  executor: celery\n", {"ASSAY_REDIS_URL": "redis://127.0.0.1:6379/0"},
     "key `workers`: executor: celery needs storage.instance: postgres"),
    ("storage:\n  instance: postgres\nworkers:\n  executor: celery\n", {"ASSAY_PG_URL": PG_URL},
     "key `workers.executor`: celery needs ASSAY_REDIS_URL"),
])
def test_a_half_configured_team_stack_is_one_clear_error(tmp_path, monkeypatch, text, env, expected):
    for key in ("ASSAY_PG_URL", "ASSAY_REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "assay.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert f"{path}:" in str(info.value)


def test_assay_commands_refuse_a_postgres_instance_without_its_url(tmp_path):
    """As a user meets it: `assay run` with the setting but not the variable exits 2 with one
    line, and writes no dagster.yaml that would point elsewhere."""
    config = tmp_path / "assay.yaml"
    config.write_text("storage:\n  instance: postgres\n")
    result = assay("run", cwd=tmp_path, env=user_env(tmp_path / "home", config), timeout_s=120)
    assert result.returncode == 2, result.stderr
    assert "postgres needs ASSAY_PG_URL" in one_line(result.stderr)
    assert not (tmp_path / "home" / "dagster" / "dagster.yaml").exists()


def test_provider_limits_without_redis_cap_each_run(tmp_path, monkeypatch):
    """One machine, no Redis: nobody to share with, so a run keeps to the provider's limit
    itself; with ASSAY_REDIS_URL the run keeps its own 32 and takes the shared 64 from Redis."""
    home, config = _home(
        tmp_path,
        "judge:\n  model: openai/judge\n  max_concurrency: 32\n  provider_max_concurrency: 16\n"
        "  provider_requests_per_minute: 600\n  timeout_s: 20\n"
        "  per_model:\n    openai/other: {max_concurrency: 4}\n",
        monkeypatch,
    )
    monkeypatch.delenv("ASSAY_REDIS_URL", raising=False)
    alone = configured_engine(load_config(config), home)
    assert (alone.default_limits.max_concurrency, alone.default_limits.requests_per_minute) == (16, 600)
    assert alone.default_shared_limit is None
    monkeypatch.setenv("ASSAY_REDIS_URL", "redis://127.0.0.1:6379/0")
    shared = configured_engine(load_config(config), home)
    assert shared.default_limits.max_concurrency == 32
    limit = shared.default_shared_limit
    assert (limit.max_concurrency, limit.requests_per_minute, limit.lease_s) == (16, 600, 30.0)
    assert shared.shared_limits["openai/other"] is None  # per_model replaces the judge's limits
