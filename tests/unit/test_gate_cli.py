"""`assay gate <candidate>` (exit status for CI/CD) and `assay report --format json`."""

from __future__ import annotations

import json

import pytest
from assay.orchestration.cli import main

from assay.reports import GATE_EXIT_UNKNOWN, gate_verdict, write_reports
from tests.unit.report_fixtures import (
    BASELINE,
    CANDIDATE,
    TRACES,
    case_details,
    decision,
    write_decisions,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # the CLI sets it: restored after
    approved = decision("approved", candidate_id="good")
    rejected = decision("rejected", quality="fail")
    thin = decision("insufficient_evidence", candidate_id="thin", evidence="unavailable")
    for d, cand in ((approved, CANDIDATE.model_copy(update={"candidate_id": "good"})), (rejected, CANDIDATE)):
        write_reports(tmp_path / "reports", d, cand, BASELINE, TRACES, case_details())
    write_decisions(tmp_path, [approved, rejected, thin])
    return tmp_path


@pytest.mark.parametrize(("candidate", "status", "says"), [
    ("good", 0, "good: APPROVED"),
    ("cand-a", 1, "cand-a: REJECTED"),
    ("thin", 3, "thin: INSUFFICIENT_EVIDENCE"),
    ("nobody", GATE_EXIT_UNKNOWN, "no decision for candidate 'nobody'"),
])
def test_gate_exit_status_and_one_line_reason(home, capsys, candidate, status, says):
    assert main(["gate", candidate]) == status
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


def test_gate_without_any_decision(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # the CLI sets it: restored after
    assert main(["gate", "good"]) == GATE_EXIT_UNKNOWN
    assert "no decisions yet" in capsys.readouterr().err


def test_gate_reason_is_one_line_even_with_multiline_reasons():
    rows = [{"candidate_id": "c", "verdict": "rejected", "window": "w", "reasons": ["a\nb", "c"],
             "dataset_version": "v"}]
    status, reason = gate_verdict(rows, "c")
    assert status == 1 and reason == "c: REJECTED (w): a b; c"


def test_report_json_one_object_per_candidate_with_report_files(home, capsys):
    assert main(["report", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["candidate_id"] for r in records] == ["good", "cand-a", "thin"]
    by_id = {r["candidate_id"]: r for r in records}
    assert by_id["cand-a"]["verdict"] == "rejected" and by_id["cand-a"]["approved"] is False
    assert [g["gate"] for g in by_id["cand-a"]["gates"]][:2] == ["evidence", "quality"]
    reports = by_id["cand-a"]["reports"]
    assert set(reports) == {"markdown", "html", "json", "junit"}
    assert reports["html"].endswith("reports/2026-11-21/cand-a.html") and reports["junit"].endswith("cand-a.junit.xml")
    # "thin" was never written to disk: its paths are null, not invented.
    assert by_id["thin"]["reports"] == {"markdown": None, "html": None, "json": None, "junit": None}
