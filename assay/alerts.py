"""Alerts: a Slack-compatible webhook message on a rejected candidate, an SLO breach, a drift
flag or a failed nightly run.

Configured by one environment variable, ASSAY_ALERT_WEBHOOK_URL (unset: no alerts, said once in
the log). The URL is a secret (a Slack incoming-webhook URL carries its token in the path): it is
read from the environment when sending and never logged, stored or put in a message. Sending
uses the stdlib (urllib) with a timeout and retries; a webhook that fails never fails the run
that triggered it: the failure is logged and the alert is left unrecorded, so the next
evaluation tries again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

WEBHOOK_ENV = "ASSAY_ALERT_WEBHOOK_URL"

AlertKind = Literal["rejection", "slo_breach", "drift", "run_failure"]

MAX_LINES_PER_ALERT = 15
"""Slack shows long messages collapsed; the report holds the rest."""

logger = logging.getLogger("assay.alerts")

_said_unset = False


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    title: str
    lines: list[str] = field(default_factory=list)
    key: str = ""
    """Identifies what the alert is about (same breach, same key): sent once per key."""


# --- what to alert on ----------------------------------------------------------------------


def rejection_alerts(decisions: Iterable[dict[str, Any]]) -> list[Alert]:
    """One alert per rejected candidate. `decisions` are Decision rows (dicts, gates as dicts)."""
    alerts = []
    for d in decisions:
        if d.get("verdict") != "rejected":
            continue
        failed = [g for g in d.get("gates") or [] if g.get("status") == "fail"]
        lines = [f"{g['gate']}: {g.get('detail') or 'failed'}" for g in failed] or list(d.get("reasons") or [])
        if d.get("report_path"):
            lines.append(f"report: {Path(d['report_path']).with_suffix('.html')}")
        alerts.append(
            Alert(
                kind="rejection",
                title=f"assay: candidate {d['candidate_id']} REJECTED against {d.get('baseline_id')} "
                f"({d.get('window') or d.get('dataset_version')})",
                lines=lines,
                key=f"rejection:{d['candidate_id']}:{d.get('dataset_version')}:"
                + ",".join(sorted(g["gate"] for g in failed)),
            )
        )
    return alerts


SLO_COLUMNS = {
    # slo_daily column -> (SloConfig field, how to print a value)
    "latency_p95_ms": ("latency_p95_ms", lambda v: f"{v:.0f} ms"),
    "cost_per_request_usd": ("cost_per_request_usd", lambda v: f"${v:.4g}"),
    "error_rate": ("error_rate", lambda v: f"{v:.1%}"),
}
SLO_ROW_DIMENSIONS = ("app", "feature", "model", "prompt_version")


def slo_breaches(slo_rows: Sequence[dict[str, Any]], slo_limits: dict[str, float]) -> list[Alert]:
    """Rows of `slo_daily` for the latest day in `slo_rows` over an SLO: one alert listing them.

    slo_limits: SloConfig as a dict (latency_p95_ms, cost_per_request_usd, error_rate).
    """
    days = [r["day"] for r in slo_rows if r.get("day") is not None]
    if not days:
        return []
    latest = max(days)
    lines, keys = [], []
    for row in slo_rows:
        if row.get("day") != latest:
            continue
        where = "/".join(str(row.get(k)) for k in SLO_ROW_DIMENSIONS if row.get(k) is not None)
        for column, (limit_name, show) in SLO_COLUMNS.items():
            value, limit = row.get(column), slo_limits.get(limit_name)
            if value is None or limit is None or value <= limit:
                continue
            lines.append(f"{where}: {column} {show(value)} over the {show(limit)} SLO ({row.get('calls')} calls)")
            keys.append(f"{where}:{column}")
    if not lines:
        return []
    return [
        Alert(
            kind="slo_breach",
            title=f"assay: {len(lines)} SLO breach(es) on {latest}",
            lines=lines,
            key=f"slo_breach:{latest}:" + ",".join(sorted(keys)),
        )
    ]


def drift_line(row: dict[str, Any]) -> str:
    """One flagged row of the `drift` mart, for a person: what moved, how far, how sure."""
    what = " / ".join(str(row[k]) for k in ("feature", "evaluator", "metric") if row.get(k))
    ref, recent = row.get("reference_value"), row.get("recent_value")
    moved = f"{ref:.3g} -> {recent:.3g}" if isinstance(ref, int | float) and isinstance(recent, int | float) else "changed"
    p = row.get("p_value")
    effect = row.get("effect_size")
    sure = ", ".join(
        part for part in (
            f"p={p:.2g}" if isinstance(p, int | float) else "",
            f"effect {effect:+.2f}" if isinstance(effect, int | float) else "",
        ) if part
    )
    return f"{what}: {moved}" + (f" ({sure})" if sure else "")


def drift_alerts(flagged_rows: Sequence[dict[str, Any]], *, flag_column: str) -> list[Alert]:
    """The `drift` mart's flagged rows (recent window vs reference, as of its last day): one alert."""
    if not flagged_rows:
        return []
    lines = [drift_line({k: v for k, v in row.items() if k != flag_column}) for row in flagged_rows]
    day = next((str(r["recent_end_day"]) for r in flagged_rows if r.get("recent_end_day") is not None), "the latest day")
    return [
        Alert(
            kind="drift",
            title=f"assay: {len(lines)} drift flag(s) as of {day}",
            lines=lines,
            key=f"drift:{day}:" + "|".join(sorted(lines)),
        )
    ]


def run_failure_alert(*, job_name: str, run_id: str, partition_key: str | None, error: str | None) -> Alert:
    first_line = (error or "no error message").strip().splitlines()[0] if (error or "").strip() else "no error message"
    return Alert(
        kind="run_failure",
        title=f"assay: {job_name} failed" + (f" for {partition_key}" if partition_key else ""),
        lines=[f"run {run_id}", first_line[:500], "details: the run's page in the Dagster UI (`assay ui`)"],
        key=f"run_failure:{run_id}",
    )


def describe_row(row: dict[str, Any], *, skip: set[str] = frozenset()) -> str:
    parts = []
    for key, value in row.items():
        if key in skip or value is None:
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


# --- the message -----------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats &, < and > as control characters (links, mentions): escape them, so
    # text from a model or a config cannot ping @channel or hide a link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """`{"text": ..., "blocks": [...]}`: Slack incoming webhooks read both; other receivers
    (Mattermost, Teams via a connector, a plain HTTP endpoint) read `text`."""
    shown = alert.lines[:MAX_LINES_PER_ALERT]
    more = len(alert.lines) - len(shown)
    body = "\n".join(f"• {_slack_escape(line)}" for line in shown)
    if more > 0:
        body += f"\n…and {more} more"
    text = _slack_escape(alert.title) + (f"\n{body}" if body else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
    ]
    if body:
        # A section's text is limited to 3000 characters.
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"assay alert: {alert.kind}"}]})
    return {"text": text, "blocks": blocks}


# --- sending ---------------------------------------------------------------------------------


def webhook_url() -> str | None:
    global _said_unset
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        if not _said_unset:
            logger.info("alerts off: %s is not set", WEBHOOK_ENV)
            _said_unset = True
        return None
    return url


def post_json(url: str, payload: dict[str, Any], *, timeout_s: float = 5.0, attempts: int = 3,
              backoff_s: float = 0.5) -> bool:
    """POST `payload`; True when the receiver answered 2xx. Retries timeouts, connection errors,
    429 and 5xx; never raises, never logs the URL (nor an error text that could contain it)."""
    if not url.startswith(("https://", "http://")):
        logger.warning("alert not sent: %s is not an http(s) URL", WEBHOOK_ENV)
        return False
    data = json.dumps(payload).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "assay-alerts"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (scheme checked)
                response.read()
                return True
        except urllib.error.HTTPError as exc:
            retry = exc.code == 429 or exc.code >= 500
            logger.warning("alert webhook answered HTTP %s (attempt %s/%s)", exc.code, attempt, attempts)
            if not retry:
                return False
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            logger.warning("alert webhook unreachable: %s (attempt %s/%s)", type(exc).__name__, attempt, attempts)
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return False


class AlertLedger:
    """The keys of alerts already delivered (ASSAY_HOME/alerts/sent.json), so a breach re-read
    by the next run is not announced again. Holds keys and times only."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def seen(self, key: str) -> bool:
        return key in self._read()

    def record(self, key: str) -> None:
        from assay.lake import atomic_write_text

        sent = self._read()
        sent[key] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic_write_text(self.path, json.dumps(sent, indent=1, sort_keys=True))


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    already_sent: int = 0
    disabled: bool = False


def send_alerts(alerts: Sequence[Alert], *, ledger: AlertLedger | None = None, timeout_s: float = 5.0,
                attempts: int = 3, backoff_s: float = 0.5) -> SendSummary:
    """Send each alert not yet delivered; never raises."""
    summary = SendSummary()
    if not alerts:
        return summary
    url = webhook_url()
    if url is None:
        summary.disabled = True
        return summary
    for alert in alerts:
        if ledger is not None and alert.key and ledger.seen(alert.key):
            summary.already_sent += 1
            continue
        try:
            ok = post_json(url, slack_payload(alert), timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s)
        except Exception as exc:  # an alert must never fail the run that raised it
            logger.warning("alert not sent: %s", type(exc).__name__)
            ok = False
        if ok:
            summary.sent += 1
            logger.info("alert sent: %s", alert.title)
            if ledger is not None and alert.key:
                try:
                    ledger.record(alert.key)
                except OSError as exc:
                    logger.warning("alert ledger not updated: %s", type(exc).__name__)
        else:
            summary.failed += 1
            logger.warning("alert not delivered (will retry on the next evaluation): %s", alert.title)
    return summary


def warehouse_alerts(warehouse: Path, slo_limits: dict[str, float]) -> list[Alert]:
    """SLO breaches and drift flags of the latest day in the warehouse's marts (the drift mart
    only if it exists). A warehouse that cannot be read yields no alert, never an error."""
    from assay.report_data import read_snapshot

    try:
        snapshot = read_snapshot(warehouse, trend_days=1)
    except Exception as exc:  # e.g. the file is locked by a dbt build in another process
        logger.warning("alerts: warehouse not readable (%s): no SLO/drift alerts this time", type(exc).__name__)
        return []
    alerts = slo_breaches(snapshot.slo_rows, slo_limits)
    if snapshot.drift is not None:
        alerts += drift_alerts(snapshot.drift.rows, flag_column=snapshot.drift.flag_column)
    return alerts
