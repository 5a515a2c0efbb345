"""A decision where CI shows it: GitHub Actions workflow commands, GitLab Code Quality and JUnit XML.

`assay gate CANDIDATE --format github` prints one workflow command per finding: `::error` for
each failed gate and each critical case that regressed, `::warning` for each gate without
enough evidence, one `::notice` with the verdict. The runner turns them into annotations on
the run and the pull request; with `file=`/`line=` (the candidate's entry in assay.yaml) they
also show beside that line of the diff.

What goes into a command is untrusted: gate details quote model outputs, case inputs are user
text. GitHub's toolkit escapes a command's data (`%`, CR, LF) and its property values
(`%`, CR, LF, `:`, `,`); the same is done here, so a newline in a model's answer cannot start a
second command (`::set-output`, `::stop-commands`) and a `:` or `,` cannot end a property early.

GitHub shows at most 10 error, 10 warning and 10 notice annotations per step (50 per job) and
drops the rest without saying so: each level is cut to GITHUB_PER_LEVEL, the last of them
saying how many were left out and where the full list is. Each message is cut to
MAX_MESSAGE_CHARS characters before escaping, so no command exceeds MAX_COMMAND_CHARS.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from assay.glossary import show

if TYPE_CHECKING:
    from assay.contracts.decision import Decision

Level = Literal["error", "warning", "notice"]
LEVELS: tuple[Level, ...] = ("error", "warning", "notice")

GITHUB_PER_LEVEL = 10
"""Annotations of one level GitHub shows per step (10 errors, 10 warnings, 10 notices)."""
MAX_MESSAGE_CHARS = 900
MAX_TITLE_CHARS = 120
MAX_COMMAND_CHARS = 4096
"""An upper bound on one printed command: each escaped character takes at most 3, so a
900-character message and a 120-character title stay well under it."""
CODEQUALITY_SEVERITY = {"error": "critical", "warning": "minor", "notice": "info"}
"""GitLab Code Quality severities (info, minor, major, critical, blocker) for each level."""


@dataclass(frozen=True)
class Finding:
    """One thing CI should show about a decision."""

    level: Level
    title: str
    message: str
    key: str
    """Stable identity (candidate, gate or case): the Code Quality fingerprint is its hash, so
    GitLab tracks the same finding across pipelines."""


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does (`escapeData`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (`escapeProperty`): data escaping plus `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decision_findings(
    decision: Mapping[str, Any],
    *,
    case_inputs: Mapping[str, str | None] | None = None,
    report: str | None = None,
) -> list[Finding]:
    """The findings of one decision row (`deploy_decisions`, gates decoded): each failed gate
    (error), each unavailable gate (warning), each confirmed critical regression (error), and
    the verdict (notice). `case_inputs`: a regressed case's input text, when known."""
    cid, baseline = decision["candidate_id"], decision["baseline_id"]
    verdict = decision["verdict"]
    see = f" (report: {report})" if report else ""
    findings: list[Finding] = []
    for gate in decision.get("gates") or []:
        name, status, detail = gate["gate"], gate["status"], gate.get("detail") or ""
        if status == "fail":
            findings.append(Finding("error", f"assay gate {cid}: {name} failed",
                                    f"{cid} vs baseline {baseline}: {name} failed: {detail}{see}", f"{cid}:gate:{name}"))
        elif status == "unavailable":
            findings.append(Finding("warning", f"assay gate {cid}: {name} without enough evidence",
                                    f"{cid} vs baseline {baseline}: {name} unavailable: {detail}{see}",
                                    f"{cid}:gate:{name}"))
    critical = next((g for g in decision.get("gates") or [] if g["gate"] == "critical_cases"), None)
    regressed = ((critical or {}).get("breakdown") or {}).get("confirmed") or []
    for case_id in regressed:
        text = (case_inputs or {}).get(case_id)
        said = f"; input: {text}" if text else ""
        findings.append(Finding(
            "error", f"assay gate {cid}: critical case {case_id} regressed",
            f"critical case {case_id} passes on baseline {baseline} and fails on {cid}{said}{see}",
            f"{cid}:case:{case_id}",
        ))
    reasons = "; ".join(decision.get("reasons") or []) or verdict
    findings.append(Finding("notice", f"assay gate {cid}: {verdict}",
                            f"{cid}: {verdict.upper()} ({decision.get('window', '')}): {reasons}{see}",
                            f"{cid}:verdict"))
    return findings


def bounded(findings: Sequence[Finding], *, per_level: int = GITHUB_PER_LEVEL, report: str | None = None) -> list[Finding]:
    """At most `per_level` findings of each level, in order; when some are left out, the last
    one kept says how many and where they all are."""
    kept: list[Finding] = []
    for level in LEVELS:
        same = [f for f in findings if f.level == level]
        if len(same) <= per_level:
            kept += same
            continue
        left_out = len(same) - (per_level - 1)
        where = f"the report {report}" if report else "`assay report`"
        kept += same[: per_level - 1]
        kept.append(Finding(level, f"assay: {left_out} more {level}(s) not shown",
                            f"{left_out} more {level} annotation(s) not shown (GitHub shows {per_level} per step): "
                            f"see {where}", f"more:{level}"))
    return kept


def github_commands(
    findings: Sequence[Finding], *, file: str | None = None, line: int | None = None, per_level: int = GITHUB_PER_LEVEL,
    report: str | None = None,
) -> list[str]:
    """One workflow command per finding (bounded per level), escaped."""
    lines = []
    for finding in bounded(findings, per_level=per_level, report=report):
        props = [("title", clip(" ".join(finding.title.split()), MAX_TITLE_CHARS))]
        if file:
            props = [("file", file), *([("line", str(line))] if line else []), *props]
        rendered = ",".join(f"{k}={escape_property(v)}" for k, v in props)
        lines.append(f"::{finding.level} {rendered}::{escape_data(clip(finding.message, MAX_MESSAGE_CHARS))}")
    return lines


def codequality_issues(findings: Sequence[Finding], *, path: str, line: int | None) -> list[dict[str, Any]]:
    """GitLab Code Quality report entries (`artifacts:reports:codequality`), located at the
    candidate's entry in the config file. The verdict notice is left out: it is not an issue."""
    return [
        {
            "description": clip(f.message, MAX_MESSAGE_CHARS),
            "check_name": f.title,
            "fingerprint": hashlib.sha256(f.key.encode()).hexdigest()[:32],
            "severity": CODEQUALITY_SEVERITY[f.level],
            "location": {"path": path, "lines": {"begin": line or 1}},
        }
        for f in findings
        if not f.key.endswith(":verdict")
    ]


def missing_decision_findings(candidate_id: str, reason: str) -> list[Finding]:
    """No decision to show: one error, so a pipeline that gates on a candidate never decided
    says so on the run instead of a bare exit status."""
    return [Finding("error", f"assay gate {candidate_id}: no decision", reason, f"{candidate_id}:missing")]


def case_inputs(lake, dataset_version: str, case_ids: Sequence[str], *, limit: int = 300) -> dict[str, str | None]:
    """The last user message of each case (clipped), from the regression dataset version; a
    dataset that cannot be read gives none (the annotation names the case without its input)."""
    if not case_ids:
        return {}
    table = lake.read_partition("regression_dataset", {"version": dataset_version})
    if table is None:
        return {}
    wanted = set(case_ids)
    found: dict[str, str | None] = {}
    for row in table.select(["case_id", "input"]).to_pylist():
        if row["case_id"] not in wanted:
            continue
        try:
            messages = json.loads(row["input"]) if isinstance(row["input"], str) else row["input"]
        except ValueError:
            messages = None
        users = [m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
        found[row["case_id"]] = clip(str(users[-1]), limit) if users and users[-1] is not None else None
    return found



GATE_FORMATS = ("text", "github", "junit", "codequality")
"""`assay gate --format`: text prints nothing more than the one line on stderr."""


def config_location(config_file, candidate_id: str, cwd) -> tuple[str | None, int | None]:
    """(the config file relative to `cwd`, the line of the candidate's entry): where an
    annotation points. A config outside `cwd` (not in the checked-out repository) gives no file."""
    import os
    from pathlib import Path

    from assay.candidate_config import candidate_line

    config_file = Path(config_file).resolve()
    relative = os.path.relpath(config_file, Path(cwd).resolve())
    if relative.startswith(".."):
        return None, None
    return relative, candidate_line(config_file, candidate_id)


def render_gate(
    fmt: str, rows: list[dict[str, Any]] | None, candidate_id: str, reason: str, *, lake, config_file, cwd,
) -> str:
    """What `assay gate CANDIDATE --format FMT` prints on stdout for these decision rows
    (`reason`: the gate's one line, used when there is no decision to show)."""
    from pathlib import Path

    row = next((r for r in rows or [] if r["candidate_id"] == candidate_id), None)
    if fmt == "text":
        return ""
    if fmt == "junit":
        from assay.contracts.decision import Decision

        return render_junit(Decision.model_validate(row)) if row is not None else ""
    file, line = config_location(config_file, candidate_id, cwd)
    if row is None:
        findings, report = missing_decision_findings(candidate_id, reason), None
    else:
        report = str(Path(row["report_path"]).with_suffix(".html")) if row.get("report_path") else None
        critical = next((g for g in row.get("gates") or [] if g["gate"] == "critical_cases"), None)
        regressed = ((critical or {}).get("breakdown") or {}).get("confirmed") or []
        inputs = case_inputs(lake, row["dataset_version"], regressed[:GITHUB_PER_LEVEL])
        findings = decision_findings(row, case_inputs=inputs, report=report)
    if fmt == "github":
        return "\n".join(github_commands(findings, file=file, line=line, report=report)) + "\n"
    if fmt == "codequality":
        path = file or Path(config_file).name
        return json.dumps(codequality_issues(findings, path=path, line=line), indent=2) + "\n"
    raise ValueError(f"unknown gate format {fmt!r}; valid: {', '.join(GATE_FORMATS)}")


# --- JUnit XML -------------------------------------------------------------------------------


def render_junit(decision: Decision) -> str:
    """One testsuite per candidate, one testcase per gate: `failure` for a failed gate,
    `skipped` for an unavailable one. CI systems show it as a test report."""
    gates = decision.gates
    suite = ET.Element(
        "testsuite",
        {
            "name": f"assay.deploy_gate.{decision.candidate_id}",
            "tests": str(len(gates)),
            "failures": str(sum(g.status == "fail" for g in gates)),
            "errors": "0",
            "skipped": str(sum(g.status in ("unavailable", "off") for g in gates)),
            "time": "0",
            "timestamp": decision.decided_at.isoformat(timespec="seconds"),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", decision.verdict),
        ("baseline_id", decision.baseline_id),
        ("dataset_version", decision.dataset_version),
        ("window", decision.window),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for gate in gates:
        case = ET.SubElement(
            suite, "testcase",
            {"classname": f"assay.deploy_gate.{decision.candidate_id}", "name": gate.gate, "time": "0"},
        )
        summary = (f"observed {show(gate.observed, gate.unit)}, threshold {show(gate.threshold, gate.unit)}"
                   + (f", interval {show(gate.ci_low, gate.unit)} to {show(gate.ci_high, gate.unit)}"
                      if gate.ci_low is not None else "")
                   + f", n={gate.n}")
        if gate.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": gate.detail or "gate failed", "type": "gate_failed"})
            failure.text = summary
        elif gate.status == "unavailable":
            ET.SubElement(case, "skipped", {"message": f"not enough evidence: {gate.detail}"})
        elif gate.status == "off":
            ET.SubElement(case, "skipped", {"message": f"gate off: {gate.detail}"})
        else:
            ET.SubElement(case, "system-out").text = f"{gate.detail} ({summary})"
    root = ET.Element("testsuites", {"name": "assay deploy gate"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
