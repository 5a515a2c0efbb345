"""`assay metrics`: OpenMetrics read back with Prometheus' own parsers, the documented names,
and the warehouse's lock: a scrape during a dbt build serves the last values, and a dbt build
during a scrape waits for it (the profile's connect retries), so neither breaks."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

from assay.metrics_export import (
    METRICS,
    MetricsSource,
    Sample,
    decision_samples,
    metrics_markdown,
    render_openmetrics,
    write_textfile,
)
from assay.runtime import AssayHome
from tests.unit.report_fixtures import build_warehouse, decision, write_decisions

ROOT = Path(__file__).resolve().parents[2]


def values(text: str, parse=parse_openmetrics) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse(text) for s in family.samples
    }


def test_every_family_is_described_and_hostile_labels_read_back():
    hostile = 'rag "answer"\\ \nnext'
    text = render_openmetrics([
        Sample("assay_slo_latency_p95_seconds", {"app": "a", "feature": hostile, "model": "openai/gpt-4o-mini",
                                                 "prompt_version": "v1"}, 0.98),
        Sample("assay_candidate_verdict", {"candidate_id": "c", "baseline_id": "b", "verdict": "approved"}, 1.0),
    ])
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert set(families) == {m.name.removesuffix("_total") for m in METRICS}  # each described, sample or not
    assert families["assay_slo_latency_p95_seconds"].unit == "seconds"
    (sample,) = families["assay_slo_latency_p95_seconds"].samples
    assert sample.labels["feature"] == hostile and sample.value == 0.98
    # node_exporter's textfile collector reads the classic text format: the same text parses.
    assert values(text, parse_classic) == values(text)
    with pytest.raises(ValueError, match="not a documented assay metric"):
        render_openmetrics([Sample("assay_made_up", {}, 1.0)])


def test_docs_list_every_metric_as_the_code_names_it():
    docs = (ROOT / "docs" / "metrics.md").read_text()
    assert metrics_markdown() in docs, "docs/metrics.md is out of date: paste assay.metrics_export.metrics_markdown()"


def test_decision_series_follow_the_latest_decisions(tmp_path):
    rejected = decision("rejected", quality="fail")
    rejected.rank = 2
    lake = write_decisions(tmp_path, [rejected])
    from assay.reports import latest_decision_rows

    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in decision_samples(latest_decision_rows(lake))}
    pair = (("baseline_id", "base"), ("candidate_id", "cand-a"))
    assert got[("assay_candidate_verdict", (*pair, ("verdict", "rejected")))] == 1.0
    assert got[("assay_candidate_verdict", (*pair, ("verdict", "approved")))] == 0.0
    assert got[("assay_candidate_quality_delta", pair)] == -0.05
    assert got[("assay_candidate_quality_delta_ci_low", pair)] == -0.09
    assert got[("assay_candidate_rank", (("candidate_id", "cand-a"),))] == 2.0
    assert got[("assay_candidate_decided_timestamp_seconds", (("candidate_id", "cand-a"),))] == \
        rejected.decided_at.timestamp()


HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
con.close()
"""


@contextmanager
def held(path: Path, mode: str):
    """Another process holding the DuckDB file (`rw`: as a dbt build does; `ro`: as a reader)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def test_a_scrape_during_a_dbt_build_serves_the_last_values(tmp_path):
    home = AssayHome(tmp_path)
    build_warehouse(home.warehouse)
    write_decisions(tmp_path, [decision("approved")])
    logged = []
    source = MetricsSource(home, refresh_s=0.0, log=logged.append)
    first = values(source.text())
    assert first[("assay_warehouse_read_ok", ())] == 1.0
    slo = {k: v for k, v in first.items() if k[0].startswith("assay_slo_")}
    assert slo[("assay_slo_latency_p95_seconds", (("app", "app"), ("feature", "rag_answer"), ("model", "sim/base"),
                                                  ("prompt_version", "v1")))] == pytest.approx(0.88)
    with held(home.warehouse, "rw"):
        during = values(source.text())
        (_, read_ok) = write_textfile(MetricsSource(home), tmp_path / "assay.prom", attempts=2, wait_s=0.01)
    assert during[("assay_warehouse_read_ok", ())] == 0.0
    assert {k: v for k, v in during.items() if k[0].startswith("assay_slo_")} == slo  # the last values read
    assert during[("assay_candidate_verdict", (("baseline_id", "base"), ("candidate_id", "cand-a"),
                                               ("verdict", "approved")))] == 1.0  # decisions are not in the warehouse
    assert len(logged) == 1 and "IOException" in logged[0]
    # The textfile written meanwhile says the warehouse was not read, and holds no stale SLO.
    textfile = values((tmp_path / "assay.prom").read_text(), parse_classic)
    assert read_ok is False and textfile[("assay_warehouse_read_ok", ())] == 0.0
    assert not any(k[0].startswith("assay_slo_") for k in textfile)
    assert values(source.text())[("assay_warehouse_read_ok", ())] == 1.0  # released: read again


def test_a_dbt_build_during_a_scrape_waits_for_it(tmp_path, monkeypatch):
    """dbt-duckdb opens the warehouse with the retries of dbt_project/profiles.yml: a reader
    holding the file when the build starts delays it, and does not fail it."""
    from dbt.adapters.duckdb import environments
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    profile = yaml.safe_load((ROOT / "dbt_project" / "profiles.yml").read_text())["assay"]["outputs"]["local"]
    warehouse = tmp_path / "warehouse.duckdb"
    build_warehouse(warehouse)
    with held(warehouse, "ro") as reader:
        once = DuckDBCredentials.from_dict({"path": str(warehouse), "schema": "main"})
        with pytest.raises(Exception, match="lock"):
            environments.Environment.initialize_db(once)  # without retries the build would fail here
        waits = []

        def reader_finishes_while_dbt_waits(seconds: float) -> None:
            waits.append(seconds)
            reader.stdin.close()
            reader.wait(timeout=30)

        # dbt-duckdb's own `time.sleep` between attempts (the module's, not everyone's).
        monkeypatch.setattr(environments, "time", SimpleNamespace(sleep=reader_finishes_while_dbt_waits))
        credentials = DuckDBCredentials.from_dict({"path": str(warehouse), "schema": "main",
                                                   "retries": profile["retries"]})
        connection = environments.Environment.initialize_db(credentials)
    assert waits == [1]  # refused once, waited, then opened
    assert connection.execute("select count(*) from slo_daily").fetchone()[0] > 0
    connection.close()
