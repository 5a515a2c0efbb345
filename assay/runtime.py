"""Process-wide settings assay needs before any heavy library is imported.

No component may phone home (docs/architecture.md, "Runtime: no network, no telemetry"): dbt's anonymous usage stats, Great
Expectations analytics and litellm's remote price map are switched off here, once, as
defaults a user can still override in the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PRIVACY_DEFAULTS = {
    # litellm downloads its price map at import unless told to use the bundled one.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
}


def apply_privacy_defaults() -> None:
    for key, value in PRIVACY_DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class AssayHome:
    """Every path assay writes below ASSAY_HOME (default `./.assay`)."""

    root: Path

    @classmethod
    def from_env(cls) -> AssayHome:
        return cls(Path(os.environ.get("ASSAY_HOME", ".assay")).resolve())

    @property
    def lake(self) -> Path | str:
        """`storage.lake` when assay.yaml sets it (a folder, or `s3://bucket/prefix`, exported
        as ASSAY_LAKE by `load_config`), else `<ASSAY_HOME>/lake`."""
        configured = os.environ.get("ASSAY_LAKE")
        if configured:
            return configured if "://" in configured else Path(configured)
        return self.root / "lake"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def warehouse(self) -> Path:
        """The DuckDB file readers of the marts open: the build file below, or, with
        `storage.warehouse: lake`, the latest copy published to the lake (fetched once per
        published version; `assay.warehouse_store`)."""
        if os.environ.get("ASSAY_WAREHOUSE") == "lake":
            from assay.warehouse_store import reading_path

            return reading_path(self)
        return self.warehouse_build

    @property
    def warehouse_build(self) -> Path:
        """The DuckDB file dbt writes on this machine (dbt_project/profiles.yml)."""
        return self.root / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dbt_artifacts(self) -> Path:
        """dbt's target files and logs, one folder per invocation."""
        return self.root / "dbt"

    @property
    def judge_cache(self) -> Path:
        return self.root / "cache" / "llm"

    @property
    def llm_spend(self) -> Path:
        """The daily LLM spend ledger (one small JSON file per UTC day)."""
        return self.root / "cache" / "spend"

    @property
    def candidates_file(self) -> Path:
        """Candidates registered from the CLI, merged with those of assay.yaml."""
        return self.root / "candidates.json"


DAGSTER_YAML = """\
# Written by assay. Dagster's own instance for this ASSAY_HOME.
telemetry:
  enabled: false
# The UI's first visit on 127.0.0.1 would open a "Join the Dagster community" modal
# (GraphQL `shouldShowNux`) whose form loads an iframe from dagster.io. Nothing leaves the
# machine: off.
nux:
  enabled: false
# Dagster's instance, storing in Dagster's SQLite files under this folder as by default, each
# database's engine opened once per process instead of once per event
# (assay/orchestration/sqlite_storage.py).
instance_class:
  module: assay.orchestration.sqlite_storage
  class: AssayInstance
# Runs on this machine, one worker process each; the launcher lets run monitoring (below) see
# a worker that died (killed, out of memory) and mark its run failed.
run_launcher:
  module: assay.orchestration.runner
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
  # A run that ended (or was marked failed above) gives its concurrency-pool slots back.
  free_slots_after_run_end_seconds: 30
concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # A pool without its own limit gets 1. That is what the DuckDB warehouse needs (one
    # writer across processes) even if nothing else configured the instance. Dagster 1.13
    # takes per-pool limits only through the instance (see POOL_LIMITS), not this file.
    default_limit: 1
"""

POOL_LIMITS = {
    "warehouse": 1,
    # Steps that call LLM providers; request rates are limited inside the LLM engine.
    "llm": 2,
}


POSTGRES_STORAGE_YAML = """\
# storage.instance: postgres. Runs, events, schedules and pools in Postgres, shared by the
# daemon, the webserver and every worker. Dagster reads the connection from the environment
# when it loads this file: no address or password is written here.
storage:
  postgres:
    postgres_url:
      env: ASSAY_PG_URL
# The daemon's code server imports assay's definitions (dagster, dbt, the assets) before it
# answers; on a busy machine that took longer than Dagster's 180 s, and the daemon then failed
# the runs it was dequeuing (measured on the 2-core test machine under load).
code_servers:
  local_startup_timeout: 600
"""

SQLITE_RUN_LIMITS = """\
  runs:
    max_concurrent_runs: 4
"""

TEAM_RUN_QUEUE = """\
  # The daemon (`dagster-daemon run`) takes queued runs off the queue, at most
  # `max_concurrent_runs` at once, and at most `limit` per value of each tag: two runs of one
  # job at a time (the `assay/job` tag every job carries), and a backfill's runs two at a
  # time, so a 90-day shadow backfill leaves room for the nightly run.
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: assay/job
        value: {applyLimitPerUniqueValue: true}
        limit: 2
      - key: dagster/backfill
        value: {applyLimitPerUniqueValue: true}
        limit: 2
"""


def dagster_yaml(instance: str = "sqlite") -> str:
    """ASSAY_HOME's dagster.yaml for `storage.instance` (`sqlite`: exactly as before)."""
    if instance == "sqlite":
        return DAGSTER_YAML
    return DAGSTER_YAML.replace(SQLITE_RUN_LIMITS, TEAM_RUN_QUEUE) + POSTGRES_STORAGE_YAML


def _team_setting(section: str, key: str, allowed: tuple, config_file: Path | None, *, check: bool = True):
    """`section.key` of the config file (default: the first of `allowed`), read without
    validating the rest of the file: every command needs Dagster's home and the definitions
    their executor, not all of them the whole config (the commands that load it say what else
    is wrong)."""
    import yaml

    from assay.config import YAML_LOADER, ConfigError, config_path

    path = config_file or config_path()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
    except (OSError, yaml.YAMLError):
        return allowed[0]
    block = data.get(section) if isinstance(data, dict) else None
    value = block.get(key, allowed[0]) if isinstance(block, dict) else allowed[0]
    if check and value not in allowed:
        raise ConfigError(f"{path}: key `{section}.{key}`: must be {' or '.join(allowed)} (got {value!r})")
    return value


def configured_instance(config_file: Path | None = None) -> str:
    """`storage.instance`: `sqlite` or `postgres` (which needs ASSAY_PG_URL)."""
    instance = _team_setting("storage", "instance", ("sqlite", "postgres"), config_file)
    if instance == "postgres":
        from assay.config import ConfigError, config_path, postgres_url_problem

        problem = postgres_url_problem(os.environ.get("ASSAY_PG_URL"))
        if problem:
            raise ConfigError(f"{config_file or config_path()}: key `storage.instance`: {problem}")
    return instance


def configured_executor_name(config_file: Path | None = None) -> str:
    """`workers.executor`: `multiprocess` or `celery`."""
    return _team_setting("workers", "executor", ("multiprocess", "celery"), config_file)


AUTOMATION_ENV = "ASSAY_AUTOMATION"
"""`off`: the definitions carry no schedule and no sensor (`assay daemon --queue-only` sets it
for the code server its daemon starts)."""


def configured_visibility_timeout_s(config_file: Path | None = None) -> float:
    """`workers.visibility_timeout_s` (validated as assay.yaml's other keys are when the whole
    config loads; here only read, as `_team_setting` reads, for the executor and the workers)."""
    from assay.config import WorkersConfig

    default = WorkersConfig.model_fields["visibility_timeout_s"].default
    value = _team_setting("workers", "visibility_timeout_s", (default,), config_file, check=False)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 2 else default


def ensure_home(home: AssayHome | None = None, *, instance: str | None = None) -> AssayHome:
    """Create ASSAY_HOME and Dagster's instance config; point DAGSTER_HOME at it.

    `instance` is `storage.instance` (read from the config file when not given)."""
    home = home or AssayHome.from_env()
    home.dagster_home.mkdir(parents=True, exist_ok=True)
    config = home.dagster_home / "dagster.yaml"
    text = dagster_yaml(instance or configured_instance())
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    os.environ["ASSAY_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    return home
