"""assay.yaml: one typed config for the whole loop.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is an error, not
a silently ignored setting. `load_config` turns a validation error into one message that
names the file, line and key, and what would be valid.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from assay.contracts.candidate import Candidate
from assay.contracts.taxonomy import FailureCategory
from assay.pricing import DEFAULT_BATCH_DISCOUNT

DEFAULT_CONFIG_FILE = "assay.yaml"

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader, where PyYAML was built with it (its wheels are): the same values and
line marks as PyYAML's pure-Python `SafeLoader`, about ten times faster (2 ms against 26 ms for
the demo's assay.yaml, and a one-day `assay run` reads its config about 25 times, once per
resource and asset that needs it)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectConfig(_Section):
    app: str = "app"
    """Default `app` for records whose source does not name one."""
    start_day: date | None = None
    """First day partition (UTC, YYYY-MM-DD). Records dated earlier are quarantined and a file
    all of whose records are earlier is refused. Omitted: the earliest day landed so far
    (today when nothing has landed), so the UI lists days that can hold data, not years of
    empty ones, and ingesting an older export moves it back."""


class SamplingConfig(_Section):
    rate: float = Field(1.0, ge=0, le=1)
    """Share of calls scored each day, chosen by a hash of call_id (stable across re-runs)."""
    per_feature: dict[str, float] = Field(default_factory=dict)
    """Rate overrides per feature, 0..1."""
    always_include_errors: bool = True
    always_include_negative_feedback: bool = True

    @model_validator(mode="after")
    def _rates_in_range(self) -> SamplingConfig:
        for feature, rate in self.per_feature.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"per_feature.{feature} must be between 0 and 1, got {rate}")
        return self


class ModelLimitsConfig(_Section):
    max_concurrency: int = Field(8, ge=1, le=256)
    """Most requests at this model's provider at once (counted around the HTTP exchange); the
    engine halves it on overload (see `judge.overload_threshold`) and grows it back by one
    per success up to this."""
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    """Prompt tokens (counted) plus max_tokens per call, settled to the real count after it."""
    provider_max_concurrency: int | None = Field(None, ge=1, le=4096)
    """Most requests at this model's provider from all workers together (see the judge section)."""
    provider_requests_per_minute: float | None = Field(None, gt=0)
    """Most requests per minute to this model from all workers together."""


class JudgeConfig(_Section):
    """How assay calls LLMs (judging and candidate replay): one engine, these limits."""

    model: str = "sim/judge"
    """litellm model string of the judge."""
    max_concurrency: int = Field(8, ge=1, le=256)
    """Most requests at a model's provider at once, counted around the HTTP exchange
    (adaptive: halved on overload, +1 per success)."""
    overload_threshold: float = Field(0.1, ge=0, lt=1)
    """Share of a model's latest replies (the last 4 x max_concurrency, at least 20) that must
    be overloads (429/503/529) before its concurrency is halved. Every overloaded call is
    still retried after its `Retry-After`; the threshold keeps a few random refusals from
    idling half the slots. 0 halves on the first overload."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Per model; omitted = no limit beyond concurrency."""
    tokens_per_minute: float | None = Field(None, gt=0)
    """Per model; omitted = no limit."""
    provider_max_concurrency: int | None = Field(None, ge=1, le=4096)
    """Per model: most requests at the provider from every worker and process together (the
    provider's own limit; `max_concurrency` is one run's). With ASSAY_REDIS_URL set (the team
    stack) the workers share it through Redis leases that expire if a worker dies; without,
    each run keeps to it on its own. Omitted: no shared limit."""
    provider_requests_per_minute: float | None = Field(None, gt=0)
    """Per model: most requests per minute from every worker together (shared as above)."""
    per_model: dict[str, ModelLimitsConfig] = Field(default_factory=dict)
    """Limits for one litellm model string, replacing the five above for that model."""
    timeout_s: float = Field(30, gt=0)
    """Per attempt; a timed-out attempt is retried like a 5xx."""
    max_retries: int = Field(3, ge=0, le=10)
    """Retries of retryable errors only (429, 5xx, timeout, connection)."""
    deadline_s: float | None = Field(None, gt=0)
    """Wall-clock limit of one run's LLM calls; what is left is scored `skipped` (deadline)."""
    budget_usd: float = Field(5.0, ge=0)
    """Most a single run may spend on judge calls; what does not fit is scored `skipped`."""
    budget_per_day_usd: float | None = Field(None, ge=0)
    """Most all runs of one UTC day may spend together (kept in ASSAY_HOME/cache/spend; with
    ASSAY_REDIS_URL set, the team stack, in Redis, so workers on every machine share it)."""
    worker_processes: int = Field(0, ge=0, le=32)
    """Processes that make the calls (0 = this one). litellm spends 3-9 ms of CPU per call,
    so past ~100 calls/s one process is the limit; runs under 200 calls stay in-process.
    With max_concurrency 32 or more, 4 is the measured best on 2 cores (`make bench-judge`):
    fewer calls per event loop wait less behind each other's CPU. Each costs ~200 MB."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra litellm arguments for every judge call (api_base, ...); an evaluator's own
    `completion_params` win. Keys go in the environment, never here."""
    mode: Literal["sync", "batch"] = "sync"
    """`sync`: every judge call is one request, answered within the run. `batch`: the day's
    judge requests go to the provider's Batch API (about half price, answered within 24 h):
    `call_scores` submits them and is not materialised until they are answered; the
    `judge_batch_sensor` collects them and re-runs the day (`assay.llm.batch`)."""
    batch_deadline_h: float = Field(24, gt=0, le=24 * 7)
    """Batch mode: hours from a request's first submission until it must have a result. Lines
    that failed are retried in new batches; within 2 h of this (or a quarter of it, if less)
    they are judged synchronously instead; past it they end `skipped` (deadline)."""
    batch_discount: float = Field(DEFAULT_BATCH_DISCOUNT, gt=0, le=1)
    """Batch mode: the fraction of the synchronous price charged when neither `pricing:`
    (`input_cost_per_token_batches`) nor litellm's price map has a batch price."""


SubjectKind = Literal["calls", "cases", "traces", "sessions"]
"""What an evaluator can score: a production call, a replayed case, an agent run, a conversation."""


class AppliesTo(_Section):
    """Which calls an evaluator scores. Every given key must match (AND); within a key, any
    listed value matches (OR); an omitted key selects all. Python and SQL forms of this
    selector live in `assay.selection`."""

    features: list[str] | None = None
    """Features whose calls the evaluator scores; omitted = all."""
    apps: list[str] | None = None
    environments: list[str] | None = None
    models: list[str] | None = None
    prompt_ids: list[str] | None = None
    prompt_versions: list[str] | None = None
    tags: list[str] | None = None
    """Calls carrying at least one of these tags (`metadata.tags`)."""
    sample_rate: float = Field(1.0, ge=0, le=1)
    """Share of the selected calls scored, by a stable hash of (evaluator, call id): a costly
    judge can score 10% of a feature while cheap checks score all of it."""
    subjects: list[SubjectKind] = Field(default_factory=lambda: ["calls", "cases"])
    """Production calls, replayed regression cases, agent runs (`traces`), conversations
    (`sessions`): any of them. The default is calls and cases; a trajectory or conversation
    evaluator names `traces` / `sessions` (`assay.contracts.agent_subject`)."""


class EvaluatorConfig(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    failure_category: FailureCategory | None = None


class SloConfig(_Section):
    latency_p95_ms: float = Field(3000, gt=0)
    cost_per_request_usd: float = Field(0.01, gt=0)
    error_rate: float = Field(0.05, ge=0, le=1)


class DatasetConfig(_Section):
    passing_samples_per_feature: int = Field(20, ge=0)
    """Passing production calls kept per feature beside the failures, so the dataset also
    guards the behaviour that works today, not only what broke."""
    critical_categories: list[FailureCategory] = Field(
        default_factory=lambda: ["pii_leak", "secret_leak", "prompt_injection", "toxicity"]
    )
    critical_features: list[str] = Field(default_factory=list)
    smoke_min_occurrences: int = Field(3, ge=1)
    """A failure seen this often becomes a `smoke` case (run first, always)."""
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    """Failing inputs of one feature whose word-shingle Jaccard similarity is at least this
    are merged into one case (the earliest); 1.0 merges only identical shingle sets."""
    golden_dir: str | None = "golden"
    """Folder of golden scenario files (`*.yaml`), relative to assay.yaml; null = none. A
    missing folder means no golden cases."""
    redteam_pack: str | None = "v1"
    """Red-team pack (`evaluators/redteam/pack_<version>.yaml`) whose adversarial cases join
    every version; null = none."""


SourceFormat = Literal[
    "assay_jsonl", "openai_chat", "litellm_payload", "otlp_json", "langfuse", "langfuse_observations",
    "phoenix_spans",
]
"""assay.formats.FORMATS (spelled out: the config does not import the adapters)."""


class SourceConfig(_Section):
    format: SourceFormat | None = None
    """Read every file of `landing/<source>/` as this format; omitted = recognised by content."""
    watch: str | None = None
    """A folder to land new files from (relative to assay.yaml), each record to its own day:
    where a scheduled export is synced, e.g. Langfuse's blob-storage export
    (`<prefix><project-id>/`, whose `observations_v2/` files are landed once their run's
    manifest exists). `assay ingest --source <name>` and the `source_watch_sensor` land what
    is new there."""


class RedactionConfig(_Section):
    enabled: bool = True
    """Replace PII and secrets before anything is stored in the lake or sent to a judge."""
    mode: Literal["mask", "pseudonymise"] = "mask"
    """`mask`: [EMAIL]. `pseudonymise`: [EMAIL:<keyed hash>], the same value always the same tag
    (needs ASSAY_PSEUDONYM_KEY in the environment)."""
    entities: (
        list[Literal["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "US_SSN", "API_KEY", "ADDRESS", "PERSON"]]
        | None
    ) = None
    """Entity types to replace; omitted = the validated ones (all but ADDRESS and PERSON, which
    are rule-based and opt-in: list them, with the others you want, to redact them too)."""
    allow: list[str] = Field(default_factory=list)
    """Values kept as they are (the company's own support address or hotline)."""
    phone_regions: list[str] | None = None
    """Regions whose national phone formats are redacted (two-letter codes such as US, GB, DE);
    omitted = a broad set (`assay.privacy.structured.DEFAULT_PHONE_REGIONS`). International
    numbers (+...) are redacted whatever this says."""
    pseudonymise_ids: list[Literal["user_id", "session_id", "customer_id"]] = Field(default_factory=list)
    """Id fields replaced by a keyed hash (needs ASSAY_PSEUDONYM_KEY)."""

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str] | None) -> list[str] | None:
        from assay.privacy.structured import check_phone_regions  # libphonenumber: only when set

        return None if regions is None else list(check_phone_regions(regions))


class ModelPrice(_Section):
    input_cost_per_token: float = Field(ge=0)
    output_cost_per_token: float = Field(ge=0)
    # The provider's Batch API price, when it is not a plain discount of the above.
    input_cost_per_token_batches: float | None = Field(None, ge=0)
    output_cost_per_token_batches: float | None = Field(None, ge=0)
    # Prompt caching: input read from the provider's cache, and written to it (litellm's names).
    cache_read_input_token_cost: float | None = Field(None, ge=0)
    cache_creation_input_token_cost: float | None = Field(None, ge=0)


class GateConfig(_Section):
    quality_margin: float = Field(0.02, ge=0, le=1)
    """Non-inferiority margin on the mean per-case pass share (candidate minus baseline)."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    bootstrap_resamples: int = Field(2000, ge=200)
    seed: int = 20261122
    min_cases: int = Field(30, ge=1)
    max_error_share: float = Field(0.1, ge=0, le=1)
    """Evidence gate: the most of any source of evidence (replays, LLM-judge evaluations, other
    evaluations), on either side, that may end in an error or a skip. Above it the verdict is
    insufficient_evidence whatever the other gates say: the provider, not the model, was measured.
    Evaluations that do not apply (a text check on a tool call, on both sides) are not counted."""
    max_judge_error_share: float | None = Field(None, ge=0, le=1)
    """Deprecated: the old name of `max_error_share` (it counted judge errors only). Still read:
    when `max_error_share` is not set, its value is used for it."""
    max_critical_regressions: int = Field(0, ge=0)
    confirm_regressions: int = Field(0, ge=0, le=10)
    """Re-run each case that regressed on the critical gate up to this many more times, for
    candidate and baseline; only a regression that reproduces in every run counts, the others
    are reported as flaky. 0 (or temperature 0 on both sides) decides on the first run alone."""
    latency_p95_ms: float | None | Literal["slo"] = "slo"
    """The latency gate's limit: `slo` (default) uses `slos.latency_p95_ms`; a number sets the
    gate's own; null turns the gate off (shown as `off` in every report, never decisive)."""
    cost_per_request_usd: float | None | Literal["slo"] = "slo"
    """The cost gate's limit: `slo` (default) uses `slos.cost_per_request_usd`; a number sets
    the gate's own; null turns the gate off (for a team that does not care what a model costs)."""
    max_identical_output_share: float = Field(0.5, gt=0, le=1)
    """Degenerate-output guard: a candidate whose most common (normalised) output answers more
    than this share of the cases, and clearly more than the baseline's does, is rejected
    whatever a judge says (a constant answer can game a lenient judge)."""
    require_judge_calibration: bool = False
    """Evidence gate: every LLM judge the decision rests on must have a calibration against
    human labels (`assay labels import`), else the verdict is insufficient_evidence."""
    min_judge_kappa: float = Field(0.4, ge=-1, le=1)
    """With `require_judge_calibration`: the lowest Cohen's kappa a judge may have. A judge's
    kappa counts by the lower bound of its bootstrap interval (`judge_calibration`): a judge
    whose interval reaches below this has not shown that it agrees with people well enough."""
    min_position_consistency: float | None = Field(None, ge=0, le=1)
    """A pairwise judge (assay's `pairwise`, or imported a/b/tie verdicts with a judge_model)
    must give the same winner in both orders on at least this share of the pairs it judged,
    else the verdicts it feeds are insufficient_evidence. null (default): not checked."""
    version: str = "1"
    """Your name for this policy; with a hash of all its settings it is stored on every
    decision, so a changed policy is visible next to the verdicts it produced."""

    @field_validator("latency_p95_ms", "cost_per_request_usd", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> Any:
        if value is None or value == "slo":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"must be a number > 0, `slo` (the slos section's value) or null (gate off), got {value!r}")
        return float(value)

    @model_validator(mode="after")
    def _fold_deprecated_share(self) -> GateConfig:
        if self.max_judge_error_share is not None and "max_error_share" not in self.model_fields_set:
            self.max_error_share = self.max_judge_error_share
        return self

    def limit(self, name: Literal["latency_p95_ms", "cost_per_request_usd"], slos: SloConfig) -> float | None:
        """The gate's threshold for `name` (None: turned off)."""
        value = getattr(self, name)
        return getattr(slos, name) if value == "slo" else value


class RunnerConfig(_Section):
    pool_wait_timeout_s: float = Field(1800, gt=0)
    """How long a step of `assay run` waits for a concurrency pool (`warehouse`, `llm`) that
    other runs hold before it gives up with an error naming them. It says so on the terminal
    at once, and every 30 s while it waits."""


# --- storage: where Dagster's instance, the lake and the warehouse live (one machine by
# default; a team's Postgres and object storage: README "Past one machine", docs/deploy.md).
# Connection details and passwords never go in assay.yaml: they come from the environment
# (ASSAY_PG_URL, PGPASSWORD, ASSAY_REDIS_URL, the AWS SDKs' variables), and the dagster.yaml
# assay writes names the variables (Dagster's `env:`), never their values.

_ENVIRONMENT_SETTINGS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID", "access_key_id": "AWS_ACCESS_KEY_ID", "access_key": "AWS_ACCESS_KEY_ID",
    "key": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY", "secret": "AWS_SECRET_ACCESS_KEY",
    "password": "PGPASSWORD (the Postgres instance's) or AWS_SECRET_ACCESS_KEY (the lake's)",
    "postgres_url": "ASSAY_PG_URL", "pg_url": "ASSAY_PG_URL", "url": "ASSAY_PG_URL", "redis_url": "ASSAY_REDIS_URL",
    "aws_session_token": "AWS_SESSION_TOKEN", "session_token": "AWS_SESSION_TOKEN", "token": "AWS_SESSION_TOKEN",
    "credentials": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE", "profile": "AWS_PROFILE",
    "endpoint": "AWS_ENDPOINT_URL_S3", "endpoint_url": "AWS_ENDPOINT_URL_S3", "region": "AWS_REGION",
    "region_name": "AWS_REGION",
}
"""Keys someone may try under `storage:`, and the environment variable the AWS SDKs (and so
assay) read instead: assay.yaml is committed to repositories; it never holds a secret. Such a
key is refused as unknown, with this hint (`_describe`), never echoing its value."""


def _environment_setting_hint(loc: list[Any]) -> str | None:
    if len(loc) == 2 and loc[0] == "storage" and str(loc[1]).lower() in _ENVIRONMENT_SETTINGS:
        variable = _ENVIRONMENT_SETTINGS[str(loc[1]).lower()]
        why = " (assay reads endpoint, region and credentials as the AWS SDKs do)" if variable.startswith("AWS") else ""
        return f"does not go in assay.yaml: set {variable} in the environment{why}"
    return None


LAKE_ENV = "ASSAY_LAKE"
WAREHOUSE_ENV = "ASSAY_WAREHOUSE"


class StorageConfig(_Section):
    instance: Literal["sqlite", "postgres"] = "sqlite"
    """Dagster's runs, events, schedules and pools: `sqlite` under ASSAY_HOME/dagster (one
    machine), or `postgres` (dagster-postgres; ASSAY_PG_URL=postgresql+psycopg2://user@host:5432/db in
    the environment, the password in PGPASSWORD or ~/.pgpass), which a daemon, a webserver
    and workers on several machines share."""

    @field_validator("instance")
    @classmethod
    def _postgres_needs_a_url(cls, instance: str) -> str:
        if instance == "postgres":
            problem = postgres_url_problem(os.environ.get("ASSAY_PG_URL"))
            if problem:
                raise ValueError(problem)
        return instance

    lake: str | None = None
    """Where the lake's Parquet partitions live: a local folder (relative to assay.yaml) or
    `s3://bucket/prefix` on any S3-compatible store. Omitted: `<ASSAY_HOME>/lake`. Endpoint,
    region and credentials come from the environment as the AWS SDKs read them
    (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)."""
    warehouse: Literal["local", "lake"] | None = None
    """`local`: dbt's DuckDB file stays in ASSAY_HOME, read on this machine only. `lake`: after
    each dbt build the file is published to the lake (attempt + manifest, like a partition)
    and every reader (workers, the UI, `assay gate`) opens the latest published copy.
    Omitted: `lake` when the lake is on object storage, else `local`."""

    @field_validator("lake")
    @classmethod
    def _lake_location(cls, value: str | None) -> str | None:
        if value is None or "://" not in value:
            return value
        scheme, _, rest = value.partition("://")
        if scheme != "s3":
            raise ValueError(f"must be a local folder or s3://bucket/prefix, got {value!r}")
        bucket = rest.split("/", 1)[0]
        if "@" in bucket or ":" in bucket:
            raise ValueError("credentials do not go in the lake URL: set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY in the environment")
        if not bucket:
            raise ValueError(f"names no bucket: expected s3://bucket/prefix, got {value!r}")
        return f"s3://{rest.strip('/')}"

    @property
    def is_remote_lake(self) -> bool:
        return bool(self.lake and self.lake.startswith("s3://"))

    @property
    def is_lake_warehouse(self) -> bool:
        return self.warehouse == "lake" or (self.warehouse is None and self.is_remote_lake)

    def export(self, config_dir: Path) -> None:
        """Tell every process assay starts (Dagster's workers, dbt) where the lake and the
        warehouse are: ASSAY_LAKE and ASSAY_WAREHOUSE, set or cleared to match this config
        (`AssayHome.lake` / `.warehouse` read them)."""
        if self.lake is None:
            os.environ.pop(LAKE_ENV, None)
        else:
            os.environ[LAKE_ENV] = self.lake if self.is_remote_lake else str((config_dir / self.lake).resolve())
        if self.is_lake_warehouse:
            os.environ[WAREHOUSE_ENV] = "lake"
        else:
            os.environ.pop(WAREHOUSE_ENV, None)


PG_URL_SCHEME = "postgresql+psycopg2://"


def postgres_url_problem(url: str | None) -> str | None:
    """What is wrong with ASSAY_PG_URL for `storage.instance: postgres` (None: nothing)."""
    if not url:
        return (f"postgres needs ASSAY_PG_URL ({PG_URL_SCHEME}user@host:5432/db; the password in PGPASSWORD or "
                "~/.pgpass) in the environment")
    if not url.startswith(PG_URL_SCHEME):
        # dagster-postgres installs psycopg2, but SQLAlchemy 2.1 maps a bare postgresql:// to
        # psycopg 3: the driver must be named.
        scheme = url.split("://", 1)[0] if "://" in url else "(none)"
        return f"ASSAY_PG_URL must start with {PG_URL_SCHEME} (dagster-postgres's driver), not {scheme}://"
    return None


class WorkersConfig(_Section):
    executor: Literal["multiprocess", "celery"] = "multiprocess"
    """Where a launched run's steps execute: `multiprocess` (a process each, on the machine
    that runs the run) or `celery` (dagster-celery: queued in Redis at ASSAY_REDIS_URL, run by
    `assay worker` processes on any machine; needs `storage.instance: postgres`). `assay run`
    always runs in its own process."""
    visibility_timeout_s: float = Field(default=120.0, ge=2.0, le=86400.0)
    """How long a step whose worker died (killed, its machine gone) waits before another worker
    runs it again: Celery's Redis `visibility_timeout`. Live workers renew the steps they hold
    every fifth of it, so a step may run far longer than this without being run twice
    (`assay.orchestration.celery_worker`). Redis's default of 1 h would leave a nightly run
    waiting an hour for one lost step."""

    @field_validator("executor")
    @classmethod
    def _celery_needs_a_broker(cls, executor: str) -> str:
        if executor == "celery" and not os.environ.get("ASSAY_REDIS_URL"):
            raise ValueError("celery needs ASSAY_REDIS_URL (redis://host:6379/0) in the environment")
        return executor


class AssayConfig(_Section):
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    evaluators: list[EvaluatorConfig] = Field(default_factory=list)
    slos: SloConfig = Field(default_factory=SloConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    candidates: list[Candidate] = Field(default_factory=list)
    gate: GateConfig = Field(default_factory=GateConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    """Per landing folder (`landing/<source>/`): how to read its files."""
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    """USD per token by model name, for models litellm's price map lacks or gets wrong; used to
    fill the cost of logged calls whose source gave none."""
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)

    @field_validator("workers")
    @classmethod
    def _celery_needs_postgres(cls, workers: WorkersConfig, info) -> WorkersConfig:
        storage = info.data.get("storage")
        if workers.executor == "celery" and storage is not None and storage.instance != "postgres":
            raise ValueError(
                "executor: celery needs storage.instance: postgres (workers on other machines cannot read an "
                "SQLite instance)"
            )
        return workers

    # Field validators (not one model validator) so an error names its section and line
    # (`evaluators`, `candidates`) rather than "(top level)" at line 1.
    @field_validator("evaluators")
    @classmethod
    def _unique_evaluator_names(cls, evaluators: list[EvaluatorConfig]) -> list[EvaluatorConfig]:
        names = [e.name for e in evaluators]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"evaluator names must be unique; repeated: {', '.join(dupes)}")
        return evaluators

    @field_validator("candidates")
    @classmethod
    def _one_baseline_unique_ids(cls, candidates: list[Candidate]) -> list[Candidate]:
        ids = [c.candidate_id for c in candidates]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"candidate ids must be unique; repeated: {', '.join(dupes)}")
        baselines = [c.candidate_id for c in candidates if c.is_baseline]
        if candidates and len(baselines) != 1:
            raise ValueError(
                "exactly one candidate must have is_baseline: true "
                f"(found {len(baselines)}: {', '.join(baselines) or 'none'})"
            )
        return candidates

    @property
    def baseline(self) -> Candidate | None:
        return next((c for c in self.candidates if c.is_baseline), None)

    def evaluators_for(self, subject_kind: SubjectKind, subject: dict[str, Any]):
        """The evaluators whose `applies_to` selects this subject."""
        from assay.selection import selects

        subject_id = str(subject.get("subject_id", ""))
        return [
            e
            for e in self.evaluators
            if subject_kind in e.applies_to.subjects and selects(e.applies_to, e.name, subject, subject_id)
        ]


class ConfigError(ValueError):
    """A user's config is invalid; the message is meant to be printed as is."""


def config_path() -> Path:
    return Path(os.environ.get("ASSAY_CONFIG", DEFAULT_CONFIG_FILE)).resolve()


def load_config(path: Path | str | None = None) -> AssayConfig:
    path = Path(path) if path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (set ASSAY_CONFIG or run from a folder with assay.yaml)"
        ) from None
    try:
        root = yaml.compose(text, Loader=YAML_LOADER)
        data = yaml.load(text, Loader=YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        config = AssayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, root)) from None
    config.storage.export(path.resolve().parent)
    if any(":" in e.type for e in config.evaluators):
        _importable_from(path.resolve().parent)
    return config


def _importable_from(folder: Path) -> None:
    """Custom evaluator types (`type: "checks:MentionsAcme"`) are imported from the config
    file's folder too: `assay` runs as a console script, whose import path holds its own bin
    folder, not the folder the user keeps assay.yaml and checks.py in."""
    import sys

    if str(folder) not in sys.path:
        sys.path.append(str(folder))


def locate(path: Path | str, loc: list[Any]) -> str:
    """`file:line` of the key at `loc` (e.g. ["evaluators", 3, "type"]) in a config file, or
    of its nearest ancestor that exists; `file` alone when the file cannot be read."""
    path = Path(path)
    try:
        line = _line_of(yaml.compose(path.read_text(encoding="utf-8"), Loader=YAML_LOADER), list(loc))
    except (OSError, yaml.YAMLError):
        line = None
    return f"{path}:{line}" if line else str(path)


def _describe(exc: ValidationError, path: Path, root: yaml.Node | None) -> str:
    lines = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not isinstance(part, str) or "[" not in part]
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and _environment_setting_hint(loc):
            message = _environment_setting_hint(loc)
        elif error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key; valid keys here: {', '.join(allowed)}" if allowed else "unknown key"
        elif error["type"] == "literal_error":
            message = f"{message} (got {error.get('input')!r})"
        lines.append(f"{where}: key `{key}`: {message}")
    return "invalid config\n" + "\n".join(lines)


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """1-based line of the YAML node at `loc`, or of its nearest ancestor that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == part), None)
                return key_node.start_mark.line + 1 if key_node else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _allowed_keys(loc: list[Any]) -> list[str]:
    model: Any = AssayConfig
    in_mapping = False
    for part in loc:
        if isinstance(part, int) or in_mapping:  # a list index, or the key of a dict[str, Model]
            in_mapping = False
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
        in_mapping = getattr(annotation, "__origin__", None) is dict
    return sorted(model.model_fields) if model else []
