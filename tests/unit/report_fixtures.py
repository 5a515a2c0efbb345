"""Builders shared by the report, gate and alert tests: decisions, a small warehouse file with
the marts the reports read, a lake holding decisions, and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from assay.contracts.candidate import Candidate
from assay.contracts.decision import (
    DECISION_ARROW_SCHEMA,
    DECISION_JSON_COLUMNS,
    Decision,
    GateResult,
)
from assay.lake import Lake

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & </pre>'
VERSION = "ds-test0001"
CANDIDATE = Candidate(candidate_id="cand-a", model="sim/cand-a", prompt_version="v2")
BASELINE = Candidate(candidate_id="base", model="sim/base", is_baseline=True)


def gates(*, quality="pass", critical="pass", latency="pass", evidence="pass") -> list[GateResult]:
    return [
        GateResult(gate="evidence", status=evidence, observed=40, threshold=30, n=40, detail="40 paired cases"),
        GateResult(gate="quality", status=quality, observed=-0.05 if quality == "fail" else 0.01, threshold=-0.02,
                   ci_low=-0.09 if quality == "fail" else -0.01, ci_high=0.02, n=40, detail="quality detail"),
        GateResult(gate="critical_cases", status=critical, observed=1 if critical == "fail" else 0, threshold=0, n=5,
                   detail="critical detail"),
        GateResult(gate="latency_p95", status=latency, observed=900.0, threshold=1000.0, ci_low=850.0, ci_high=990.0,
                   n=40, detail="p95 900 ms"),
        GateResult(gate="cost_per_request", status="pass", observed=0.001, threshold=0.002, ci_low=0.0009,
                   ci_high=0.0011, n=40, detail="cost ok"),
    ]


def decision(verdict="rejected", candidate_id="cand-a", **gate_status) -> Decision:
    return Decision(
        candidate_id=candidate_id, baseline_id="base", dataset_version=VERSION,
        window=f"dataset {VERSION}, 40 paired cases", verdict=verdict, gates=gates(**gate_status),
        reasons=["quality: worse than baseline"] if verdict != "approved" else ["all 5 gates passed"],
        decided_at=datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
    )


def case_details() -> dict[str, dict]:
    return {
        "case-crit": {"feature": "rag_answer", "tier": "core", "failure_category": "pii_leak",
                      "input_text": "What is my card? " + HOSTILE, "baseline_output": "I cannot share that.",
                      "candidate_output": "Sure: " + HOSTILE, "baseline_pass_share": 1.0,
                      "candidate_pass_share": 0.5, "candidate_failed": "no_pii"},
        "case-other": {"feature": "classify_ticket", "tier": "edge", "failure_category": None,
                       "input_text": "classify this", "baseline_output": '{"label": "billing"}',
                       "candidate_output": "billing?", "baseline_pass_share": 1.0,
                       "candidate_pass_share": 0.0, "candidate_failed": "ticket_json"},
    }


TRACES = {"paired_cases": ["case-crit", "case-other"], "critical_regressions": ["case-crit"],
          "regressed_cases": ["case-crit", "case-other"], "improved_cases": []}


def build_warehouse(path: Path, *, days: int = 5, with_drift: bool = True, breach_latency: bool = False) -> Path:
    """A DuckDB file with slo_daily, evaluator_daily, stg_candidate_scores (and drift)."""
    import duckdb

    first = date(2026, 11, 21) - timedelta(days=days - 1)
    with duckdb.connect(str(path)) as con:
        con.execute("""create table slo_daily (day date, app varchar, feature varchar, model varchar,
            prompt_version varchar, calls bigint, error_rate double, latency_p95_ms double,
            cost_per_request_usd double, pass_rate double)""")
        con.execute("""create table evaluator_daily (day date, app varchar, feature varchar, evaluator varchar,
            evaluator_version varchar, metric varchar, judge_model varchar, scores bigint, completed_scores bigint,
            passed_scores bigint, pass_rate double, error_scores bigint)""")
        for i in range(days):
            day = first + timedelta(days=i)
            last = i == days - 1
            for feature, base_ms in (("rag_answer", 800.0), ("classify_ticket", 300.0)):
                p95 = 5000.0 if (breach_latency and last and feature == "rag_answer") else base_ms + 20 * i
                con.execute("insert into slo_daily values (?, 'app', ?, 'sim/base', 'v1', 100, 0.01, ?, 0.001, 0.9)",
                            [day, feature, p95])
                con.execute("insert into evaluator_daily values (?, 'app', ?, 'no_pii', '1', 'pii', '', 50, 50, ?, ?, 0)",
                            [day, feature, 45 - i, (45 - i) / 50])
        # The candidate's per-metric comparison, as assay/metric_comparison.py computes it.
        from assay.config import GateConfig
        from assay.metric_comparison import compare_candidates

        ids = [f"case-{n:02d}" for n in range(20)]
        evaluations = {
            cid: [{"case_id": c, "evaluator": "no_pii", "pass_share": float(ok), "is_passed": ok}
                  for c, ok in zip(ids, passing, strict=True)]
            for cid, passing in (("cand-a", [n % 4 != 0 for n in range(20)]), ("base", [True] * 20))
        }
        cases = {cid: [{"case_id": r["case_id"], "pass_share": r["pass_share"], "is_case_passed": r["is_passed"]}
                       for r in rows] for cid, rows in evaluations.items()}
        comparison = compare_candidates("cand-a", "base", VERSION, candidate_cases=cases["cand-a"],
                                        baseline_cases=cases["base"], candidate_metrics=evaluations["cand-a"],
                                        baseline_metrics=evaluations["base"], stats=GateConfig(bootstrap_resamples=500))
        import pyarrow as pa

        con.register("comparison", pa.Table.from_pylist([r.model_dump() for r in comparison]))
        con.execute("create table candidate_metric_comparison as select * from comparison")
        if with_drift:
            con.execute(
                "create table drift (metric varchar, feature varchar, evaluator varchar, recent_end_day date,"
                " reference_value double, recent_value double, p_value double, effect_size double, flagged boolean)"
            )
            last_day = first + timedelta(days=days - 1)
            con.execute("insert into drift values ('pass_rate', 'rag_answer', 'faithfulness', ?, 0.9085, 0.7396, 2.8e-9, -0.456, true)", [last_day])
            con.execute("insert into drift values ('pass_rate', 'classify_ticket', 'ticket_json', ?, 0.98, 0.97, 0.4, -0.02, false)", [last_day])
    return path


def write_decisions(home: Path, decisions: list[Decision]) -> Lake:
    lake = Lake(home / "lake")
    lake.write_partition(
        "deploy_decisions",
        [d.model_dump(mode="python") | {"gates": [g.model_dump() for g in d.gates]} for d in decisions],
        partition={"dataset_version": VERSION},
        schema=DECISION_ARROW_SCHEMA,
        json_columns=DECISION_JSON_COLUMNS,
    )
    pointer = lake.table_dir("regression_dataset") / "CURRENT"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(VERSION)
    return lake


class Receiver:
    """A webhook receiver on 127.0.0.1: records each JSON body; answers the queued statuses
    first (e.g. [500, 500]) and 200 after; `delay_s` makes it slow."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                import time

                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(body))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        # The token in the path stands for the secret part of a real Slack webhook URL.
        return f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/s3cr3t-token"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
