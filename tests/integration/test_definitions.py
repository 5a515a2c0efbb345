"""The Dagster wiring loads, and the asset graph is one connected lineage from logs to decisions."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_ASSETS = {
    "raw_calls",
    "rejected_calls",
    "sampled_calls",
    "call_scores",
    "trace_subjects",
    "session_subjects",
    "trace_scores",
    "session_scores",
    "failures",
    "regression_dataset",
    "candidate_outputs",
    "candidate_scores",
    "stg_calls",
    "stg_rejected_calls",
    "stg_trace_spans",
    "trace_spans",
    "ingest_daily",
    "stg_call_scores",
    "stg_cases",
    "stg_candidate_outputs",
    "stg_candidate_scores",
    "int_call_outcomes",
    "int_score_outcomes",
    "slo_daily",
    "slo_rolling",
    "evaluator_daily",
    "drift",
    "candidate_case_scores",
    "candidate_comparison",
    "candidate_case_metrics",
    "candidate_metric_comparison",
    "deploy_decisions",
    "shadow_outputs",
    "shadow_scores",
}


@pytest.fixture(scope="module")
def defs():
    from assay.orchestration.definitions import build_definitions

    return build_definitions()


def test_every_asset_is_defined(defs):
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert EXPECTED_ASSETS <= keys


def test_lineage_is_connected_from_logs_to_decisions(defs):
    from dagster import AssetKey

    graph = defs.resolve_asset_graph()
    # dbt sources map onto the assets that write the lake: no dangling source assets.
    assert AssetKey("raw_calls") in graph.get(AssetKey("stg_calls")).parent_keys
    assert AssetKey("candidate_scores") in graph.get(AssetKey("stg_candidate_scores")).parent_keys
    # Agent runs and conversations are built from the calls and spans, scored, and feed failures.
    assert {AssetKey("raw_calls"), AssetKey("trace_spans")} <= graph.get(AssetKey("trace_subjects")).parent_keys
    assert AssetKey("trace_subjects") in graph.get(AssetKey("trace_scores")).parent_keys
    assert AssetKey("session_subjects") in graph.get(AssetKey("session_scores")).parent_keys
    assert {AssetKey("trace_scores"), AssetKey("session_scores")} <= graph.get(AssetKey("failures")).parent_keys
    upstream_of_decisions = graph.upstream_key_iterator(AssetKey("deploy_decisions"))
    assert {AssetKey("raw_calls"), AssetKey("regression_dataset"), AssetKey("candidate_outputs")} <= set(
        upstream_of_decisions
    )


def test_jobs_schedule_and_sensors_are_wired(defs):
    from dagster import DefaultScheduleStatus

    for job in ("daily_job", "curate_job", "candidate_job", "decide_job", "shadow_job"):
        assert defs.resolve_job_def(job) is not None
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 2 * * *"
    assert {s.name for s in defs.sensors} == {
        "regression_sensor", "late_landing_sensor", "source_watch_sensor", "nightly_followup_sensor", "judge_batch_sensor",
        "rejection_alert_sensor", "slo_drift_alert_sensor", "nightly_failure_alert_sensor",
    }


def test_the_dbt_models_are_built_by_curate_or_decide_never_both(defs):
    """curate_job runs before the candidates replay: it builds the production marts; the
    candidate marts (over the dataset and the candidates' rows) are decide_job's alone."""

    def dbt_models(job: str) -> set[str]:
        keys = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        return {k.to_user_string() for k in keys} - {"regression_dataset", "judge_calibration", "deploy_decisions"}

    curate, decide = dbt_models("curate_job"), dbt_models("decide_job")
    assert not curate & decide
    assert {"slo_daily", "drift", "stg_calls"} <= curate
    assert {"candidate_metric_comparison", "stg_cases", "stg_candidate_outputs"} <= decide


def test_shadow_assets_are_partitioned_day_by_candidate(defs):
    from dagster import AssetKey, MultiPartitionsDefinition

    graph = defs.resolve_asset_graph()
    for name in ("shadow_outputs", "shadow_scores"):
        partitions = graph.get(AssetKey(name)).partitions_def
        assert isinstance(partitions, MultiPartitionsDefinition)
        assert {d.name for d in partitions.partitions_defs} == {"day", "candidate"}
    assert AssetKey("sampled_calls") in graph.get(AssetKey("shadow_outputs")).parent_keys
    assert AssetKey("shadow_outputs") in graph.get(AssetKey("shadow_scores")).parent_keys


def test_dagster_cli_validates_the_workspace():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_imports_nothing_heavy():
    """`assay --help` must answer at once: no dagster, litellm or GE at import."""
    code = (
        "import sys, assay.orchestration.cli as cli\n"
        "heavy = [m for m in ('dagster', 'litellm', 'great_expectations', 'duckdb') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
