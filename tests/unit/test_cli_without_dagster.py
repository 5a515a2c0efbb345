"""The reading commands of `assay` never load Dagster: `assay gate` in a CI job, `assay report`,
`validate-config` and the others answer from the lake and the config through plain logic in
`assay/` (docs/architecture.md, "Layers").

Commands that run jobs load Dagster by design: `run`, `demo`, `ingest` (the daily chain of the
days it landed), `compare` (shadow_job), `labels import --calibrate` (curate_job) and `ui`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS, new_case
from assay.reports import write_reports
from tests.unit import report_fixtures as fixtures
from tests.unit.test_preflight import project

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = [
    ["report"],
    ["report", "--format", "json"],
    ["gate", "cand-a"],
    ["gate", "cand-a", "--format", "github"],
    ["gate", "cand-a", "--format", "junit"],
    ["validate-config"],
    ["evaluators"],
    ["candidates", "list"],
    ["labels", "export"],
    ["judge", "calibration"],
    ["rejected"],
    ["metrics", "--textfile", "METRICS_FILE"],
]
"""(argv, ...) run one after another in one process; `assay gate cand-a` exits 1 (rejected)."""

PROBE = """
import json, sys
from assay.orchestration.cli import main
commands = json.loads(sys.argv[1])
statuses = [main(argv) for argv in commands]
loaded = sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in ("dagster", "dagster_dbt")})
print("PROBE " + json.dumps({"statuses": statuses, "loaded": loaded}))
"""


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    rejected = fixtures.decision("rejected", quality="fail")
    write_reports(home / "reports", rejected, fixtures.CANDIDATE, fixtures.BASELINE, fixtures.TRACES,
                  fixtures.case_details())
    lake = fixtures.write_decisions(home, [rejected])
    cases = [new_case(case_id=f"case-{i}", input=[{"role": "user", "content": f"question {i}"}]) for i in range(3)]
    lake.write_partition("regression_dataset", cases, partition={"version": fixtures.VERSION}, schema=CASE_ARROW_SCHEMA,
                         json_columns=CASE_JSON_COLUMNS)
    return home


def test_reading_commands_do_not_import_dagster(tmp_path):
    home = _home(tmp_path)
    (tmp_path / "project").mkdir()
    config = project(tmp_path / "project")  # a user's own config: a model baseline, a recorded candidate
    metrics_file = tmp_path / "assay.prom"
    commands = [[str(metrics_file) if arg == "METRICS_FILE" else arg for arg in argv] for argv in COMMANDS]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ASSAY_HOME": str(home), "ASSAY_CONFIG": str(config),
           "OPENAI_API_KEY": "not-used", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.rsplit("PROBE ", 1)[1])
    # Each command did its work: the rejected candidate's gate exits 1, everything else 0.
    expected = [1 if argv[0] == "gate" else 0 for argv in COMMANDS]
    assert probe["statuses"] == expected, result.stderr
    assert "cand-a: REJECTED" in result.stderr
    assert "case-2" in result.stdout  # the label export listed the dataset's cases
    assert metrics_file.read_text().rstrip().endswith("# EOF")
    assert probe["loaded"] == [], f"a reading command imported {probe['loaded']}"


def test_the_job_commands_do_load_dagster(tmp_path):
    """The probe sees an import when there is one: `assay ingest` runs the daily chain."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ASSAY_HOME": str(tmp_path / "home"),
           "ASSAY_CONFIG": str(tmp_path / "missing.yaml"), "PYTHONPATH": str(ROOT)}
    probe = PROBE.replace("statuses = [main(argv) for argv in commands]",
                          "from assay.orchestration.runner import Runner  # what ingest, run, compare call\nstatuses = []")
    result = subprocess.run([sys.executable, "-c", probe, "[]"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "dagster" in json.loads(result.stdout.rsplit("PROBE ", 1)[1])["loaded"]


def test_no_module_imports_the_cli():
    """The CLI is the top: the runner, the loop and the backfill never import it (on 18e6ea6
    orchestration/shadow.py did, for its Runner)."""
    importers = []
    for folder in ("assay", "evaluators", "assets", "orchestration", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "orchestration" / "cli.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) and node.module else []
                if any(name == "assay.orchestration.cli" or name.startswith("assay.orchestration.cli.") for name in names):
                    importers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert importers == []
