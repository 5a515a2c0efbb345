"""Acceptance over the real third-party exports in ../shared/fixtures (beside the repository;
missing = failure, not a skip): each ingests with the right calls and tokens through
`assay ingest` (a subprocess, as a user runs it) and when dropped into landing/<source>/<day>/
and the daily job runs."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from assay.landing import read_note
from tests.integration.test_ingest_user_files import _env, assay
from tests.unit.test_formats_shared_fixtures import EXPECTED, ROOT

pytestmark = pytest.mark.integration

# The two OTel spans are one call in two conventions (same span id): on one day the second is
# that call's duplicate. `assay ingest` dates both today (they carry no time), so it takes one;
# the landing test drops each into a day folder of its own.
SAME_CALL = "otel_genai/openinference_client_span_tool_calls.json"
UNDATED_DAYS = {"otel_genai/otel_genai_client_span_tool_calls.json": "2025-01-01", SAME_CALL: "2025-01-02"}


def _by_file(home: Path) -> dict[str, tuple[int, int, int]]:
    """Original file -> (calls, tokens, spans) in the lake, via each landed file's sidecar or,
    for a file dropped by hand, its landing name."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for table, column in (("raw_calls", 0), ("trace_spans", 2)):
        for part in (home / "lake" / table).glob("day=*/part.parquet"):
            for row in pq.read_table(part).to_pylist():
                note = read_note(home / "landing" / row["source_file"])
                name = note.original if note else row["source_file"]
                counts[name][column] += 1
                if table == "raw_calls":
                    counts[name][1] += (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
    return {name: tuple(c) for name, c in counts.items()}


def test_assay_ingest_of_every_real_export(tmp_path):
    assert ROOT.is_dir(), f"{ROOT} is missing: the shared fixtures belong beside the repository"
    config = tmp_path / "assay.yaml"
    config.write_text("project: {app: imported}\n")
    home = tmp_path / "home"
    names = sorted(n for n in EXPECTED if n != SAME_CALL)
    done = assay(_env(home, config), "ingest", *(str(ROOT / n) for n in names))
    assert done.returncode == 0, done.stderr
    lines = {line.split(": format=")[0]: line for line in done.stdout.splitlines()}
    got = _by_file(home)
    for name in names:
        fmt, calls, tokens, spans = EXPECTED[name]
        path = str(ROOT / name)
        assert f"format={fmt} calls={calls} rejected=0 spans={spans}" in lines[path], lines[path]
        assert got.get(path, (0, 0, 0)) == (calls, tokens, spans), name


def test_every_real_export_dropped_into_landing_ingests(tmp_path, monkeypatch):
    """Each file as a log shipper would leave it, in the day folder of its records: the daily
    read (what the raw_calls asset runs) for every file, then the real daily job for one."""
    from assay.assets.raw_calls import materialise_day

    from assay.config import RedactionConfig
    from assay.lake import Lake
    from tests.unit.test_formats_shared_fixtures import read

    assert ROOT.is_dir(), f"{ROOT} is missing: the shared fixtures belong beside the repository"
    home = tmp_path / "home"
    days = set()
    for name in EXPECTED:
        calls, spans, _ = read(ROOT / name)
        day = UNDATED_DAYS.get(name) or min(r["ts"].date().isoformat() for r in calls + spans)
        folder = home / "landing" / "shipper" / day
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, folder / Path(name).name)
        days.add(day)
    for day in sorted(days):
        materialise_day(Lake(home / "lake"), home / "landing", date.fromisoformat(day), default_app="imported",
                        prices={}, redaction=RedactionConfig())
    got = _by_file(home)
    for name, (_, calls, tokens, spans) in EXPECTED.items():
        landed = [key for key in got if key.endswith("/" + Path(name).name)]
        assert [got[key] for key in landed] == [(calls, tokens, spans)], name
    assert not any(pq.read_table(p).num_rows for p in (home / "lake" / "rejected_calls").glob("day=*/*.parquet"))

    # The daily job itself (Dagster, as the nightly schedule or `assay run` runs it) on a fresh
    # home: a whole-JSON Langfuse export dropped into its day folder.
    from assay.orchestration.runner import Runner

    from assay.runtime import ensure_home

    job_home = tmp_path / "job"
    agno = "langfuse/agno-2025-06-11.json"
    (job_home / "landing" / "langfuse" / "2025-06-11").mkdir(parents=True)
    shutil.copyfile(ROOT / agno, job_home / "landing" / "langfuse" / "2025-06-11" / "agno.json")
    config = tmp_path / "assay.yaml"
    # The user's own evaluators for agent runs and conversations (docs/evaluators.md).
    config.write_text(
        "project: {app: imported}\n"
        "evaluators:\n"
        "  - {name: searched, type: tool_trajectory, params: {reference: [duckduckgo_search], mode: superset},\n"
        "     applies_to: {subjects: [traces]}}\n"
        "  - {name: turns, type: turn_count, params: {max_turns: 5}, applies_to: {subjects: [sessions]}}\n"
    )
    for key, value in _env(job_home, config).items():
        if key.startswith(("ASSAY_", "DAGSTER_")):
            monkeypatch.setenv(key, value)
    ensure_home()
    Runner().run_days(["2025-06-11"])
    assert _by_file(job_home) == {"langfuse/2025-06-11/agno.json": EXPECTED[agno][1:]}
    # The run is a trace subject with its tool in order, its session one turn, both scored.
    lake = job_home / "lake"
    [trace] = pq.read_table(lake / "trace_subjects" / "day=2025-06-11" / "part.parquet").to_pylist()
    assert (trace["llm_calls"], trace["step_count"], trace["total_tokens"]) == (4, 5, 3839)
    assert [c["name"] for c in json.loads(trace["tool_calls"])] == ["duckduckgo_search"]
    [session] = pq.read_table(lake / "session_subjects" / "day=2025-06-11" / "part.parquet").to_pylist()
    assert (session["session_id"], session["turn_count"]) == ("35cc6c90-b657-4819-b66c-c931c03ad569", 1)
    scores = [pq.read_table(lake / table / "day=2025-06-11" / "part.parquet").to_pylist()
              for table in ("trace_scores", "session_scores")]
    assert [[(s["evaluator"], s["status"], s["passed"]) for s in rows] for rows in scores] == [
        [("searched", "completed", True)], [("turns", "completed", True)]]
