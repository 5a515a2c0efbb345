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
from tests.support import launcher

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
    from assay.orchestration.loop import run_loop

    from assay.reports import latest_decision_rows

    with generated_home(
        tmp_path_factory.mktemp("assay_home"), config=ROOT / "assay.yaml", days=DAYS,
        calls_per_day=CALLS_PER_DAY, end_day=END_DAY, seed=7,
    ) as (home, days):
        lake = Lake(home.lake)

        run_loop(days)
        first = {
            "decisions": {d["candidate_id"]: d for d in latest_decision_rows(lake)},
            "counts": _row_counts(lake),
            "version": (home.lake / "regression_dataset" / "CURRENT").read_text().strip(),
        }
        run_loop(days)
        second = {
            "decisions": {d["candidate_id"]: d for d in latest_decision_rows(lake)},
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
    # Calls only: agent runs' and conversations' failures are checked by subject below.
    flagged = [f for f in lake.read_table("failures").to_pylist() if f["subject_kind"] == "call"]
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
    from assay.orchestration.cli import main

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
    # All-time rows of the labelled series (weekly rows repeat them; pairwise judges' rows carry
    # their position figures with no label).
    rows = [r for r in lake.read_table("judge_calibration").to_pylist() if r["period"] == "all" and r["n"]]
    assert sum(r["n"] for r in rows) == 20
    assert sum(r["accuracy"] * r["n"] for r in rows) == pytest.approx(18)
    assert {r["judge_model"] for r in rows} == {"sim/judge"}


def test_assay_metrics_serves_the_loops_numbers_over_http(loop):
    """`assay metrics` in its own process, scraped over HTTP on 127.0.0.1 and read with
    Prometheus' OpenMetrics parser: every documented metric, with the values of the warehouse's
    marts and of the decisions."""
    import subprocess
    import urllib.request

    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    from assay.metrics_export import METRICS
    from tests.support.cli import ASSAY, user_env

    home = loop["home"]
    server = launcher.popen([str(ASSAY), "metrics", "--port", "0", "--refresh-s", "0"], cwd=ROOT,
                              env=user_env(home.root, ROOT / "assay.yaml"), stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        assert "serving OpenMetrics on http://127.0.0.1:" in line, line + (server.stderr.read() if server.poll() else "")
        url = line.split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
            text = response.read().decode()
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0  # SIGTERM stops it cleanly
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {m.name for m in METRICS} == set(families)
    empty = [name for name, family in families.items() if not family.samples]
    assert empty == []  # the loop gives every documented series a value
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        slo = con.sql("select * from slo_daily where day = (select max(day) from slo_daily)").to_arrow_table().to_pylist()
        drift = con.sql("select * from drift").to_arrow_table().to_pylist()
    assert slo and drift
    for row in slo:
        labels = tuple(sorted((k, row[k]) for k in ("app", "feature", "model", "prompt_version")))
        assert got[("assay_slo_calls", labels)] == row["calls"]
        assert got[("assay_slo_error_ratio", labels)] == pytest.approx(row["error_rate"])
        assert got[("assay_slo_latency_p95_seconds", labels)] == pytest.approx(row["latency_p95_ms"] / 1000)
        assert got[("assay_slo_latency_p50_seconds", labels)] == pytest.approx(row["latency_p50_ms"] / 1000)
        assert got[("assay_slo_cost_per_request_usd", labels)] == pytest.approx(row["cost_per_request_usd"])
        if row["pass_rate"] is not None:
            assert got[("assay_slo_pass_ratio", labels)] == pytest.approx(row["pass_rate"])
    flagged = {k: v for k, v in got.items() if k[0] == "assay_drift_flagged"}
    assert len(flagged) == len(drift) and sum(flagged.values()) == sum(1 for r in drift if r["flagged"])
    assert got[("assay_warehouse_read_ok", ())] == 1.0
    for candidate_id, decision in loop["second"]["decisions"].items():
        pair = (("baseline_id", "prod-v1"), ("candidate_id", candidate_id))
        assert got[("assay_candidate_verdict", (*pair, ("verdict", decision["verdict"])))] == 1.0
        quality = _gate(decision, "quality")
        assert got[("assay_candidate_quality_delta", pair)] == pytest.approx(quality["observed"])
        assert got[("assay_candidate_rank", (("candidate_id", candidate_id),))] == decision["rank"]
    assert sum(v for k, v in got.items() if k[0] == "assay_candidate_verdict") == 3


def test_the_frontier_and_ci_annotations_of_the_loops_decisions(loop, capsys):
    from assay.orchestration.cli import main

    from assay.frontier import read_frontier

    version = loop["second"]["version"]
    points = {p.candidate_id: p for p in read_frontier(loop["lake"], version)}
    assert set(points) == {"prod-v1", "support-v2", "support-lite", "support-xl"}
    assert points["prod-v1"].is_baseline and points["prod-v1"].quality_delta == 0.0
    for point in points.values():
        assert None not in (point.cost_per_request_usd, point.latency_p95_ms, point.quality_delta), point
        assert point.is_pareto_optimal is not None
    # The gate's own numbers: the frontier measures as the gates do.
    xl = loop["second"]["decisions"]["support-xl"]
    assert points["support-xl"].cost_per_request_usd == pytest.approx(_gate(xl, "cost_per_request")["observed"])
    assert points["support-xl"].latency_p95_ms == pytest.approx(_gate(xl, "latency_p95")["observed"])
    assert any(p.is_pareto_optimal for p in points.values())
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    frontier = out[out.index("Cost and quality of every candidate"):]
    assert all(cid in frontier for cid in points) and "prod-v1 (baseline)" in frontier

    assert main(["gate", "support-lite", "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    errors = [line for line in lines if line.startswith("::error ")]
    assert 1 < len(errors) <= 10
    assert "title=assay gate support-lite%3A quality failed" in errors[0]
    assert any("critical case" in line for line in errors)


def test_agent_runs_and_conversations_go_round_the_loop(loop):
    """A wiring check, on the same loop run: the demo's agent runs and chat sessions become trace
    and session subjects; the injected wrong tool orders, loops and unresolved conversations are
    found; their failures become cases (a conversation's multi-turn, replayed at its failing
    turn) that every candidate replays and the decision counts; the marts and reports show the
    figures."""
    from assay.demo.agents import load_agent_truth

    lake, home, days = loop["lake"], loop["home"], loop["days"]
    truth = load_agent_truth(home.root, days)
    planted = {kind: {r.get("trace_id") or r.get("session_id") for r in truth if r["injected"] == kind}
               for kind in ("wrong_tool_order", "tool_loop", "unresolved")}
    assert {k: len(v) for k, v in planted.items()} == {"wrong_tool_order": 4, "tool_loop": 3, "unresolved": 6}
    traces = lake.read_table("trace_subjects").to_pylist()
    sessions = [s for s in lake.read_table("session_subjects").to_pylist() if s["feature"] == "support_chat"]
    assert (len(traces), len(sessions)) == (6 * DAYS, 4 * DAYS)  # the generator's runs and chats a day

    failures = lake.read_table("failures").to_pylist()

    def flagged(evaluator: str) -> set[str]:
        return {f["subject_id"] for f in failures if f["evaluator"] == evaluator}

    # Deterministic checks find exactly what was planted.
    assert flagged("agent_trajectory") == planted["wrong_tool_order"] | planted["tool_loop"]
    assert flagged("agent_loops") == planted["tool_loop"]
    assert flagged("chat_repeats") == flagged("chat_escalation") == planted["unresolved"]
    # The sim judge flips a few verdicts on purpose: most unresolved conversations, few others.
    judged = flagged("chat_resolution")
    assert len(judged & planted["unresolved"]) >= 4 and len(judged - planted["unresolved"]) <= 2
    kinds = {(f["subject_kind"], f["failure_category"]) for f in failures if f["subject_kind"] != "call"}
    assert kinds == {("trace", "tool_misuse"), ("session", "unresolved")}
    from assay.demo.agents import agent_detection

    assert {kind: (planted, found) for kind, planted, found, _ in agent_detection(truth, failures)} == {
        "wrong_tool_order": (4, 4), "tool_loop": (3, 3), "unresolved": (6, 6)}

    # Multi-turn cases: the conversation up to the failing turn, replayed by every candidate
    # with that history, and counted in each decision's paired cases.
    version = (home.lake / "regression_dataset" / "CURRENT").read_text().strip()
    cases = [c for c in lake.read_table("regression_dataset").to_pylist() if c["dataset_version"] == version]
    multi = {c["case_id"]: c for c in cases if "multi_turn" in json.loads(c["tags"])}
    assert multi and all(json.loads(c["metadata"])["replay_turn"] >= 2 for c in multi.values())
    assert all([m["role"] for m in json.loads(c["input"])][-3:] == ["user", "assistant", "user"] for c in multi.values())
    outputs = lake.read_table("candidate_outputs").to_pylist()
    for candidate_id, decision in loop["first"]["decisions"].items():
        replayed = {o["case_id"] for o in outputs if o["candidate_id"] == candidate_id}
        assert set(multi) <= replayed, candidate_id
        paired = json.loads(Path(decision["report_path"]).with_suffix(".json").read_text())["case_ids"]["paired_cases"]
        assert set(multi) <= set(paired), candidate_id

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        marts = con.execute("select subject_kind, count(distinct day), sum(subjects), min(pass_rate) < 1 "
                            "from agent_daily where feature in ('order_agent', 'support_chat') group by all order by 1").fetchall()
    assert marts == [("session", DAYS, 4 * DAYS, True), ("trace", DAYS, 6 * DAYS, True)]
    page = Path(loop["first"]["decisions"]["support-v2"]["report_path"]).with_suffix(".html").read_text()
    assert "<h2>Agent runs and conversations</h2>" in page and "agent runs</td>" in page
