"""Alert sensors: they read what the runs wrote and send webhook alerts (assay.alerts); they
request no runs. Without ASSAY_ALERT_WEBHOOK_URL they do nothing (said once in the log)."""

from __future__ import annotations

import dagster as dg
from assay.orchestration.jobs import curate_job, daily_job, decide_job

from assay.alerts import (
    AlertLedger,
    rejection_alerts,
    run_failure_alert,
    send_alerts,
    warehouse_alerts,
)
from assay.config import load_config
from assay.lake import Lake
from assay.reports import latest_decision_rows
from assay.runtime import AssayHome


def alert_ledger(home: AssayHome) -> AlertLedger:
    return AlertLedger(home.root / "alerts" / "sent.json")


def _outcome(summary) -> dg.SkipReason:
    if summary.disabled:
        return dg.SkipReason("alerts off: ASSAY_ALERT_WEBHOOK_URL is not set")
    return dg.SkipReason(f"alerts sent={summary.sent} failed={summary.failed} already_sent={summary.already_sent}")


@dg.asset_sensor(
    asset_key=dg.AssetKey("deploy_decisions"),
    name="rejection_alert_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends a webhook alert for each candidate the latest deploy decision rejected.",
)
def rejection_alert_sensor(context: dg.SensorEvaluationContext, asset_event) -> dg.SkipReason:
    home = AssayHome.from_env()
    rows = latest_decision_rows(Lake(home.lake)) or []
    return _outcome(send_alerts(rejection_alerts(rows), ledger=alert_ledger(home)))


WAREHOUSE_JOBS = [curate_job.name, decide_job.name]
"""Jobs whose dbt build writes the warehouse: while one runs, the sensor does not open the file
(a read-only connection from this process would lock dbt out: a DuckDB file has one writer or
any number of readers, never both across processes)."""
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.sensor(
    name="slo_drift_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After the marts are rebuilt (a new slo_daily materialisation) and no dbt build is "
    "running: alerts on the latest day's SLO breaches (slo_daily) and drift flags (the drift mart, "
    "when it exists).",
)
def slo_drift_alert_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    latest = context.instance.fetch_materializations(dg.AssetKey("slo_daily"), limit=1).records
    if not latest or str(latest[0].storage_id) == (context.cursor or ""):
        return dg.SensorResult(skip_reason="no new slo_daily build since the last check", cursor=context.cursor)
    building = sum(
        context.instance.get_runs_count(dg.RunsFilter(job_name=job, statuses=IN_FLIGHT)) for job in WAREHOUSE_JOBS
    )
    if building:
        # The cursor stays: the next tick looks again once dbt is done.
        return dg.SensorResult(skip_reason="a dbt build is running: checking after it", cursor=context.cursor)
    home = AssayHome.from_env()
    summary = send_alerts(warehouse_alerts(home.warehouse, load_config().slos.model_dump()), ledger=alert_ledger(home))
    return dg.SensorResult(skip_reason=_outcome(summary).skip_message, cursor=str(latest[0].storage_id))


@dg.run_failure_sensor(
    monitored_jobs=[daily_job],
    name="nightly_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends a webhook alert when a run of the daily chain (the nightly run) fails.",
)
def nightly_failure_alert_sensor(context: dg.RunFailureSensorContext) -> dg.SkipReason:
    run = context.dagster_run
    alert = run_failure_alert(
        job_name=run.job_name,
        run_id=run.run_id,
        partition_key=run.tags.get("dagster/partition"),
        error=context.failure_event.message,
    )
    return _outcome(send_alerts([alert], ledger=alert_ledger(AssayHome.from_env())))


def send_loop_alerts(home: AssayHome, slo_limits: dict[str, float]):
    """What the sensors send, for a loop run in-process by the CLI (`assay run`, `assay demo`),
    where no sensor daemon is watching. The ledger keeps the two from announcing twice."""
    rows = latest_decision_rows(Lake(home.lake)) or []
    alerts = rejection_alerts(rows) + warehouse_alerts(home.warehouse, slo_limits)
    return send_alerts(alerts, ledger=alert_ledger(home))


def send_run_failure_alert(home: AssayHome, *, job_name: str, run_id: str, partition_key: str | None, error: str):
    alert = run_failure_alert(job_name=job_name, run_id=run_id, partition_key=partition_key, error=error)
    return send_alerts([alert], ledger=alert_ledger(home))


ALERT_SENSORS = [rejection_alert_sensor, slo_drift_alert_sensor, nightly_failure_alert_sensor]
