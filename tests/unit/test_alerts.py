"""Alert payloads and the webhook sender, against a receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import socket

import pytest

import assay.alerts as alerts
from assay.alerts import (
    WEBHOOK_ENV,
    Alert,
    AlertLedger,
    drift_alerts,
    rejection_alerts,
    run_failure_alert,
    send_alerts,
    slack_payload,
    slo_breaches,
    warehouse_alerts,
)
from tests.unit.report_fixtures import Receiver, build_warehouse, decision

SLOS = {"latency_p95_ms": 1000.0, "cost_per_request_usd": 0.01, "error_rate": 0.05}
FAST = {"timeout_s": 1.0, "attempts": 3, "backoff_s": 0.01}


def as_rows(*decisions):
    return [d.model_dump(mode="json") for d in decisions]


def test_rejection_alert_per_rejected_candidate_only():
    rows = as_rows(decision("rejected", quality="fail"), decision("approved", candidate_id="good"),
                   decision("insufficient_evidence", candidate_id="thin", evidence="unavailable"))
    found = rejection_alerts(rows)
    assert [a.kind for a in found] == ["rejection"]
    assert "cand-a REJECTED" in found[0].title and found[0].lines[0].startswith("quality:")


def test_slo_breaches_of_the_latest_day_only():
    rows = [
        {"day": "2026-11-20", "feature": "rag", "calls": 9, "latency_p95_ms": 9000.0, "error_rate": 0.0},
        {"day": "2026-11-21", "feature": "rag", "calls": 9, "latency_p95_ms": 1500.0, "error_rate": 0.2,
         "cost_per_request_usd": 0.001},
        {"day": "2026-11-21", "feature": "tickets", "calls": 9, "latency_p95_ms": 200.0, "error_rate": 0.0},
    ]
    (alert,) = slo_breaches(rows, SLOS)
    assert alert.title == "assay: 2 SLO breach(es) on 2026-11-21"
    assert any("latency_p95_ms 1500 ms over the 1000 ms SLO" in line for line in alert.lines)
    assert any("error_rate 20.0%" in line for line in alert.lines)
    assert slo_breaches(rows[2:], SLOS) == []


def test_payload_is_slack_shaped_and_escapes_mentions():
    alert = Alert(kind="drift", title="t", lines=["<!channel> & <http://x|y>"] + [f"l{i}" for i in range(30)])
    payload = slack_payload(alert)
    assert set(payload) == {"text", "blocks"}
    assert payload["blocks"][0]["type"] == "header"
    assert "<!channel>" not in payload["text"] and "&lt;!channel&gt; &amp;" in payload["text"]
    assert "…and 16 more" in payload["blocks"][1]["text"]["text"]


@pytest.mark.parametrize("make_alert", [
    lambda: rejection_alerts(as_rows(decision("rejected", quality="fail")))[0],
    lambda: slo_breaches([{"day": "d", "feature": "f", "calls": 1, "latency_p95_ms": 5000.0}], SLOS)[0],
    lambda: drift_alerts([{"feature": "f", "metric": "pass_rate", "p_value": 0.001, "flagged": True}], flag_column="flagged")[0],
    lambda: run_failure_alert(job_name="daily_job", run_id="r1", partition_key="2026-11-21", error="boom\nstack"),
], ids=["rejection", "slo_breach", "drift", "run_failure"])
def test_each_trigger_reaches_the_receiver(monkeypatch, make_alert):
    with Receiver() as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        alert = make_alert()
        summary = send_alerts([alert], **FAST)
    assert summary.sent == 1 and summary.failed == 0
    assert receiver.bodies == [slack_payload(alert)]
    assert receiver.paths == ["/services/T000/B000/s3cr3t-token"]


def test_retries_5xx_then_delivers(monkeypatch):
    with Receiver(statuses=[500, 503]) as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        summary = send_alerts([Alert(kind="drift", title="t")], **FAST)
    assert summary.sent == 1 and len(receiver.bodies) == 3


def test_4xx_is_not_retried(monkeypatch):
    with Receiver(statuses=[404]) as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        summary = send_alerts([Alert(kind="drift", title="t")], **FAST)
    assert summary.failed == 1 and len(receiver.bodies) == 1


def test_unreachable_or_slow_webhook_never_raises_and_never_logs_the_url(monkeypatch, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T000/B000/s3cr3t-token"
    monkeypatch.setenv(WEBHOOK_ENV, url)
    with caplog.at_level(logging.DEBUG, logger="assay.alerts"):
        summary = send_alerts([Alert(kind="run_failure", title="t")], **FAST)
        with Receiver(delay_s=1.5) as slow:
            monkeypatch.setenv(WEBHOOK_ENV, slow.url)
            slow_summary = send_alerts([Alert(kind="run_failure", title="t")], timeout_s=0.3, attempts=2, backoff_s=0.01)
    # The receiver answers 200 after 1.5 s: had an attempt waited past its 0.3 s, the alert would
    # count as delivered. (Not a clock assertion: one failed on a loaded machine at 1.52 s.)
    assert summary.failed == 1 and slow_summary.failed == 1
    assert "TimeoutError (attempt 1/2)" in caplog.text and "TimeoutError (attempt 2/2)" in caplog.text
    assert "s3cr3t-token" not in caplog.text and str(port) not in caplog.text
    assert "unreachable" in caplog.text


def test_unset_url_sends_nothing_and_says_so_once(monkeypatch, caplog):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    monkeypatch.setattr(alerts, "_said_unset", False)
    with caplog.at_level(logging.INFO, logger="assay.alerts"):
        first = send_alerts([Alert(kind="drift", title="t")])
        second = send_alerts([Alert(kind="drift", title="t")])
    assert first.disabled and second.disabled
    assert caplog.text.count("alerts off") == 1


def test_ledger_sends_each_alert_once(monkeypatch, tmp_path):
    ledger = AlertLedger(tmp_path / "alerts" / "sent.json")
    alert = Alert(kind="slo_breach", title="t", key="slo_breach:2026-11-21:x")
    with Receiver() as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        send_alerts([alert], ledger=ledger, **FAST)
        again = send_alerts([alert], ledger=ledger, **FAST)
    assert len(receiver.bodies) == 1 and again.already_sent == 1
    assert "s3cr3t" not in (tmp_path / "alerts" / "sent.json").read_text()


def test_failed_delivery_is_not_recorded(monkeypatch, tmp_path):
    ledger = AlertLedger(tmp_path / "sent.json")
    with Receiver(statuses=[500, 500, 500]) as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        send_alerts([Alert(kind="drift", title="t", key="k")], ledger=ledger, **FAST)
    assert not ledger.seen("k")


def test_warehouse_alerts_find_breach_and_drift(tmp_path):
    warehouse = build_warehouse(tmp_path / "w.duckdb", breach_latency=True)
    kinds = {a.kind: a for a in warehouse_alerts(warehouse, SLOS)}
    assert set(kinds) == {"slo_breach", "drift"}
    assert "rag_answer" in kinds["slo_breach"].lines[0]
    assert kinds["drift"].lines == ["rag_answer / faithfulness / pass_rate: 0.908 -> 0.74 (p=2.8e-09, effect -0.46)"]
    no_drift = build_warehouse(tmp_path / "n.duckdb", with_drift=False)
    assert warehouse_alerts(no_drift, SLOS) == []
    assert warehouse_alerts(tmp_path / "missing.duckdb", SLOS) == []
