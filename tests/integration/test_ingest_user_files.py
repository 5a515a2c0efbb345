"""`assay ingest` and `assay rejected` as a user runs them: subprocesses, a config of their own,
exit statuses and counts checked. Hostile input ends in one line naming the file and why,
with landing/ and the lake as they were."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ASSAY = str(Path(sys.executable).with_name("assay"))


def _env(home: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "DAGSTER_"))}
    return env | {"ASSAY_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "ASSAY_CONFIG": str(config)}


def assay(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return launcher.run([ASSAY, *args], env=env, cwd=cwd, timeout=600)


def _tree(home: Path) -> dict[str, int]:
    """Every file under landing/ and lake/ with its size: what a refused input must not touch."""
    return {str(p.relative_to(home)): p.stat().st_size
            for folder in (home / "landing", home / "lake") if folder.exists()
            for p in folder.rglob("*") if p.is_file()}


def _native(call_id: str, ts: str, **extra) -> str:
    return json.dumps({"call_id": call_id, "ts": ts, "app": "shop", "feature": "faq", "model": "gpt-4o-mini",
                       "input_text": "q", "output_text": "a", **extra})


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's project: its own config (not the demo's), and a first `assay ingest` of a file
    dated today and of a span that carries no time at all (both land today)."""
    from tests.unit.test_formats import genai_attributes

    root = tmp_path_factory.mktemp("user")
    config = root / "assay.yaml"
    config.write_text("project: {app: shop, start_day: 2025-01-01}\n")
    env = _env(root / "home", config)
    now = root / "now.jsonl"
    now.write_text(_native("today-1", f"{TODAY}T00:00:01Z") + "\n")
    span = root / "span.json"
    span.write_text(json.dumps(genai_attributes()))
    first = assay(env, "ingest", str(now), str(span))
    assert first.returncode == 0, first.stderr
    return root, env, first


TODAY = datetime.now(UTC).date().isoformat()


def test_records_dated_today_and_undated_records_ingest(user):
    root, _, first = user
    assert first.stdout.splitlines() == [
        f"{root / 'now.jsonl'}: format=assay_jsonl calls=1 rejected=0 spans=0 days={TODAY}",
        f"{root / 'span.json'}: format=otlp_json calls=1 rejected=0 spans=0 undated=1 days={TODAY}",
    ]


HOSTILE = {
    # name -> (arguments after `ingest`, written by `make`, what the line must say)
    "unknown --format": (["--format", "csv", "{file}"], lambda p: p.write_text(_native("x", "2025-03-01T10:00:00Z")),
                         "unknown --format 'csv'; valid formats: assay_jsonl, openai_chat"),
    "a directory": (["{file}"], lambda p: p.mkdir(), "is a directory, not a file"),
    "an empty file": (["{file}"], lambda p: p.write_text(""), "the file is empty; known formats"),
    "a binary file": (["{file}"], lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 300),
                      "a binary file, not JSON text"),
    "dated before start_day": (["{file}"], lambda p: p.write_text(_native("x", "2024-05-01T10:00:00Z") + "\n"),
                               "every record is dated before project.start_day 2025-01-01 (2024-05-01)"),
    "a missing file": (["{file}"], lambda p: None, "no such file"),
    "a damaged gzip file": (["{file}"], lambda p: p.write_bytes(
        gzip.compress((_native("x", "2025-03-01T10:00:00Z") + "\n").encode() * 100)[:-30]),
        "a damaged or incomplete gzip file"),
    "not a log format": (["{file}"], lambda p: p.write_text('{"name": "Ada", "age": 36}\n'),
                         "cannot tell the format from its content (first record has keys: name, age)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_ends_in_one_line_and_changes_nothing(user, case):
    root, env, _ = user
    arguments, make, expected = HOSTILE[case]
    path = root / case.replace(" ", "_").replace("-", "")
    make(path)
    before = _tree(root / "home")
    done = assay(env, "ingest", *[a.format(file=path) for a in arguments])
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("assay: ") and expected in lines[0]
    if case != "unknown --format":
        assert str(path) in lines[0]
    assert done.stdout == ""
    assert _tree(root / "home") == before
    assert not list((root / "home" / "tmp").glob("*")) if (root / "home" / "tmp").exists() else True


def test_a_broken_pipe_is_one_line(user):
    root, env, _ = user
    process = launcher.popen([ASSAY, "rejected"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before anything is written (`| head -0`)
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert stderr.strip().splitlines() == [
        "assay: output closed early (broken pipe): the rest of the output was not written"]


def test_a_multi_day_file_with_bad_lines_and_assay_rejected(user):
    """Each record to its own day; rejected_calls gives the line of the user's own file;
    `assay rejected` says why, by reason, with file:line examples."""
    root, env, _ = user
    logs = root / "app-logs.ndjson"
    logs.write_text("\n".join([
        _native("m-1", "2025-03-02T23:59:00Z"),
        _native("m-2", "2025-03-03T00:00:30Z", input_tokens=12, output_tokens=4),
        "{\"call_id\": \"m-3\", \"ts\": ",  # cut short
        _native("m-4", "2025-03-02T08:00:00Z", latency_ms=-5),
        _native("m-2", "2025-03-03T07:00:00Z"),  # the same call_id again
        _native("m-5", "2024-12-30T07:00:00Z"),  # before start_day
    ]) + "\n")
    done = assay(env, "ingest", str(logs))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"{logs}: format=assay_jsonl calls=2 rejected=4 spans=0 days=2025-01-01..2025-03-03 "
                                   "(see `assay rejected`)")
    lake = root / "home" / "lake"
    rejected = [row for day in ("2025-01-01", "2025-03-02", "2025-03-03")
                for row in pq.read_table(lake / "rejected_calls" / f"day={day}" / "part.parquet").to_pylist()]
    assert sorted(r["source_offset"] for r in rejected) == [3, 4, 5, 6]  # lines of app-logs.ndjson

    report = assay(env, "rejected", "--file", "app-logs")
    assert report.returncode == 0, report.stderr
    out = report.stdout
    assert out.startswith("4 rejected record(s) in 1 file(s), days 2025-01-01..2025-03-03")
    for where, why in ((3, "not valid JSON"), (4, "`latency_ms`: Input should be greater than or equal to 0"),
                       (5, f"duplicate call_id 'm-2' (first at {logs}:2)"),
                       (6, "`ts` 2024-12-30T07:00:00+00:00 is before the first partition day 2025-01-01")):
        assert f"{logs}:{where}: {why}" in out, out
    assert "     1  not valid JSON: Expecting value at column N\n" in out
    none = assay(env, "rejected", "--file", "now.jsonl")
    assert (none.returncode, none.stdout.strip()) == (0, "no rejected records from files matching 'now.jsonl' "
                                                         "(4 ingested day(s))")
    unknown = assay(env, "rejected", "--day", "2030-01-01")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"assay: --day 2030-01-01: no ingested day (ingested days: 2025-01-01..{TODAY})"


