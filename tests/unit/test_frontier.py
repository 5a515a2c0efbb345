"""The cost-quality frontier: which candidates no other beats on quality, cost and p95 latency,
measured by the gates' rules, shown in the decision reports and by `assay report`."""

from __future__ import annotations

import json
import re

import pytest
from assay.assets.decision_gates import replay_samples
from assay.orchestration.cli import main

from assay.config import GateConfig
from assay.contracts.frontier import FrontierPoint
from assay.frontier import (
    ReplaySamples,
    build_frontier,
    frontier_text,
    mark_pareto,
    read_frontier,
    write_frontier,
)
from assay.lake import Lake
from assay.reports import write_reports
from tests.unit.report_fixtures import (
    BASELINE,
    CANDIDATE,
    TRACES,
    VERSION,
    case_details,
    decision,
    write_decisions,
)


def point(candidate_id: str, quality: float | None, cost: float | None, p95: float | None, **extra) -> FrontierPoint:
    return FrontierPoint(candidate_id=candidate_id, dataset_version=VERSION, quality_delta=quality,
                         cost_per_request_usd=cost, latency_p95_ms=p95, **extra)


# A hand-made set of four: the best quality, the cheapest, one beaten on every axis by the
# cheapest, and a worse-but-fastest one.
FOUR = [
    point("best-quality", 0.02, 0.004, 900.0),
    point("baseline", 0.0, 0.001, 800.0, is_baseline=True),
    point("beaten", -0.03, 0.002, 1000.0),
    point("fastest", -0.01, 0.003, 300.0),
]


def test_the_frontier_marks_the_right_candidates_of_four():
    marked = {p.candidate_id: p for p in mark_pareto(FOUR)}
    assert {cid for cid, p in marked.items() if p.is_pareto_optimal} == {"best-quality", "baseline", "fastest"}
    assert marked["beaten"].is_pareto_optimal is False
    assert marked["beaten"].dominated_by == ["baseline"]
    # Without latency, the fastest one is beaten too (the baseline is better and cheaper).
    two_axes = mark_pareto([p.model_copy(update={"latency_p95_ms": None}) for p in FOUR])
    assert {p.candidate_id for p in two_axes if p.is_pareto_optimal} == {"best-quality", "baseline"}
    assert all("p95 latency unknown for every candidate" in p.note for p in two_axes)


def test_unknown_is_not_placed_and_ties_do_not_dominate():
    marked = {p.candidate_id: p for p in mark_pareto([*FOUR, point("no-price", 0.5, None, 10.0)])}
    assert marked["no-price"].is_pareto_optimal is None
    assert marked["no-price"].note == "not placed: unknown cost per request"
    # An unplaced candidate beats nobody, however good its known axes are.
    assert marked["best-quality"].is_pareto_optimal and marked["fastest"].is_pareto_optimal
    twins = mark_pareto([point("a", 0.0, 0.001, 500.0), point("b", 0.0, 0.001, 500.0)])
    assert [p.is_pareto_optimal for p in twins] == [True, True]


def test_build_frontier_measures_by_the_gates_rules():
    decided = [decision("rejected", quality="fail"), decision("approved", candidate_id="good")]
    decided[0].rank, decided[1].rank = 2, 1
    samples = {
        "base": ReplaySamples([1.0] * 30, [100.0] * 28 + [2000.0] * 2, [0.001] * 30),
        "good": ReplaySamples([1.0] * 30, [100.0] * 30, [0.002] * 30),
        "cand-a": ReplaySamples([0.5] * 30, [100.0] * 30, None),  # one replay without a price
    }
    points = build_frontier(dataset_version=VERSION, baseline_id="base", decisions=decided, samples=samples,
                            gate=GateConfig(bootstrap_resamples=200))
    assert [p.candidate_id for p in points] == ["base", "good", "cand-a"]  # baseline, then by rank
    base, good, cand = points
    assert base.is_baseline and base.quality_delta == 0.0 and base.quality_ci_low is None
    assert base.latency_p95_ms == pytest.approx(100.0 + 0.55 * 1900.0)  # linear p95 of 30 values: rank 27.55
    assert good.quality_delta == 0.01 and (good.quality_ci_low, good.quality_ci_high) == (-0.01, 0.02)
    assert good.cost_per_request_usd == pytest.approx(0.002) and good.verdict == "approved" and good.rank == 1
    assert cand.cost_per_request_usd is None and cand.is_pareto_optimal is None
    assert base.is_pareto_optimal and good.is_pareto_optimal  # better quality, but dearer


def test_replay_samples_follow_the_cost_and_latency_rules():
    rows = [
        {"case_id": "a", "pass_share": 1.0, "is_case_passed": True, "output_status": "completed", "latency_ms": 50.0,
         "cost_usd": 0.001},
        {"case_id": "b", "pass_share": None, "is_case_passed": None, "output_status": "error", "latency_ms": 5.0,
         "cost_usd": None},
    ]
    sample = replay_samples(rows, timeout_s=2.0)
    assert sample.pass_shares == [1.0]
    assert sample.latencies_ms == [50.0, 2000.0]  # the failed replay at no less than the timeout
    assert sample.costs_usd == [0.001]
    rows[0]["cost_usd"] = None
    assert replay_samples(rows, timeout_s=2.0).costs_usd is None


def test_reports_and_assay_report_show_the_frontier(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    frontier = mark_pareto([p.model_copy(update={"candidate_id": cid}) for p, cid in
                            zip(FOUR, ["good", "base", "cand-a", "fast"], strict=True)])
    d = decision("rejected", quality="fail")
    md = write_reports(tmp_path / "reports", d, CANDIDATE, BASELINE, TRACES, case_details(), frontier=frontier)
    markdown = md.read_text()
    assert "## Cost and quality of every candidate" in markdown
    assert "| **cand-a** | – | – | -0.030 | $0.002 | 1,000 ms | dominated by base |" in markdown
    assert "| good | – | – | +0.020 | $0.004 | 900 ms | **Pareto-optimal** |" in markdown
    html = md.with_suffix(".html").read_text()
    svg = re.search(r'<svg[^>]*class="chart frontier".*?</svg>', html, re.S).group(0)
    # Filled markers for the three Pareto-optimal candidates, hollow for the beaten one.
    assert svg.count('fill="#fff"') == 2  # its point and its legend entry
    assert svg.count("Pareto-optimal") == 3 + 2  # three legend entries, the title and its <title>
    assert json.loads(md.with_suffix(".json").read_text())["frontier"][2]["dominated_by"] == ["base"]

    lake = write_decisions(tmp_path, [d])
    write_frontier(lake, VERSION, frontier)
    assert [p.candidate_id for p in read_frontier(Lake(tmp_path / "lake"), VERSION)] == ["good", "base", "cand-a", "fast"]
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("Cost and quality of every candidate"):]
    assert "cand-a" in frontier_text(frontier) and "dominated by base" in table
    assert sum("Pareto-optimal" in line for line in table.splitlines()) == 3 + 1  # three rows and the note
    assert main(["report", "--format", "json"]) == 0
    record, = json.loads(capsys.readouterr().out)
    assert record["frontier"]["is_pareto_optimal"] is False and record["frontier"]["dominated_by"] == ["base"]
