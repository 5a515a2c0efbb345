"""The alert sensors, evaluated with Dagster's test utilities against an ephemeral instance and
a webhook receiver on 127.0.0.1: a rejected candidate, an SLO breach and a drift flag after the
marts, a failed nightly run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from assay.orchestration.alert_sensors import (
    nightly_failure_alert_sensor,
    rejection_alert_sensor,
    slo_drift_alert_sensor,
)

from assay.alerts import WEBHOOK_ENV
from tests.unit.report_fixtures import Receiver, build_warehouse, decision, write_decisions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    monkeypatch.setenv("ASSAY_CONFIG", str(ROOT / "assay.yaml"))
    return tmp_path


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv(WEBHOOK_ENV, r.url)
        yield r


@dg.op
def fail_to_read_landing():
    raise RuntimeError("landing folder unreadable: /data/landing/2026-11-21")


@dg.job(name="daily_job")
def failing_daily_job():
    fail_to_read_landing()


def run_and_event(job, instance, event_type: dg.DagsterEventType, **kwargs):
    result = job.execute_in_process(instance=instance, raise_on_error=False, **kwargs)
    run = instance.get_run_by_id(result.run_id)
    event = next(e for e in result.all_events if e.event_type == event_type)
    return run, event


def test_failed_nightly_run_sends_an_alert(home, receiver):
    instance = dg.DagsterInstance.ephemeral()
    run, event = run_and_event(failing_daily_job, instance, dg.DagsterEventType.RUN_FAILURE,
                               tags={"dagster/partition": "2026-11-21"})
    context = dg.build_run_status_sensor_context(
        sensor_name=nightly_failure_alert_sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=event,
    ).for_run_failure()
    nightly_failure_alert_sensor(context)
    (body,) = receiver.bodies
    assert body["text"].startswith("assay: daily_job failed for 2026-11-21")
    assert run.run_id in body["text"]
    # The ledger keeps the key, not the URL: the same failure is not announced twice.
    nightly_failure_alert_sensor(context)
    assert len(receiver.bodies) == 1
    assert "s3cr3t" not in (home / "alerts" / "sent.json").read_text()


def test_rejection_sends_an_alert_per_rejected_candidate(home, receiver):
    write_decisions(home, [decision("rejected", quality="fail"), decision("approved", candidate_id="good")])
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("deploy_decisions"))
    context = dg.build_sensor_context(instance=instance)
    result = rejection_alert_sensor.evaluate_tick(context)
    assert result.skip_message and "sent=1" in result.skip_message
    (body,) = receiver.bodies
    assert "cand-a REJECTED" in body["text"] and "good" not in body["text"]


def test_marts_rebuilt_send_slo_breach_and_drift_once(home, receiver):
    build_warehouse(home / "warehouse.duckdb", breach_latency=True)
    instance = dg.DagsterInstance.ephemeral()
    first = slo_drift_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "no new slo_daily build" in first.skip_message and not receiver.bodies
    instance.report_runless_asset_event(dg.AssetMaterialization("slo_daily"))
    tick = slo_drift_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    titles = sorted(body["blocks"][0]["text"]["text"] for body in receiver.bodies)
    assert titles == ["assay: 1 SLO breach(es) on 2026-11-21", "assay: 1 drift flag(s) as of 2026-11-21"]
    again = slo_drift_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
    assert "no new slo_daily build" in again.skip_message and len(receiver.bodies) == 2


def test_marts_are_not_read_while_dbt_builds(home, receiver):
    from dagster._core.storage.dagster_run import DagsterRun

    build_warehouse(home / "warehouse.duckdb", breach_latency=True)
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("slo_daily"))
    instance.add_run(DagsterRun(job_name="decide_job", run_id="building", status=dg.DagsterRunStatus.STARTED))
    tick = slo_drift_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "dbt build is running" in tick.skip_message and tick.cursor is None and not receiver.bodies


def test_sensors_do_nothing_without_a_webhook(home, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    build_warehouse(home / "warehouse.duckdb", breach_latency=True)
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("slo_daily"))
    tick = slo_drift_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "alerts off" in tick.skip_message
    assert not (home / "alerts").exists()


def test_cli_loop_sends_what_the_sensors_would_once(home, receiver):
    from assay.orchestration.alert_sensors import send_loop_alerts

    from assay.runtime import AssayHome

    write_decisions(home, [decision("rejected", quality="fail")])
    build_warehouse(home / "warehouse.duckdb", breach_latency=True)
    limits = {"latency_p95_ms": 3000.0, "cost_per_request_usd": 0.01, "error_rate": 0.05}
    first = send_loop_alerts(AssayHome(home), limits)
    again = send_loop_alerts(AssayHome(home), limits)
    assert first.sent == 3 and again.already_sent == 3 and len(receiver.bodies) == 3
