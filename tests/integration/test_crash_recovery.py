"""Issue 23: a killed run never corrupts or blocks the next one, and no secret reaches ASSAY_HOME.

`assay run` runs as a subprocess, as a user runs it, on a small generated home (a day of demo
traffic; a judge and a candidate served over HTTP by the local test server, reached through
OPENAI_API_BASE) plus one landing file per input format with a random secret in every string
field.

The fault matrix kills (`kill -9` of the whole process group) a run at each stage: ingest
(mid-write of the day's raw_calls), scoring (judge calls held at the server), curation
(mid-write of the regression dataset), dbt (mid-build of the warehouse), candidate replay
(replays held at the server), decision (mid-write of the decisions). Between them, runs are
stopped the other ways item 2 names: blocked on a pool whose slots live runs hold (it says
who holds them, gives up at the limit, and then stops on SIGTERM), and interrupted by SIGINT
inside a step. The stops come in turn along one chain, in a home of its own: every next run
recovers from the previous stop on its way to its own, and one more run ends the chain: exit
0, and the lake holds row for row what an undisturbed run of the same input (run meanwhile, in
a home of its own) holds, decisions included; no judge call or replay was paid for twice.
Chained, the matrix costs about one run's worth of work per stop, and one run to end it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from assay.demo.generator import generate
from assay.lake import STAGING_DIR, Lake
from assay.testing.llm_server import LLMTestServer
from tests.integration.secret_landing import DAY as SECRET_DAY
from tests.integration.secret_landing import write_secret_landing
from tests.support import launcher
from tests.unit.secret_fields import stored_strings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ASSAY = str(Path(sys.executable).with_name("assay"))
END_DAY = date.fromisoformat(SECRET_DAY)
DAYS = 1
CALLS_PER_DAY = 30
SECRET_SEED = 20261206
HANG_GUARD_S = 900
"""Fails a test whose run never reaches the awaited point (never a timing assertion)."""

CONFIG = {
    "project": {"app": "acme-support"},
    "judge": {"model": "openai/judge", "max_retries": 1, "budget_usd": 5.0},
    "evaluators": [
        {"name": "provider_ok", "type": "provider_status"},
        {"name": "no_pii", "type": "pii"},
        {"name": "faithfulness", "type": "llm_judge", "params": {"rubric": "faithfulness"},
         "applies_to": {"features": ["rag_answer"]}, "failure_category": "hallucination"},
    ],
    "dataset": {"redteam_pack": None, "golden_dir": None},
    "candidates": [
        {"candidate_id": "prod-v1", "model": "sim/support-v1", "is_baseline": True},
        {"candidate_id": "cand-new", "model": "openai/cand-new"},
    ],
    "gate": {"min_cases": 5},
    # Latency is measured, so it differs between any two runs (and a loaded CI machine is slow):
    # an SLO no run misses keeps the verdicts about what the runs computed.
    "slos": {"latency_p95_ms": 600_000},
}
STAGES = ["ingest", "scoring", "curation", "dbt", "candidate replay", "decision"]
STOPS = ["pool wait", "signal in a step"]
"""Not kills: a run blocked on a pool (giving up at the limit, then stopped by SIGTERM), and a
run stopped by SIGINT in the middle of a step."""
CHAIN = [*STAGES[:3], *STOPS, *STAGES[3:]]
"""In the order a run reaches them. (Two chains side by side cost one more run to end the
second: 18 s of CPU on a 2-core machine where the suite keeps both cores busy anyway.)"""
VOLATILE_COLUMNS = {
    # when and how fast: differ between any two runs
    "run_id", "scored_at", "decided_at", "generated_at", "duration_ms", "latency_ms", "created_at", "computed_at",
    # the cost-quality frontier's measured latency of each candidate
    "latency_p95_ms", "latency_ci_low_ms", "latency_ci_high_ms",
    # whether an answer came from the cache, and so how many attempts this run made for it (0
    # for a hit): the recovering runs reuse what the killed ones paid for
    "is_cache_hit", "judge_is_cache_hit", "judge_attempts",
    # where the home is
    "report_path",
}


class Home:
    """A home of its own, its test server, and the environment its `assay` runs in."""

    def __init__(self, root: Path, landing: Path, server: LLMTestServer):
        self.root, self.server = root, server
        root.mkdir(parents=True)
        shutil.copytree(landing, root / "landing")
        self.config = root.parent / f"{root.name}.yaml"
        self.config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "DAGSTER_", "OPENAI_"))}
        self.env |= {
            "ASSAY_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "ASSAY_CONFIG": str(self.config),
            "OPENAI_API_BASE": server.api_base, "OPENAI_API_KEY": "test", "ASSAY_SIM_LATENCY_SCALE": "0",
        }
        self.runs = 0

    @property
    def lake(self) -> Lake:
        return Lake(self.root / "lake")

    def start(self, fault_table: str | None = None) -> subprocess.Popen:
        """`assay run` in its own process group (so a kill takes dbt with it), forked from the
        test launcher (tests/support/launcher.py)."""
        self.runs += 1
        env = dict(self.env)
        if fault_table:
            command = [sys.executable, "-m", "tests.integration.fault_run", "run"]
            env |= {"ASSAY_FAULT_TABLE": fault_table, "ASSAY_FAULT_MARK": str(self.mark)}
        else:
            command = [ASSAY, "run"]
        self.mark.unlink(missing_ok=True)
        log = (self.root.parent / f"{self.root.name}-run{self.runs}.log").open("w")
        return launcher.popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self, run: int | None = None) -> str:
        return (self.root.parent / f"{self.root.name}-run{run or self.runs}.log").read_text()

    @property
    def mark(self) -> Path:
        return self.root.parent / f"{self.root.name}.fault-reached"

    def served_answers_cached(self) -> int:
        """Answers from the test server in the engine's cache. The baseline's sim model is
        answered in-process and cached too; it has a price and the server's models have none,
        so its answers are the ones with a cost (counting them made a kill come early under
        load: the server's last answers were not all in the cache yet)."""
        entries = (p for p in (self.root / "cache" / "llm").rglob("*.json") if not p.name.startswith("."))
        return sum(1 for p in entries if json.loads(p.read_text())["cost_usd"] is None)


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen, home: Home) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before {what}:\n{home.output()[-4000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"never reached {what}:\n{home.output()[-4000:]}")
        time.sleep(0.2)


def _dbt_progress(home: Home, before: set[Path]) -> int:
    """Models dbt has built so far in the invocation that started after `before`."""
    fresh = [p for p in (home.root / "dbt").glob("*/dbt.log") if p.parent not in before]
    return sum(p.read_text(errors="replace").count(" OK created ") for p in fresh)


HOLD_PASSES = 3
"""Calls of the held model the server answers before it holds the rest."""


def _held_and_cached(home: Home) -> bool:
    # Killed once a call waits at the server, the calls let through before it are answered (one
    # still in the server's latency would be answered after the kill: paid, never cached), and
    # every answer given so far is in the cache (written by a background thread): what was paid
    # for must never be asked again.
    stats = home.server.stats
    return (stats["held"] >= 1 and stats["answered_since_hold"] >= HOLD_PASSES
            and home.served_answers_cached() >= stats["answered"])


def kill_at(stage: str, home: Home) -> dict:
    """Start `assay run` and `kill -9` its process group at `stage`."""
    lake_writes = {"ingest": f"raw_calls/day={END_DAY}", "curation": "regression_dataset", "decision": "deploy_decisions"}
    if stage in lake_writes:
        process = home.start(fault_table=lake_writes[stage])
        _wait_for(home.mark.exists, f"the {stage} write", process, home)
        assert list((home.root / "lake" / STAGING_DIR).iterdir())  # a half-written file is left
    elif stage in ("scoring", "candidate replay"):
        home.server.hold("judge" if stage == "scoring" else "cand-new", after=HOLD_PASSES)
        process = home.start()
        _wait_for(lambda: _held_and_cached(home), f"held {stage} calls", process, home)
    else:
        before = set((home.root / "dbt").glob("*")) if (home.root / "dbt").exists() else set()
        process = home.start()
        _wait_for(lambda: _dbt_progress(home, before) >= 5, "a dbt build half done", process, home)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    home.server.release()
    assert process.returncode == -signal.SIGKILL
    return {"next run": home.runs + 1}


def _table_rows(lake: Lake, table: str) -> list[str]:
    data = lake.read_table(table)
    if data is None:
        return []
    keep = [c for c in data.column_names if c not in VOLATILE_COLUMNS]
    rows = data.select(keep).to_pylist()
    for row in rows:
        for name in ("gates",):  # decision gates: their measured latency varies run to run
            if isinstance(row.get(name), str):
                row[name] = [{k: v for k, v in g.items() if not g["gate"].startswith("latency") or k in ("gate", "status")}
                             for g in json.loads(row[name])]
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def _tables(lake: Lake) -> list[str]:
    return sorted(p.name for p in lake.root.iterdir() if p.is_dir() and p.name != STAGING_DIR)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    template = tmp_path_factory.mktemp("template")
    generate(template, days=DAYS, calls_per_day=CALLS_PER_DAY, end_day=END_DAY, seed=7)
    placed = write_secret_landing(template / "landing", SECRET_SEED)
    return template / "landing", placed


@pytest.fixture(scope="module")
def homes(tmp_path_factory, landing):
    """The undisturbed run (in the background) and the chain of stopped runs, ended by one more
    run."""
    base = tmp_path_factory.mktemp("homes")
    servers = [LLMTestServer().start() for _ in range(2)]
    try:
        reference = Home(base / "reference", landing[0], servers[0])
        undisturbed = reference.start()
        chain = Home(base / "chain", landing[0], servers[1])
        evidence = {stage: (stop_run if stage in STOPS else kill_at)(stage, chain) for stage in CHAIN}
        last = chain.start().wait(HANG_GUARD_S)
        undisturbed.wait(HANG_GUARD_S)
        yield {"reference": reference, "chain": chain, "evidence": evidence,
               "status": {"reference": undisturbed.returncode, "chain": last}}
    finally:
        for server in servers:
            server.stop()


def test_a_run_killed_at_each_stage_then_run_again_ends_as_an_undisturbed_run(homes):
    reference, chain = homes["reference"], homes["chain"]
    assert homes["status"]["reference"] == 0, reference.output()
    assert homes["status"]["chain"] == 0, chain.output()
    # Each run after a kill found the killed run's process gone, failed it and freed its slots.
    for stage in STAGES:
        after = homes["evidence"][stage]["next run"]
        assert "had died: marked failed, its pool slots freed" in chain.output(after), chain.output(after)

    assert _tables(chain.lake) == _tables(reference.lake)
    for table in _tables(reference.lake):
        assert _table_rows(chain.lake, table) == _table_rows(reference.lake, table), table

    # Nothing paid twice: over all the chain's runs, the server answered each judge call and
    # replay exactly as often as for the undisturbed run (where a few cases send the same
    # messages with other parameters: the server keys by model and messages only).
    answered = chain.server._app.stats.answered_per_request
    assert answered == reference.server._app.stats.answered_per_request

    # What the kills left is gone: no staged file, no run left in flight, no slot held.
    assert list((chain.root / "lake" / STAGING_DIR).iterdir()) == []
    _assert_no_run_in_flight_and_no_slot_held(chain.root)
    # dbt's own files went to the home, one folder per build.
    assert any((chain.root / "dbt").glob("slo_marts-*/dbt.log"))
    assert [r["candidate_id"] for r in reference.lake.read_table("deploy_decisions").to_pylist()] == ["cand-new"]


def _assert_no_run_in_flight_and_no_slot_held(home: Path) -> None:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        statuses = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]
        assert instance.get_run_records(filters=RunsFilter(statuses=statuses)) == []
        storage = instance.event_log_storage
        infos = storage.get_concurrency_infos(list(storage.get_concurrency_keys())).values()
        assert [info.claimed_slots for info in infos if info.claimed_slots] == []
    finally:
        instance.dispose()


def _decoded_texts(home: Path) -> list[str]:
    """Every string stored in a Parquet file or the DuckDB warehouse, decoded (a byte search
    of compressed pages proves nothing), nested JSON included."""
    import duckdb

    texts: list[str] = []
    for path in home.rglob("*.parquet"):
        texts += stored_strings(json.loads(json.dumps(pq.read_table(path).to_pylist(), default=str)))
    warehouse = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for (name,) in warehouse.sql("select table_name from information_schema.tables").fetchall():
            rows = warehouse.sql(f'select * from "{name}"').fetchall()
            texts += stored_strings(json.loads(json.dumps(rows, default=str)))
    finally:
        warehouse.close()
    return texts


@pytest.mark.parametrize("which", ["reference", "chain"])
def test_a_secret_in_any_string_field_of_any_format_is_stored_nowhere(homes, landing, which):
    """Every file under ASSAY_HOME but the landing folder (the input, as the user put it
    there): raw bytes of each (lake, warehouse, reports, logs, dbt's files, Dagster's SQLite
    storage and compute logs, the LLM cache), and decoded Parquet and warehouse tables. The
    killed chain's home too: what a killed run left holds no secret either."""
    home = homes[which].root
    _, placed = landing
    assert len(placed) > 200 and {label.split()[0] for label in placed} == {
        "assay_jsonl", "openai_chat", "litellm_payload", "otlp_json", "langfuse"}
    stored = [p for p in home.rglob("*") if p.is_file() and "landing" not in p.relative_to(home).parts[:1]]
    assert any(p.suffix == ".db" for p in stored) and any(p.suffix == ".parquet" for p in stored)
    raw = {p: p.read_bytes() for p in stored}
    decoded = _decoded_texts(home)
    assert any("[API_KEY" in text for text in decoded)  # the secrets were there, and replaced
    leaks = []
    for label, (kind, _text, parts) in placed.items():
        for part in parts:
            files = [str(p.relative_to(home)) for p, data in raw.items() if part.encode() in data]
            if files or any(part in text for text in decoded):
                leaks.append(f"{label} ({kind}): {files or 'decoded'}")
    assert leaks == []


def _hold_pool(home: Path, pool: str, holder_pid: int, slots: int) -> list[str]:
    """Runs of a live process (not `assay run`'s) holding every slot of `pool`."""

    from assay.orchestration.runner import runner_tags
    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
    from dagster._core.utils import make_new_run_id

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        run_ids = []
        for _ in range(slots):
            run = DagsterRun(job_name="daily_job", run_id=make_new_run_id(), status=DagsterRunStatus.STARTED,
                             tags=runner_tags(holder_pid) | {"dagster/partition": SECRET_DAY})
            instance.add_run(run)
            assert instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, "call_scores").is_claimed
            run_ids.append(run.run_id)
        return run_ids
    finally:
        instance.dispose()


def _run_status(home: Path, run_id_prefix: str) -> str:
    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        (record,) = [r for r in instance.get_run_records(limit=50) if r.dagster_run.run_id.startswith(run_id_prefix)]
        return record.dagster_run.status.value
    finally:
        instance.dispose()


def stop_run(stage: str, home: Home) -> dict:
    """The runs of a stop stage, and what they said and left."""
    import re

    if stage == "signal in a step":
        # SIGINT while the curate job's dbt build runs (inside a step, where Dagster raises).
        before = set((home.root / "dbt").glob("*"))
        process = home.start()
        _wait_for(lambda: _dbt_progress(home, before) >= 1, "the dbt build", process, home)
        process.send_signal(signal.SIGINT)
        status, said = process.wait(HANG_GUARD_S), home.output()
        run_ids = re.findall(r"stopped by SIGINT: curate_job run ([0-9a-f]{8}) canceled", said)
        return {"status": status, "said": said, "run status": [_run_status(home.root, r) for r in run_ids]}

    # Both `llm` slots held by runs of a live process: `assay run` waits at call_scores.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    config = home.config.read_text()
    try:
        holders = _hold_pool(home.root, "llm", holder.pid, slots=2)
        home.config.write_text(yaml.safe_dump(yaml.safe_load(config) | {"runner": {"pool_wait_timeout_s": 3}}))
        gives_up = home.start()
        gave_up = {"status": gives_up.wait(HANG_GUARD_S), "said": home.output()}

        home.config.write_text(config)  # the default limit: half an hour
        stopped = home.start()
        _wait_for(lambda: "waiting 0s for pool llm" in home.output(), "the pool wait", stopped, home)
        stopped.send_signal(signal.SIGTERM)
        status, said = stopped.wait(HANG_GUARD_S), home.output()
        run_ids = re.findall(r"stopped by SIGTERM: daily_job \[[-0-9]+\] run ([0-9a-f]{8}) canceled", said)
        return {"holders": holders, "gave up": gave_up, "stopped": {
            "status": status, "said": said, "run status": [_run_status(home.root, r) for r in run_ids],
            "holders' status": [_run_status(home.root, h[:8]) for h in holders]}, "next run": home.runs + 1}
    finally:
        home.config.write_text(config)
        holder.kill()  # the holders' runs die with it: the next run fails them and frees the slots
        holder.wait()


def test_a_run_blocked_on_a_pool_says_why_gives_up_at_the_limit_and_stops_on_sigterm(homes):
    evidence = homes["evidence"]["pool wait"]
    first, second = evidence["holders"]
    gave_up = evidence["gave up"]
    assert gave_up["status"] == 1, gave_up["said"]
    assert "call_scores: waiting 0s for pool llm (limit 2): held by run " in gave_up["said"]
    for holder in (first, second):  # which pool, held by which run (and step), since when
        assert f"run {holder[:8]} (daily_job [{SECRET_DAY}], STARTED, step call_scores) since 20" in gave_up["said"]
    assert "gave up after 3s (runner.pool_wait_timeout_s in the config)" in gave_up["said"]

    stopped = evidence["stopped"]
    assert stopped["status"] == 128 + signal.SIGTERM, stopped["said"]
    assert stopped["run status"] == ["CANCELED"]
    assert stopped["holders' status"] == ["STARTED", "STARTED"]  # their process was alive: left alone
    # The next run found the holders' process gone: their runs failed, their slots freed.
    after = homes["chain"].output(evidence["next run"])
    assert f"run {first[:8]} (daily_job [{SECRET_DAY}]) had died: marked failed, its pool slots freed" in after


def test_a_signal_inside_a_step_cancels_the_run_and_starts_nothing_more(homes):
    evidence = homes["evidence"]["signal in a step"]
    assert evidence["status"] == 128 + signal.SIGINT, evidence["said"]
    assert evidence["run status"] == ["CANCELED"]
    assert "candidate_job" not in evidence["said"]
