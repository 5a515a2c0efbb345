"""`assay gate CANDIDATE --format github|junit|codequality`: a decision where CI shows it.

The GitHub commands are read back the way the Actions runner reads them (split on the first
`::` pairs, properties on `,` and the first `=`, then unescaped), so the test checks what a
pull request would show, not only what was printed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from assay.orchestration.cli import main

from assay.ci_annotations import (
    GITHUB_PER_LEVEL,
    MAX_COMMAND_CHARS,
    MAX_MESSAGE_CHARS,
    decision_findings,
    escape_data,
    escape_property,
    github_commands,
)
from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS
from assay.contracts.decision import Decision, GateResult
from tests.unit.report_fixtures import VERSION, decision, write_decisions

HOSTILE = "50% done\n::set-output name=approved::true\r\n%0A::stop-commands::x, a: b"
COMMAND = re.compile(r"^::(?P<level>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def unescape(text: str) -> str:
    """The runner's unescaping (actions/runner ActionCommand.Unescape): %0D, %0A, %3A, %2C, then %25."""
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


def read_command(line: str) -> tuple[str, dict[str, str], str]:
    """(level, properties, message) as the runner reads one printed line."""
    match = COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props = {}
    for pair in filter(None, (match["props"] or "").split(",")):
        key, _, value = pair.partition("=")
        props[key] = unescape(value)
    return match["level"], props, unescape(match["data"])


def hostile_decision(regressed: int = 15) -> dict:
    """A rejected decision whose gate details and reasons carry hostile text, with many
    confirmed critical regressions."""
    cases = [f"case-{i:02d}" for i in range(regressed)]
    gates = [
        GateResult(gate="evidence", status="pass", observed=40, threshold=30, n=40, detail="40 paired cases"),
        GateResult(gate="quality", status="fail", observed=-0.1, threshold=-0.02, n=40, detail="worse: " + HOSTILE),
        GateResult(gate="critical_cases", status="fail", observed=regressed, threshold=0, n=20, detail=HOSTILE,
                   breakdown={"confirmed": cases, "flaky": [], "runs": {}}),
        GateResult(gate="output_diversity", status="unavailable", detail="outputs missing " + HOSTILE),
        GateResult(gate="latency_p95", status="fail", observed=9000, threshold=1000, detail="slow " + "x" * 5000),
        GateResult(gate="cost_per_request", status="pass", observed=0.001, threshold=0.002, detail="ok"),
    ]
    d = Decision(candidate_id="cand-a", baseline_id="base", dataset_version=VERSION, window="dataset, 40 cases",
                 verdict="rejected", gates=gates, reasons=[HOSTILE], decided_at=datetime(2026, 11, 21, tzinfo=UTC),
                 report_path="/reports/2026-11-21/cand-a.md")
    return d.model_dump(mode="json")


def test_escaping_follows_githubs_toolkit():
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a: b, c%") == "a%3A b%2C c%25"
    # A literal escape sequence in the text stays text: it does not decode to a newline.
    assert unescape(escape_data("%0A")) == "%0A"


def test_hostile_decision_is_escaped_and_bounded():
    row = hostile_decision()
    inputs = {f"case-{i:02d}": f"question {i}\n::error::injected, {i}%" for i in range(15)}
    findings = decision_findings(row, case_inputs=inputs, report="/reports/cand-a.html")
    lines = github_commands(findings, file="config/assay.yaml", line=12, report="/reports/cand-a.html")
    printed = "\n".join(lines)
    # One command per line: no raw CR/LF inside a command, so hostile text starts no command.
    assert printed.count("\n") == len(lines) - 1 and "\r" not in printed
    read = [read_command(line) for line in lines]
    levels = [level for level, _, _ in read]
    # 3 failed gates + 15 regressions = 18 errors: cut to 10, the 10th saying how many were left out.
    assert levels.count("error") == GITHUB_PER_LEVEL
    assert levels.count("warning") == 1 and levels.count("notice") == 1
    errors = [(props, message) for level, props, message in read if level == "error"]
    assert "9 more error annotation(s) not shown" in errors[-1][1] and "/reports/cand-a.html" in errors[-1][1]
    assert [p["title"] for p, _ in errors[:3]] == [
        "assay gate cand-a: quality failed", "assay gate cand-a: critical_cases failed",
        "assay gate cand-a: latency_p95 failed",
    ]
    # Each message reads back exactly as written (the runner's unescaping), cut to the bound.
    quality = errors[0][1]
    assert HOSTILE in quality
    first_case = errors[3]
    assert first_case[0]["title"] == "assay gate cand-a: critical case case-00 regressed"
    assert "question 0\n::error::injected, 0%" in first_case[1]
    latency = errors[2][1]
    assert len(latency) == MAX_MESSAGE_CHARS and latency.endswith("…")
    # Properties with `:` and `,` survive as values: file and line point at the candidate.
    assert all(p["file"] == "config/assay.yaml" and p["line"] == "12" for _, p, _ in read)
    assert all(len(line) <= MAX_COMMAND_CHARS for line in lines)
    notice = next(message for level, _, message in read if level == "notice")
    assert notice.startswith("cand-a: REJECTED (dataset, 40 cases): 50% done\n::set-output")


def test_a_title_with_separators_is_one_property():
    row = hostile_decision(regressed=0)
    row["candidate_id"] = "a:b,c"  # not a valid id, but a property must survive anything
    lines = github_commands(decision_findings(row))
    _, props, _ = read_command(lines[0])
    assert props == {"title": "assay gate a:b,c: quality failed"}


@pytest.fixture
def ci_home(tmp_path, monkeypatch):
    """A home with decisions, a dataset holding the regressed case, and assay.yaml in the
    folder the command runs in (the repository checkout)."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "assay.yaml").write_text(
        "# our evaluation config\ncandidates:\n  - candidate_id: base\n    model: sim/base\n    is_baseline: true\n"
        "  - candidate_id: cand-a   # the challenger\n    model: sim/cand-a\n"
    )
    monkeypatch.setenv("ASSAY_CONFIG", str(repo / "assay.yaml"))
    monkeypatch.chdir(repo)
    rejected = decision("rejected", quality="fail", critical="fail", evidence="unavailable")
    rejected.gates[2].breakdown = {"confirmed": ["case-crit"], "flaky": [], "runs": {}}
    rejected.report_path = str(tmp_path / "home" / "reports" / "2026-11-21" / "cand-a.md")
    lake = write_decisions(tmp_path / "home", [rejected, decision("approved", candidate_id="good")])
    case = {"case_id": "case-crit", "input": [{"role": "user", "content": "Where is my refund?\n::warning::x"}]}
    lake.write_partition("regression_dataset", [case], partition={"version": VERSION}, schema=CASE_ARROW_SCHEMA,
                         json_columns=CASE_JSON_COLUMNS)
    return repo


def test_gate_github_format_from_the_cli(ci_home, capsys):
    assert main(["gate", "cand-a", "--format", "github"]) == 1
    out, err = capsys.readouterr()
    assert "cand-a: REJECTED" in err  # the one line on stderr stays
    read = [read_command(line) for line in out.splitlines()]
    assert [(level, props["title"]) for level, props, _ in read] == [
        ("error", "assay gate cand-a: quality failed"),
        ("error", "assay gate cand-a: critical_cases failed"),
        ("error", "assay gate cand-a: critical case case-crit regressed"),
        ("warning", "assay gate cand-a: evidence without enough evidence"),
        ("notice", "assay gate cand-a: rejected"),
    ]
    # Annotations point at the candidate's entry in the checked-out assay.yaml (line 6).
    assert {(props["file"], props["line"]) for _, props, _ in read} == {("assay.yaml", "6")}
    case_message = read[2][2]
    assert "Where is my refund?\n::warning::x" in case_message and "cand-a.html" in case_message


def test_gate_junit_and_codequality_formats(ci_home, capsys):
    assert main(["gate", "good", "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out.encode()).find("testsuite")
    assert suite.get("name") == "assay.deploy_gate.good" and suite.get("failures") == "0"
    assert main(["gate", "cand-a", "--format", "codequality"]) == 1
    issues = json.loads(capsys.readouterr().out)
    assert sorted(i["severity"] for i in issues) == ["critical", "critical", "critical", "minor"]
    assert {i["location"]["path"] for i in issues} == {"assay.yaml"} and issues[0]["location"]["lines"] == {"begin": 6}
    assert len({i["fingerprint"] for i in issues}) == 4


def test_gate_github_format_without_a_decision(ci_home, capsys):
    assert main(["gate", "nobody", "--format", "github"]) == 4
    (level, props, message), = [read_command(line) for line in capsys.readouterr().out.splitlines()]
    assert level == "error" and "no decision for candidate 'nobody'" in message and "line" not in props
