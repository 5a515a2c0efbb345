"""The dbt models (staging views over the lake -> SLO and candidate marts) as Dagster assets.

dbt is the only writer of the DuckDB warehouse; the `warehouse` pool (limit 1) keeps two
builds from fighting over the file lock.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from assay.assets.assay_resource import AssayResource
from assay.assets.candidate_scores import CANDIDATE_SCORE_SCHEMA
from assay.assets.dbt_cli_resource import OfflineDbtCliResource
from assay.assets.partitions import DAYS_TAG
from assay.assets.warehouse_project import warehouse_project
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from assay.config import GateConfig
from assay.contracts.agent_subject import SESSION_SUBJECT_ARROW_SCHEMA, TRACE_SUBJECT_ARROW_SCHEMA
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.contracts.candidate_output import CANDIDATE_OUTPUT_ARROW_SCHEMA
from assay.contracts.case import CASE_ARROW_SCHEMA
from assay.contracts.rejected import REJECTED_ARROW_SCHEMA
from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.contracts.span import SPAN_ARROW_SCHEMA
from assay.dataset_pointer import current_version
from assay.warehouse_store import publish, pull_for_build

# Every lake table a dbt source reads, with its schema and partition keys. Each is created
# empty when not yet written, so the marts build (empty) before the first candidate has run.
SOURCE_TABLES = [
    ("raw_calls", CALL_ARROW_SCHEMA, ["day"]),
    ("rejected_calls", REJECTED_ARROW_SCHEMA, ["day"]),
    ("trace_spans", SPAN_ARROW_SCHEMA, ["day"]),
    ("call_scores", SCORE_ARROW_SCHEMA, ["day"]),
    ("trace_subjects", TRACE_SUBJECT_ARROW_SCHEMA, ["day"]),
    ("session_subjects", SESSION_SUBJECT_ARROW_SCHEMA, ["day"]),
    ("trace_scores", SCORE_ARROW_SCHEMA, ["day"]),
    ("session_scores", SCORE_ARROW_SCHEMA, ["day"]),
    ("regression_dataset", CASE_ARROW_SCHEMA, ["version"]),
    ("candidate_outputs", CANDIDATE_OUTPUT_ARROW_SCHEMA, ["candidate"]),
    ("candidate_scores", CANDIDATE_SCORE_SCHEMA, ["candidate"]),
]


class WarehouseTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "warehouse"


DBT_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]
"""The SQL unit tests (`unit_tests:` in the models' yml) check the models' logic on fixed rows:
they belong to the project's own tests (tests/integration/test_incremental_marts.py runs them),
not to every nightly build, as dbt advises for production. The data tests stay: they check the
data, as Dagster asset checks."""

RUN_ENV_PREFIX = "ASSAY_DBT_"


def dbt_run_env(
    *, baseline_id: str, dataset_version: str, days: list[str] | None = None, gate: GateConfig | None = None,
    replay_timeout_s: float | None = None,
) -> dict[str, str]:
    """The values of one build, as the environment variables dbt_project/macros/run_vars.sql
    reads (ASSAY_DBT_<NAME>): the run's baseline and dataset version, the days it refreshes
    (the incremental daily marts rebuild only those; none = all), the gate's statistics settings
    (the candidate_metric_comparison model computes intervals with them; none = the gate's
    defaults) and the replay timeout (the least a failed replay counts for in
    candidate_comparison's latency). Not `--vars`: a change of `--vars` makes dbt re-parse the
    whole project on every build, a changed environment variable only the files that read it.
    Every variable is always set (empty = the project's default), so a value of an earlier
    build in the same process never leaks into this one."""
    values: dict[str, Any] = {
        "baseline_id": baseline_id, "dataset_version": dataset_version, "days": ",".join(sorted(set(days or []))),
        "gate_confidence": "", "gate_bootstrap_resamples": "", "gate_seed": "", "replay_timeout_ms": "",
    }
    if gate is not None:
        values |= {"gate_confidence": gate.confidence, "gate_bootstrap_resamples": gate.bootstrap_resamples,
                   "gate_seed": gate.seed}
    if replay_timeout_s is not None:
        values["replay_timeout_ms"] = replay_timeout_s * 1000
    return {f"{RUN_ENV_PREFIX}{name.upper()}": str(value) for name, value in values.items()}


def days_from_tag(value: str | None) -> list[str]:
    """The days of a run's `assay/days` tag, validated (a bad tag fails the run, not the SQL)."""
    days = [d.strip() for d in (value or "").split(",") if d.strip()]
    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"run tag {DAYS_TAG}: {day!r} is not a YYYY-MM-DD date") from None
    return days


@dbt_assets(
    manifest=warehouse_project.manifest_path,
    project=warehouse_project,
    dagster_dbt_translator=WarehouseTranslator(),
    pool="warehouse",
)
def slo_marts(context: AssetExecutionContext, dbt: OfflineDbtCliResource, assay: AssayResource):
    for table, schema, keys in SOURCE_TABLES:
        assay.lake.ensure_table(table, schema, keys)
    baseline = assay.config.baseline
    env = dbt_run_env(
        baseline_id=baseline.candidate_id if baseline else "",
        dataset_version=current_version(assay.lake) or "",
        days=days_from_tag(context.run.tags.get(DAYS_TAG)),
        gate=assay.config.gate,
        replay_timeout_s=assay.config.judge.timeout_s,
    )
    # A warehouse shared through the lake: build on top of the latest published copy, then
    # publish (assay.warehouse_store). Local (the default): neither does anything.
    shared = assay.config.storage.is_lake_warehouse
    if shared:
        pulled = pull_for_build(assay.home)
        if pulled:
            context.log.info(f"warehouse: building on published version {pulled}")
    yield from dbt.cli(DBT_BUILD_ARGS, context=context, env=env).stream()
    if shared:
        context.log.info(f"warehouse: published version {publish(assay.home)}")

