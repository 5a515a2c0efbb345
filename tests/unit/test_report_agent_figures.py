"""Trace and session figures in the decision report: the `agent_daily` mart's pass rates, steps,
tokens per task and turns; a multi-turn case says the turn it was replayed at."""

from __future__ import annotations

from datetime import date

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


def _with_agent_mart(path):
    import duckdb

    build_warehouse(path)
    with duckdb.connect(str(path)) as con:
        con.execute("""create table agent_daily (day date, app varchar, feature varchar, subject_kind varchar,
            subjects bigint, scored_subjects bigint, passed_subjects bigint, pass_rate double, mean_steps double,
            steps_p95 double, tokens_per_task double, mean_turns double, tool_calls bigint, tool_errors bigint,
            cost_usd double)""")
        for day, passed in ((date(2026, 11, 20), 6), (date(2026, 11, 21), 3)):
            # Two features of agent runs (their figures are weighted by runs), one of conversations.
            con.execute("insert into agent_daily values (?, 'app', 'agent', 'trace', 6, 6, ?, null, 4, 6, 1000, null, 12, 1, 0.1)",
                        [day, passed])
            con.execute("insert into agent_daily values (?, 'app', 'agent2', 'trace', 2, 2, 2, 1.0, 8, 8, 3000, null, 4, 0, 0.1)",
                        [day])
            con.execute("insert into agent_daily values (?, 'app', 'chat', 'session', 5, 5, 4, 0.8, null, null, 500, 3, null, null, 0.1)",
                        [day])
    return path


def test_the_report_shows_agent_run_and_conversation_figures(tmp_path):
    warehouse = _with_agent_mart(tmp_path / "warehouse.duckdb")
    snapshot = read_snapshot(warehouse)
    last = {r["subject_kind"]: r for r in snapshot.agent_rows if r["day"] == "2026-11-21"}
    assert (last["trace"]["subjects"], last["trace"]["passed_subjects"], last["trace"]["pass_rate"]) == (8, 5, 5 / 8)
    assert (last["trace"]["mean_steps"], last["trace"]["tokens_per_task"]) == (5.0, 1500.0)
    assert (last["session"]["pass_rate"], last["session"]["mean_turns"], last["session"]["mean_steps"]) == (0.8, 3.0, None)

    (tmp_path / "reports").mkdir()
    details = case_details()
    details["case-other"]["metadata"] = {"subject_kind": "session", "session_id": "s-42", "replay_turn": 3}
    md = write_reports(tmp_path / "reports", decision("rejected", quality="fail", critical="fail"), CANDIDATE, BASELINE,
                       TRACES, details, warehouse=warehouse)
    page = report_files(md)["html"].read_text()
    section = page[page.index("<h2>Agent runs and conversations</h2>"):page.index("<h2>Drift</h2>")]
    assert "pass rate of agent runs and conversations" in section and 'class="chart trend"' in section
    assert "<tr><td>2026-11-21</td><td>agent runs</td><td>8</td><td>62%</td><td>5</td><td>1500</td><td>–</td><td>1</td></tr>" in section
    assert "<tr><td>2026-11-21</td><td>conversations</td><td>5</td><td>80%</td><td>–</td><td>500</td><td>3</td><td>–</td></tr>" in section
    assert "multi-turn: replayed at turn 3 of session s-42" in page


def test_no_agent_mart_says_so(tmp_path):
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    (tmp_path / "reports").mkdir()
    md = write_reports(tmp_path / "reports", decision("approved"), CANDIDATE, BASELINE, TRACES, case_details(),
                       warehouse=warehouse)
    assert "No <code>agent_daily</code> rows" in report_files(md)["html"].read_text()
