"""The whole loop through Dagster on a temp ASSAY_HOME: generated days -> decisions.

Runs the real jobs (real Parquet lake, real GE suite, real dbt build on DuckDB, real litellm
calls to the offline sim/ provider) exactly as `assay run` does, then checks what a user
relies on: the verdicts and their reasons, the quarantine, that injected failures are found,
and that re-running the same partitions changes nothing.
"""

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from assay.lake import Lake
from tests.integration.homes import generated_home

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAYS = 3
CALLS_PER_DAY = 150
END_DAY = date(2026, 11, 20)
LAKE_TABLES = [
    "raw_calls",
    "rejected_calls",
    "sampled_calls",
    "call_scores",
    "failures",
    "regression_dataset",
    "candidate_outputs",
    "candidate_scores",
    "deploy_decisions",
]


def _row_counts(lake: Lake) -> dict[str, int]:
    counts = {}
    for table in LAKE_TABLES:
        data = lake.read_table(table)
        counts[table] = data.num_rows if data is not None else 0
    return counts


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Generate DAYS days and run the whole loop twice on the same partitions."""
    from orchestration.cli import latest_decisions, run_loop

    with generated_home(
        tmp_path_factory.mktemp("assay_home"), config=ROOT / "assay.yaml", days=DAYS,
        calls_per_day=CALLS_PER_DAY, end_day=END_DAY, seed=7,
    ) as (home, days):
        lake = Lake(home.lake)

        run_loop(days)
        first = {
            "decisions": {d["candidate_id"]: d for d in latest_decisions()},
            "counts": _row_counts(lake),
            "version": (home.lake / "regression_dataset" / "CURRENT").read_text().strip(),
        }
        run_loop(days)
        second = {
            "decisions": {d["candidate_id"]: d for d in latest_decisions()},
            "counts": _row_counts(lake),
            "version": (home.lake / "regression_dataset" / "CURRENT").read_text().strip(),
        }
        yield {"home": home, "lake": lake, "days": days, "first": first, "second": second}


def _gate(decision: dict, name: str) -> dict:
    return next(g for g in decision["gates"] if g["gate"] == name)


def test_stronger_candidate_is_approved(loop):
    decision = loop["first"]["decisions"]["support-v2"]
    assert decision["verdict"] == "approved", decision["reasons"]
    assert all(g["status"] == "pass" for g in decision["gates"])
    assert _gate(decision, "evidence")["n"] >= 30


def test_weaker_candidate_is_rejected_for_quality(loop):
    decision = loop["first"]["decisions"]["support-lite"]
    assert decision["verdict"] == "rejected"
    quality = _gate(decision, "quality")
    assert quality["status"] == "fail"
    assert quality["ci_low"] < -0.02  # the interval's lower bound is past the margin
    assert any(reason.startswith("quality: worse than baseline") for reason in decision["reasons"])


def test_expensive_candidate_is_rejected_for_cost_only(loop):
    decision = loop["first"]["decisions"]["support-xl"]
    assert decision["verdict"] == "rejected"
    assert _gate(decision, "cost_per_request")["status"] == "fail"
    assert _gate(decision, "quality")["status"] == "pass"
    assert [r.split(":")[0] for r in decision["reasons"]] == ["cost_per_request"]


def test_reports_are_written_for_each_candidate(loop):
    for candidate_id, decision in loop["first"]["decisions"].items():
        md = Path(decision["report_path"])
        assert md.exists(), md
        text = md.read_text()
        assert f"Deploy decision: {candidate_id}" in text
        payload = json.loads(md.with_suffix(".json").read_text())
        assert payload["decision"]["verdict"] == decision["verdict"]
        assert len(payload["case_ids"]["paired_cases"]) == _gate(decision, "evidence")["n"]


def test_rerun_of_the_same_partitions_changes_nothing(loop):
    first, second = loop["first"], loop["second"]
    assert second["counts"] == first["counts"]
    assert second["version"] == first["version"]
    assert {k: d["verdict"] for k, d in second["decisions"].items()} == {
        k: d["verdict"] for k, d in first["decisions"].items()
    }
    # No duplicate keys anywhere a re-run could have appended.
    with duckdb.connect() as con:
        lake = loop["lake"]
        dupes = con.execute(
            f"select count(*) - count(distinct call_id) from read_parquet('{lake.glob('raw_calls')}')"
        ).fetchone()[0]
        assert dupes == 0


def test_malformed_lines_are_quarantined_with_their_reason(loop):
    rejected = loop["lake"].read_table("rejected_calls").to_pylist()
    assert len(rejected) == 3 * DAYS  # the generator writes 3 malformed lines a day
    reasons = " | ".join(r["reason"] for r in rejected)
    assert "not valid JSON" in reasons
    assert "`call_id`: required field is missing" in reasons
    assert "`latency_ms`" in reasons
    for row in rejected:
        assert row["source_file"].startswith("native/") and row["source_offset"] >= 1
        assert row["raw"]  # kept verbatim


def test_injected_failures_are_found(loop):
    """Each injected kind is found by the evaluator meant for it (recall), and that category
    is rarely raised on calls without it (precision), against the generator's ground truth."""
    from assay.demo.detection import demo_truth, detection_quality

    home, lake = loop["home"], loop["lake"]
    truth = demo_truth(home.root, loop["days"])
    scored = set(lake.read_table("sampled_calls").column("call_id").to_pylist())
    flagged = lake.read_table("failures").select(["call_id", "failure_category"]).to_pylist()
    quality = {d.kind: d for d in detection_quality(truth, [(r["call_id"], r["failure_category"]) for r in flagged], scored)}
    for kind, d in quality.items():
        assert d.injected, f"no injected {kind} in the scored calls"
    for kind in ("provider_error", "format_break", "latency_breach", "pii_leak", "refusal"):
        assert quality[kind].recall == 1.0, quality[kind]
    assert quality["hallucination"].recall >= 0.8
    assert quality["tool_misuse"].recall >= 0.8
    # Deterministic checks raise no false alarm on clean calls; the sim judge flips a few
    # verdicts on purpose (a judge is noisy), so the judged kinds get a ceiling on false
    # alarms per clean call instead (a precision floor on a handful of cases is a coin toss).
    for kind in ("provider_error", "format_break", "latency_breach", "pii_leak", "refusal"):
        assert quality[kind].false_alarms == 0, quality[kind]
    clean = sum(1 for cid in scored if not truth.get(cid))
    for kind in ("hallucination", "tool_misuse"):
        assert quality[kind].false_alarms <= 0.03 * clean, quality[kind]


def test_warehouse_marts_cover_every_day_and_candidate(loop):
    home = loop["home"]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        days = {str(d) for (d,) in con.execute("select distinct day from slo_daily").fetchall()}
        candidates = {c for (c,) in con.execute("select distinct candidate_id from candidate_comparison").fetchall()}
        p95 = con.execute("select min(latency_p95_ms) from slo_daily").fetchone()[0]
        quarantined = con.execute("select sum(rejected_records) from ingest_daily").fetchone()[0]
    assert quarantined == 3 * DAYS
    assert days == set(loop["days"])
    assert candidates == {"support-v2", "support-lite", "support-xl"}
    assert p95 > 0


def test_expectation_suites_ran_and_passed_on_every_partition(loop):
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(loop["home"].dagster_home))
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("raw_calls"), "raw_calls_expectations"), limit=50
    )
    assert {r.partition for r in records} == set(loop["days"])
    assert {r.status.value for r in records} == {"SUCCEEDED"}
    scores = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("call_scores"), "call_scores_expectations"), limit=50
    )
    assert {r.partition for r in scores} == set(loop["days"])
    assert {r.status.value for r in scores} == {"SUCCEEDED"}
    for asset in ("candidate_outputs", "candidate_scores"):
        runs = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset), f"{asset}_expectations"), limit=50
        )
        assert {r.partition for r in runs} == {"prod-v1", "support-v2", "support-lite", "support-xl"}
        assert {r.status.value for r in runs} == {"SUCCEEDED"}
    instance.dispose()


def test_lake_partitions_are_parquet_files_per_day(loop):
    lake = loop["lake"]
    assert lake.partitions("raw_calls", "day") == loop["days"]
    for day in loop["days"]:
        path = lake.partition_dir("raw_calls", {"day": day}) / "part.parquet"
        assert pq.read_metadata(path).num_rows > 0
    leftovers = [p for p in lake.root.rglob(".tmp-*")]
    assert leftovers == []


def test_human_labels_calibrate_the_judge_through_the_cli(loop):
    from orchestration.cli import main

    lake, home = loop["lake"], loop["home"]
    assert (home.lake / "judge_calibration").exists()  # curate_job ran it (no labels yet)
    judged = [
        s for s in lake.read_table("call_scores").to_pylist() if s["judge_model"] and s["status"] == "completed"
    ][:20]
    assert len(judged) == 20
    labels = home.root / "labels.csv"
    # People agree with the judge on all but the first two.
    lines = ["call_id,evaluator,label"] + [
        f"{s['subject_id']},{s['evaluator']},{'pass' if s['passed'] != (i < 2) else 'fail'}" for i, s in enumerate(judged)
    ]
    labels.write_text("\n".join(lines) + "\n")
    assert main(["labels", "import", str(labels), "--calibrate"]) == 0
    rows = lake.read_table("judge_calibration").to_pylist()
    assert sum(r["n"] for r in rows) == 20
    assert sum(r["accuracy"] * r["n"] for r in rows) == pytest.approx(18)
    assert {r["judge_model"] for r in rows} == {"sim/judge"}
