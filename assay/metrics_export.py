"""assay's numbers for Prometheus and Grafana: `assay metrics` serves them as OpenMetrics on
127.0.0.1, or writes them to a file for node_exporter's textfile collector.

From the warehouse, the latest day of `slo_daily` per app, feature, model and prompt version
(the mart's grain: percentiles cannot be merged across prompt versions, so none are) and every
row of the `drift` mart; from the lake, the latest decision of each candidate. Names and labels
are stable (METRICS; docs/metrics.md is generated from it and a test keeps the two equal); units
follow Prometheus' conventions (seconds, ratios) and are in the names.

The warehouse is a DuckDB file written only by dbt. A reader, even read-only, locks a writer in
another process out (a DuckDB file has one writer), so a read opens the file read-only, runs its queries and closes
at once (milliseconds), and never more often than `refresh_s`; dbt's profile retries its own
connection (`retries.connect_attempts`) for the moment a scrape holds it. When a dbt build holds
the file, the read fails: the previous values are served and `assay_warehouse_read_ok` is 0, so
neither the build nor the scrape breaks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from assay.lake import Lake
from assay.runtime import AssayHome

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
DEFAULT_PORT = 9464
SEGMENT = ("app", "feature", "model", "prompt_version")
DRIFT_ROW = ("app", "feature", "metric", "evaluator", "evaluator_metric")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    """OpenMetrics UNIT (the name then ends with it); empty for a unit Prometheus has no base
    name for (US dollars) or a count."""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("assay_slo_calls", "Calls on the latest day of slo_daily.", SEGMENT),
    MetricSpec("assay_slo_pass_ratio", "Scored calls that passed every evaluator, of the scored calls (slo_daily.pass_rate).",
               SEGMENT, "ratio"),
    MetricSpec("assay_slo_error_ratio", "Calls with status error, of all calls (slo_daily.error_rate).", SEGMENT, "ratio"),
    MetricSpec("assay_slo_latency_p50_seconds", "Median call latency (slo_daily.latency_p50_ms / 1000).", SEGMENT,
               "seconds"),
    MetricSpec("assay_slo_latency_p95_seconds", "95th percentile of call latency (slo_daily.latency_p95_ms / 1000).",
               SEGMENT, "seconds"),
    MetricSpec("assay_slo_cost_per_request_usd", "Mean cost per call in US dollars (slo_daily.cost_per_request_usd).",
               SEGMENT),
    MetricSpec("assay_slo_day_timestamp_seconds", "The day the assay_slo_* series describe (its midnight UTC, Unix time).",
               (), "seconds"),
    MetricSpec("assay_drift_flagged", "1 when the drift mart flags the row (recent window against reference), else 0.",
               DRIFT_ROW),
    MetricSpec("assay_candidate_verdict", "1 for the candidate's latest verdict, 0 for the other two.",
               ("candidate_id", "baseline_id", "verdict")),
    MetricSpec("assay_candidate_quality_delta", "Pass-share delta of the candidate against the baseline on the paired cases "
               "(the quality gate's number).", ("candidate_id", "baseline_id")),
    MetricSpec("assay_candidate_quality_delta_ci_low", "Lower bound of the quality delta's paired bootstrap interval.",
               ("candidate_id", "baseline_id")),
    MetricSpec("assay_candidate_quality_delta_ci_high", "Upper bound of the quality delta's paired bootstrap interval.",
               ("candidate_id", "baseline_id")),
    MetricSpec("assay_candidate_rank", "The candidate's rank among those decided together (1 = best).", ("candidate_id",)),
    MetricSpec("assay_candidate_decided_timestamp_seconds", "When the candidate's latest decision was made (Unix time).",
               ("candidate_id",), "seconds"),
    MetricSpec("assay_warehouse_read_ok", "1 when the latest read of the warehouse succeeded; 0 when it could not be read "
               "(missing, or held by a dbt build): the assay_slo_* and assay_drift_* series are then the last ones read."),
    MetricSpec("assay_warehouse_read_timestamp_seconds", "When the assay_slo_* and assay_drift_* values were read "
               "(Unix time).", (), "seconds"),
)
BY_NAME = {m.name: m for m in METRICS}
VERDICTS = ("approved", "rejected", "insufficient_evidence")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _labels(row: dict[str, Any], names: Iterable[str]) -> dict[str, str]:
    return {name: "" if row.get(name) is None else str(row[name]) for name in names}


def warehouse_samples(warehouse: Path) -> list[Sample]:
    """The SLO and drift series, read in one short read-only connection. Raises when the file
    is missing or cannot be opened (e.g. a dbt build holds it)."""
    import duckdb

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"no warehouse yet at {warehouse} (`assay run` builds it)")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        slo = (con.sql("select * from slo_daily where day = (select max(day) from slo_daily)").to_arrow_table().to_pylist()
               if "slo_daily" in tables else [])
        drift = con.sql("select * from drift").to_arrow_table().to_pylist() if "drift" in tables else []
    samples = []
    columns = (("assay_slo_calls", "calls", 1.0), ("assay_slo_pass_ratio", "pass_rate", 1.0),
               ("assay_slo_error_ratio", "error_rate", 1.0), ("assay_slo_latency_p50_seconds", "latency_p50_ms", 1e-3),
               ("assay_slo_latency_p95_seconds", "latency_p95_ms", 1e-3),
               ("assay_slo_cost_per_request_usd", "cost_per_request_usd", 1.0))
    for row in slo:
        labels = _labels(row, SEGMENT)
        for name, column, scale in columns:
            if row.get(column) is not None:  # unknown (nothing scored, no latency) is absent, never 0
                samples.append(Sample(name, labels, float(row[column]) * scale))
    if slo:
        samples.append(Sample("assay_slo_day_timestamp_seconds", {}, _midnight(slo[0]["day"])))
    for row in drift:
        samples.append(Sample("assay_drift_flagged", _labels(row, DRIFT_ROW), 1.0 if row.get("flagged") else 0.0))
    return samples


def decision_samples(rows: list[dict[str, Any]] | None) -> list[Sample]:
    """The candidate series from the latest decision rows (`latest_decision_rows`)."""
    samples = []
    for row in rows or []:
        pair = {"candidate_id": row["candidate_id"], "baseline_id": row["baseline_id"]}
        for verdict in VERDICTS:
            samples.append(Sample("assay_candidate_verdict", pair | {"verdict": verdict},
                                  1.0 if row["verdict"] == verdict else 0.0))
        quality = next((g for g in row.get("gates") or [] if g["gate"] == "quality"), {})
        for name, key in (("assay_candidate_quality_delta", "observed"), ("assay_candidate_quality_delta_ci_low", "ci_low"),
                          ("assay_candidate_quality_delta_ci_high", "ci_high")):
            if quality.get(key) is not None:
                samples.append(Sample(name, pair, float(quality[key])))
        only = {"candidate_id": row["candidate_id"]}
        if row.get("rank") is not None:
            samples.append(Sample("assay_candidate_rank", only, float(row["rank"])))
        decided = datetime.fromisoformat(row["decided_at"]) if isinstance(row["decided_at"], str) else row["decided_at"]
        samples.append(Sample("assay_candidate_decided_timestamp_seconds", only, decided.timestamp()))
    return samples


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render_openmetrics(samples: Iterable[Sample]) -> str:
    """OpenMetrics text: every metric of METRICS with its HELP, TYPE and UNIT (a family with no
    sample this time is still described), samples sorted, `# EOF` last. The same text is read
    by Prometheus' classic text parser, as node_exporter's textfile collector needs."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.name not in BY_NAME:
            raise ValueError(f"{sample.name} is not a documented assay metric")
        by_name.setdefault(sample.name, []).append(sample)
    lines = []
    for spec in METRICS:
        lines.append(f"# TYPE {spec.name} gauge")
        if spec.unit:
            lines.append(f"# UNIT {spec.name} {spec.unit}")
        lines.append(f"# HELP {spec.name} {spec.help}")
        for sample in sorted(by_name.get(spec.name, []), key=lambda s: sorted(s.labels.items())):
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels.items())
            lines.append(f"{spec.name}{{{labels}}} {_number(sample.value)}" if labels else
                         f"{spec.name} {_number(sample.value)}")
    return "\n".join(lines) + "\n# EOF\n"


class MetricsSource:
    """What one scrape returns: the decisions read every time (a Parquet partition), the
    warehouse at most every `refresh_s` (keeping the last values read when it cannot be read)."""

    def __init__(self, home: AssayHome, *, refresh_s: float = 30.0, log=lambda _m: None, clock=time.monotonic):
        self.home = home
        self.refresh_s = refresh_s
        self.log = log
        self._clock = clock
        self._lock = threading.Lock()
        self._warehouse: list[Sample] = []
        self._read_ok = False
        self._read_at: float | None = None
        self._attempted: float | None = None
        self._last_error = ""

    def _refresh_warehouse(self) -> None:
        now = self._clock()
        if self._attempted is not None and now - self._attempted < self.refresh_s:
            return
        self._attempted = now
        try:
            self._warehouse = warehouse_samples(self.home.warehouse)
        except Exception as exc:  # locked by dbt, missing, half-built: keep the last values
            self._read_ok = False
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if error != self._last_error:
                self.log(f"warehouse not read ({error}); serving the last values read")
            self._last_error = error
            return
        self._read_ok, self._read_at, self._last_error = True, time.time(), ""

    def samples(self) -> list[Sample]:
        from assay.reports import latest_decision_rows

        with self._lock:
            self._refresh_warehouse()
            samples = list(self._warehouse)
            samples.append(Sample("assay_warehouse_read_ok", {}, 1.0 if self._read_ok else 0.0))
            if self._read_at is not None:
                samples.append(Sample("assay_warehouse_read_timestamp_seconds", {}, self._read_at))
        return samples + decision_samples(latest_decision_rows(Lake(self.home.lake)))

    def text(self) -> str:
        return render_openmetrics(self.samples())

    @property
    def read_ok(self) -> bool:
        return self._read_ok


def write_textfile(source: MetricsSource, path: Path, *, attempts: int = 3, wait_s: float = 1.0) -> tuple[int, bool]:
    """Write the metrics for node_exporter's textfile collector, by rename (the collector never
    reads half a file). A warehouse held by a dbt build is tried `attempts` times, `wait_s`
    apart; then the file is written anyway, with `assay_warehouse_read_ok 0` and no SLO series.
    Returns (samples written, whether the warehouse was read)."""
    from assay.lake import atomic_write_text

    source.refresh_s = 0.0
    for attempt in range(attempts):
        samples = source.samples()
        if source.read_ok or attempt == attempts - 1:
            break
        time.sleep(wait_s)
    atomic_write_text(Path(path), render_openmetrics(samples))
    return len(samples), source.read_ok


def make_server(source: MetricsSource, host: str, port: int):
    """An HTTP server answering GET /metrics (and /) with the OpenMetrics text; port 0 picks a
    free port (`server.server_port`)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "assay serves /metrics")
                return
            try:
                body = source.text().encode()
            except Exception as exc:  # a broken lake file: say so, do not kill the server
                self.send_error(500, f"assay metrics: {type(exc).__name__}: {exc}"[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # one line per scrape is noise in a service's log
            pass

    return ThreadingHTTPServer((host, port), Handler)


def metrics_markdown() -> str:
    """docs/metrics.md's table of every metric (kept equal to METRICS by a test)."""
    lines = ["| metric | unit | labels | what it is |", "|---|---|---|---|"]
    for spec in METRICS:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "–"
        unit = spec.unit or ("US dollars" if spec.name.endswith("_usd") else "–")
        lines.append(f"| `{spec.name}` | {unit} | {labels} | {spec.help} |")
    return "\n".join(lines)
