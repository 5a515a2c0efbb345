"""The decision report files: self-contained, escaped HTML with its SVG charts; JUnit XML;
the warehouse read without holding its lock; the numbers for the Dagster UI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from assay.assets.decision_metadata import (
    decision_metadata,
    decision_numbers,
    decision_summary_markdown,
)

from assay.ci_annotations import render_junit
from assay.report_charts import IntervalRow, forest_plot_svg, line_chart_svg
from assay.report_data import read_snapshot
from assay.reports import report_files, write_reports
from tests.unit.report_fixtures import (
    BASELINE,
    CANDIDATE,
    TRACES,
    build_warehouse,
    case_details,
    decision,
)


@pytest.fixture
def home(tmp_path):
    (tmp_path / "reports").mkdir()
    build_warehouse(tmp_path / "warehouse.duckdb")
    return tmp_path


def write(home, d=None, **kwargs):
    d = d or decision("rejected", quality="fail", critical="fail")
    md = write_reports(home / "reports", d, CANDIDATE, BASELINE, TRACES, case_details(), **kwargs)
    return d, md, report_files(md)


def test_writes_every_report_file_beside_the_markdown(home):
    d, md, files = write(home)
    assert md == home / "reports" / "2026-11-21" / "cand-a.md"
    assert d.report_path == str(md)
    for name in ("markdown", "html", "json", "junit"):
        assert files[name].is_file(), name
    assert files["junit"].name == "cand-a.junit.xml"
    payload = json.loads(files["json"].read_text())
    assert payload["report_files"]["html"] == str(files["html"])
    assert payload["decision"]["verdict"] == "rejected"


def test_html_is_self_contained_and_escapes_untrusted_text(home, monkeypatch):
    monkeypatch.setenv("ASSAY_ALERT_WEBHOOK_URL", "https://hooks.example.invalid/services/T/B/very-secret")
    _, _, files = write(home)
    page = files["html"].read_text()
    # Model output with markup appears as text, never as markup.
    assert "<script" not in page.lower()
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # Nothing fetched from anywhere: no external URL but the SVG namespace, no link/src.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "<link" not in page and " src=" not in page.replace("&lt;img src=x", "")
    assert "very-secret" not in page
    # The side-by-side view of the critical case.
    assert 'class="sidebyside"' in page and "case-crit" in page and "Candidate output" in page


def test_html_has_its_charts(home):
    _, _, files = write(home)
    page = files["html"].read_text()
    assert page.count("<svg") >= 6  # gates, forest plot, 4 SLO trends, evaluator trend
    assert 'class="chart forest"' in page and 'class="chart gates"' in page
    assert page.count('class="chart trend"') == 5
    assert "<polyline" in page  # five days of trend: lines, not only dots
    # The forest plot draws the candidate_metric_comparison rows: the quality gate's metric and
    # each evaluator's paired interval (5 of 20 lost: McNemar p = 2 / 2^5; Holm doubles it over
    # the two metrics: not significant).
    assert "no_pii (n=20)</text>" in page and "all evaluators (quality gate) (n=20)</text>" in page
    assert "<td>no_pii</td><td>20</td><td>75%</td><td>100%</td><td>-0.250 (-0.450 to -0.050)</td>" in page
    assert "<td>0.062</td><td>0.12</td><td>no</td>" in page
    # The SLO in force is drawn on the latency trend (from the latency gate's threshold).
    assert "SLO 1000" in page


def test_drift_flags_shown_when_the_mart_exists_and_skipped_when_not(home, tmp_path_factory):
    _, _, files = write(home)
    page = files["html"].read_text()
    assert "2 drift flag(s)" not in page  # only the latest day's flags
    assert "1 drift flag(s)" in page and "faithfulness" in page
    # The columns a person needs, in a table laid out to the page's width.
    drift = page[page.index("<h2>Drift</h2>"):]
    drift = drift[: drift.index("</table>")]
    assert '<table class="fit num small">' in drift
    for header in ("metric", "segment", "reference → recent", "p-value", "effect", "reason"):
        assert f">{header}</th>" in drift
    assert "<td>0.9085 → 0.7396</td><td>2.8e-09</td><td>-0.456</td>" in drift
    bare = tmp_path_factory.mktemp("bare")
    (bare / "reports").mkdir()
    build_warehouse(bare / "warehouse.duckdb", with_drift=False)
    _, _, files = write(bare)
    assert "no `drift` mart in the warehouse" in files["html"].read_text()


def test_report_renders_without_a_warehouse(tmp_path):
    (tmp_path / "reports").mkdir()
    _, _, files = write(tmp_path)
    page = files["html"].read_text()
    assert "No <code>slo_daily</code> rows" in page and 'class="chart gates"' in page


def test_warehouse_lock_is_released_after_the_report(home):
    write(home)
    # Another process opening the file read-write (as dbt does) must not find it locked.
    code = f"import duckdb; duckdb.connect({str(home / 'warehouse.duckdb')!r}).execute('select 1'); print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_junit_has_a_testcase_per_gate_with_failures_and_skips():
    d = decision("rejected", quality="fail", evidence="unavailable")
    root = ET.fromstring(render_junit(d))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [g.gate for g in d.gates]
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    by_name = {c.get("name"): c for c in cases}
    assert by_name["quality"].find("failure") is not None
    assert by_name["evidence"].find("skipped") is not None
    assert by_name["latency_p95"].find("failure") is None and by_name["latency_p95"].find("skipped") is None


def test_svg_charts_escape_labels_and_place_points():
    svg = forest_plot_svg([IntervalRow("<b>m</b>", -0.1, -0.2, 0.0, 10)], title="t&t", margin=0.02)
    assert "<b>" not in svg and "&lt;b&gt;m&lt;/b&gt;" in svg and "t&amp;t" in svg
    ET.fromstring(svg)  # well-formed XML
    line = line_chart_svg({"a": [("2026-11-20", 1.0), ("2026-11-21", 2.0)]}, title="x", threshold=1.5)
    ET.fromstring(line)
    points = re.search(r'points="([^"]+)"', line).group(1).split()
    (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in points)
    assert x2 > x1 and y2 < y1  # later day to the right; the larger value higher up
    assert "no data" in line_chart_svg({}, title="empty")


def test_snapshot_reads_the_latest_days_only(home):
    snapshot = read_snapshot(home / "warehouse.duckdb", trend_days=2)
    assert sorted({r["day"] for r in snapshot.slo_rows}) == ["2026-11-20", "2026-11-21"]
    assert snapshot.drift is not None and snapshot.drift.flag_column == "flagged"
    assert [(r["feature"], r["evaluator"]) for r in snapshot.drift.rows] == [("rag_answer", "faithfulness")]


def test_ui_numbers_use_the_report_names_rounded_with_their_units():
    d = decision("rejected", quality="fail")
    d.gates[4].observed = 0.0001516301075268817  # cost per request: a raw float as the gate computed it
    rows = [{"metric": "case_pass_share", "candidate_mean": 0.9412345678}, {"metric": "no_pii", "candidate_mean": 0.5}]
    numbers = decision_numbers(d, rows)
    assert numbers == {"latency_p95_ms": 900.0, "cost_per_request_usd": 0.000152, "pass_share_delta": -0.05,
                       "pass_share": 0.941}
    d.report_path = "/h/reports/2026-11-21/cand-a.md"
    metadata = decision_metadata([d], {"cand-a": rows})
    assert metadata["cand-a/latency_p95_ms"].value == 900.0
    assert metadata["cand-a/approved"].value == 0
    # The same names as the reports, each defined beside the numbers.
    definitions = metadata["definitions"].value
    assert "**pass_share** (pass share): the share of a case's evaluators that passed" in definitions
    assert "**pass_share_delta** (pass-share delta)" in definitions
    summary = decision_summary_markdown([d])
    assert "| `cand-a` | **rejected** |" in summary and "quality ✘" in summary


def test_rate_axis_stops_at_100_percent():
    chart = line_chart_svg({"a": [("2026-11-20", 0.9), ("2026-11-21", 1.0)]}, title="r",
                           value_format=lambda v: f"{v:.0%}", y_max=1.0)
    assert ">100%<" in chart and "110%" not in chart


def test_golden_and_red_team_cases_are_labelled_as_such():
    from assay.report_html import case_origin

    assert case_origin({"source": "golden", "feature": "orders", "metadata": {"file": "orders.yaml"}}) == (
        "golden case from orders.yaml, feature orders")
    assert case_origin({"source": "redteam", "metadata": {"attack": "instruction_override", "pack": "redteam/v1"}}) == (
        "red-team case (instruction_override), pack redteam/v1")
    assert case_origin({"source": "production", "feature": "rag_answer", "failure_category": None}) == (
        "rag_answer, passing production sample")
