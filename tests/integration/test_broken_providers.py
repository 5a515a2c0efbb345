"""A gate that never mistakes a broken provider for a bad model: the whole candidate path
(replay through litellm's HTTP path, scoring, dbt marts, the metric comparison, the decision,
the reports, `assay gate` and `assay report` as subprocesses) against local OpenAI-compatible
servers that fail the way real providers do.

One user project (its own config, golden cases and recorded file, not the demo's): a healthy
baseline and one candidate per failure. No key, a wrong key (401), an unknown model (404), every
call timing out, 30% of requests failing with 500s that outlast the retries, and malformed
replies end in `insufficient_evidence` naming the cause (exit 3). A truly worse candidate with
10% infrastructure errors is rejected on quality with the errors counted apart. A flaky critical
case is reported as flaky and does not reject; a real regression does. A recorded candidate
without costs gets an unavailable cost gate; one whose file vanished still gets its own decision.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assay.testing.llm_server import Faults, LLMTestServer
from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ASSAY = str(Path(sys.executable).with_name("assay"))  # the console script, as a user runs it
CASES = 60
CRITICAL = {3, 5}
GOOD = "Your order for {last_user} ships tomorrow; tracking follows by email."
BAD = "I'm sorry, but I cannot help with that."
MODEL = "hosted_vllm/support-model"
TIMEOUT_S = 3.0
"""Long enough that no healthy server's reply times out while the suite loads both cores (at
1 s, a 401 server's replies sometimes did, and were retried)."""
SLO_P95_MS = 4000.0
"""Above the timeout, so the test shows failures counting at no less than their time, and far
above what the local server takes even on a busy machine."""


def _marker(i: int) -> str:
    return f"[q{i:02d}]"


SERVERS = {
    "base": Faults(answer=GOOD),
    "good": Faults(answer=GOOD),
    "bad-key": Faults(answer=GOOD, api_key="sk-the-right-one"),
    "unknown-model": Faults(answer=GOOD, models=["support-model"]),
    "timeouts": Faults(rate_hang=1.0, hang_s=2 * TIMEOUT_S),
    # Seeds for which the persistent faults hit 18 of the 60 cases (30%) and 6 (10%).
    "flaky-500": Faults(answer=GOOD, rate_500=0.3, persistent=True, seed=1),
    "junk": Faults(rate_malformed=1.0),
    "worse": Faults(answer=GOOD, rate_500=0.1, persistent=True, seed=0,
                    scripted={_marker(i): [BAD] for i in range(CASES) if i % 2}),
    "flaky-critical": Faults(answer=GOOD, scripted={_marker(3): [BAD, GOOD, GOOD]}),
    "real-regression": Faults(answer=GOOD, scripted={_marker(5): [BAD]}),
}
BROKEN = {  # candidate -> (stable type named in the reasons, a phrase of its fix hint)
    "no-key": ("auth", "is OPENAI_API_KEY set?"),
    "bad-key": ("auth", "401 from hosted_vllm: is HOSTED_VLLM_API_KEY set?"),
    "unknown-model": ("not_found", "check the model string `hosted_vllm/made-up-model`"),
    "timeouts": ("timeout", "judge.timeout_s=3 s"),
    "flaky-500": ("server_error", "answered 5xx after retries"),
    "junk": ("bad_response", "could not be read"),
}


def _question(i: int) -> str:
    return f"{_marker(i)} Where is my order number {4100 + i}?"


def _write_project(root: Path, urls: dict[str, str]) -> Path:
    golden = root / "golden"
    golden.mkdir()
    cases = [
        {"id": f"q{i:02d}", "feature": "orders", "input": _question(i),
         "reference_output": GOOD.replace("{last_user}", _question(i)), "critical": i in CRITICAL, "tier": "core"}
        for i in range(CASES)
    ]
    (golden / "orders.yaml").write_text(yaml.safe_dump({"cases": cases}))
    # A recorded candidate (another team's batch run): outputs and latency, no cost.
    (root / "recorded.jsonl").write_text("".join(
        json.dumps({"case_id": f"q{i:02d}", "output": GOOD.replace("{last_user}", _question(i)), "latency_ms": 40})
        + "\n" for i in range(CASES)
    ))

    def served(cid: str, model: str = MODEL) -> dict:
        return {"candidate_id": cid, "model": model, "params": {"api_base": urls[cid]}}

    candidates = [
        {**served("base"), "is_baseline": True},
        served("good"),
        {"candidate_id": "no-key", "model": "openai/gpt-4o-mini", "params": {"api_base": urls["good"]}},
        served("bad-key"),
        served("unknown-model", "hosted_vllm/made-up-model"),
        served("timeouts"),
        served("flaky-500"),
        served("junk"),
        served("worse"),
        served("flaky-critical"),
        served("real-regression"),
        {"candidate_id": "recorded-nocost", "recorded": "recorded.jsonl"},
        {"candidate_id": "vanished", "recorded": "gone.jsonl"},
    ]
    config = {
        "project": {"app": "shop"},
        "judge": {"model": "hosted_vllm/judge", "params": {"api_base": urls["judge"]}, "timeout_s": TIMEOUT_S,
                  "max_retries": 1, "max_concurrency": 32, "budget_usd": 1.0},
        "evaluators": [
            {"name": "no_refusal", "type": "refusal"},
            {"name": "mentions_order", "type": "contains", "params": {"value": ["order"], "mode": "any"}},
            {"name": "answer_length", "type": "length", "params": {"min_chars": 20}},
            {"name": "relevance", "type": "answer_relevance"},
        ],
        "slos": {"latency_p95_ms": SLO_P95_MS, "cost_per_request_usd": 0.01},
        "pricing": {MODEL: {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}},
        "dataset": {"golden_dir": "golden", "redteam_pack": None},
        "candidates": candidates,
        "gate": {"quality_margin": 0.05, "min_cases": 30, "max_error_share": 0.2, "confirm_regressions": 2,
                 "bootstrap_resamples": 1000},
    }
    path = root / "assay.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return launcher.run([ASSAY, *args], cwd=ROOT, env=env, timeout=300)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from contextlib import ExitStack

    from assay.assets.regression_dataset import materialise_dataset
    from assay.orchestration.runner import JobFailed, Runner

    from assay.config import load_config
    from assay.lake import Lake
    from assay.runtime import ensure_home

    root = tmp_path_factory.mktemp("broken_providers")
    with ExitStack() as stack, pytest.MonkeyPatch.context() as mp:
        servers = {name: stack.enter_context(LLMTestServer(faults)) for name, faults in SERVERS.items()}
        judge = stack.enter_context(LLMTestServer(Faults()))
        urls = {name: server.api_base for name, server in servers.items()} | {"judge": judge.api_base}
        config_path = _write_project(root, urls)
        env = {"ASSAY_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "home" / "dagster"),
               "ASSAY_CONFIG": str(config_path)}
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("OPENAI_API_KEY", raising=False)  # the user forgot it
        home = ensure_home()
        config = load_config(config_path)
        materialise_dataset(Lake(home.lake), config, config_path)
        runner = Runner()
        ids = [c.candidate_id for c in config.candidates]
        runner.register_candidates(ids)
        failed_jobs = {}
        for cid in ids:
            try:
                runner.run("candidate_job", partition_key=cid)
            except JobFailed as exc:  # a candidate whose replay fails must not stop the others
                failed_jobs[cid] = str(exc)
        runner.run("decide_job")
        cli_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | env
        from concurrent.futures import ThreadPoolExecutor

        # Each command is its own process, as in CI; a few at once, they only read.
        commands = {("gate", cid): ("gate", cid) for cid in ids if cid != "base"} | {
            "report": ("report", "--format", "json"),
            "pair": ("report", "--pair", "good", "worse"),
            "pair_json": ("report", "--pair", "good", "worse", "--format", "json"),
        }
        with ThreadPoolExecutor(4) as pool:
            done = dict(zip(commands, pool.map(lambda args: _cli(cli_env, *args), commands.values()), strict=True))
        report, pair, pair_json = done["report"], done["pair"], done["pair_json"]
        assert report.returncode == 0, report.stderr
        gates = {key[1]: result for key, result in done.items() if isinstance(key, tuple)}
        yield {
            "root": root, "home": home, "failed_jobs": failed_jobs, "gates": gates, "pair": pair,
            "pair_json": pair_json, "servers": {n: s.stats for n, s in servers.items()},
            "decisions": {d["candidate_id"]: d for d in json.loads(report.stdout)},
        }


def _gate(decision: dict, name: str) -> dict:
    return next(g for g in decision["gates"] if g["gate"] == name)


@pytest.mark.parametrize("candidate", sorted(BROKEN))
def test_a_broken_provider_is_insufficient_evidence_naming_the_cause(world, candidate):
    kind, hint = BROKEN[candidate]
    decision = world["decisions"][candidate]
    assert decision["verdict"] == "insufficient_evidence", decision["reasons"]
    assert len(decision["reasons"]) == 1 and decision["reasons"][0].startswith("evidence: ")
    reason = decision["reasons"][0]
    assert f"{kind} ×" in reason and hint in reason, reason
    # Never blamed on the model: no quality or critical-case failure among the reasons.
    assert "quality" not in reason.split("—")[0] and _gate(decision, "quality")["status"] != "fail"
    gate = world["gates"][candidate]
    assert gate.returncode == 3, gate.stderr
    assert f"{candidate}: INSUFFICIENT_EVIDENCE" in gate.stderr and f"{kind} ×" in gate.stderr
    assert gate.stderr.count("\n") == 1  # one line


def test_the_causes_are_counted_as_they_happened(world):
    stats, decisions = world["servers"], world["decisions"]
    # No key: litellm refused before sending anything; a wrong key and a wrong model are not retried.
    no_key = _gate(decisions["no-key"], "evidence")["breakdown"]["candidate"]["replays"]
    assert no_key == {"total": CASES, "lost": CASES, "share": 1.0, "by_type": {"auth": CASES}}
    assert stats["bad-key"]["outcomes"] == {"401": CASES} and stats["unknown-model"]["outcomes"] == {"404": CASES}
    # 30% of requests fail whatever the retries: about 30% of the replays are lost to server_error.
    flaky = _gate(decisions["flaky-500"], "evidence")["breakdown"]["candidate"]["replays"]
    assert set(flaky["by_type"]) == {"server_error"} and 0.2 < flaky["share"] < 0.45
    assert stats["flaky-500"]["outcomes"]["500"] == 2 * flaky["lost"]  # each tried twice (max_retries 1)


def test_calls_that_all_time_out_cannot_pass_the_latency_slo(world):
    latency = _gate(world["decisions"]["timeouts"], "latency_p95")
    assert latency["status"] == "fail" and latency["observed"] >= 2 * TIMEOUT_S * 1000 > SLO_P95_MS
    assert latency["breakdown"]["failed_counted"] == CASES


def test_a_worse_candidate_with_infrastructure_errors_is_rejected_on_quality_with_the_errors_apart(world):
    decision = world["decisions"]["worse"]
    assert decision["verdict"] == "rejected"
    quality, evidence = _gate(decision, "quality"), _gate(decision, "evidence")
    assert quality["status"] == "fail" and quality["ci_high"] < -0.05
    assert any(r.startswith("quality: worse than baseline") for r in decision["reasons"])
    lost = evidence["breakdown"]["candidate"]["replays"]
    assert evidence["status"] == "pass" and set(lost["by_type"]) == {"server_error"} and 3 <= lost["lost"] <= 9
    # The errored cases are out of the comparison, not counted as failures.
    assert quality["n"] == CASES - lost["lost"]
    overall = next(m for m in decision["metrics"] if m["metric"] == "case_pass_share")
    assert overall["paired_cases"] == CASES - lost["lost"] and overall["significant"] is True


def test_a_flaky_critical_case_does_not_reject_and_a_real_regression_does(world):
    flaky, real = world["decisions"]["flaky-critical"], world["decisions"]["real-regression"]
    critical = _gate(flaky, "critical_cases")
    assert critical["status"] == "pass" and critical["breakdown"]["flaky"] == ["q03"]
    assert critical["breakdown"]["runs"]["q03"] == {"runs": 2, "regressed_runs": 1, "inconclusive_runs": 0,
                                                    "confirmed": False, "not_rerun": None}
    assert "1 flaky regression(s) not counted (q03 regressed in 1 of 2 runs)" in critical["detail"]
    assert flaky["verdict"] == "approved", flaky["reasons"]
    critical = _gate(real, "critical_cases")
    assert critical["status"] == "fail" and critical["breakdown"]["confirmed"] == ["q05"]
    assert critical["breakdown"]["runs"]["q05"]["runs"] == 3 and real["verdict"] == "rejected"
    assert [r.split(":")[0] for r in real["reasons"]] == ["critical_cases"]
    assert world["gates"]["flaky-critical"].returncode == 0 and world["gates"]["real-regression"].returncode == 1


def test_a_healthy_candidate_on_the_same_server_is_approved(world):
    decision = world["decisions"]["good"]
    assert decision["verdict"] == "approved", decision["reasons"]
    assert decision["rank"] == 1 and world["gates"]["good"].returncode == 0


def test_a_recorded_candidate_without_costs_is_not_approved(world):
    decision = world["decisions"]["recorded-nocost"]
    cost = _gate(decision, "cost_per_request")
    assert cost["status"] == "unavailable" and "never $0" in cost["detail"]
    assert decision["verdict"] == "insufficient_evidence" and world["gates"]["recorded-nocost"].returncode == 3


def test_a_candidate_with_no_outputs_gets_its_own_decision_naming_why(world):
    assert set(world["failed_jobs"]) == {"vanished"}
    decision = world["decisions"]["vanished"]
    assert decision["verdict"] == "insufficient_evidence"
    # Dagster's record of the failed replay run names the cause.
    assert "candidate_job run " in decision["reasons"][0]
    assert "gone.jsonl: recorded-outputs file not found" in decision["reasons"][0]
    assert world["gates"]["vanished"].returncode == 3


def test_report_json_has_every_metric_with_its_interval_and_corrected_p(world):
    decisions = world["decisions"]
    assert sorted(d["rank"] for d in decisions.values()) == list(range(1, len(decisions) + 1))
    for cid in ("good", "worse", "flaky-critical"):
        metrics = {m["metric"]: m for m in decisions[cid]["metrics"]}
        assert set(metrics) == {"case_pass_share", "no_refusal", "mentions_order", "answer_length", "relevance"}
        for m in metrics.values():
            assert {"mean_delta", "ci_low", "ci_high", "mcnemar_p", "holm_p", "significant"} <= set(m)
            assert m["holm_p"] >= m["mcnemar_p"] and m["ci_low"] <= m["mean_delta"] <= m["ci_high"]
    worse = {m["metric"]: m for m in decisions["worse"]["metrics"]}
    assert worse["no_refusal"]["significant"] and worse["no_refusal"]["mean_delta"] < -0.3
    # The reports show the same rows.
    report = json.loads(Path(decisions["worse"]["reports"]["json"]).read_text())
    assert report["metrics"] == decisions["worse"]["metrics"]
    markdown = Path(decisions["worse"]["reports"]["markdown"]).read_text()
    assert "| no_refusal | " in markdown and "golden case from orders.yaml" in markdown
    assert "**pass share**: the share of a case's evaluators that passed" in markdown


def test_any_pair_is_compared_without_editing_the_config(world):
    pair, as_json = world["pair"], world["pair_json"]
    assert pair.returncode == 0, pair.stderr
    assert pair.stdout.startswith("good against worse on dataset ")
    rows = {r["metric"]: r for r in json.loads(as_json.stdout)}
    stored = {m["metric"]: m for m in world["decisions"]["worse"]["metrics"]}
    # The pair is the stored comparison seen from the other side.
    assert rows["no_refusal"]["mean_delta"] == pytest.approx(-stored["no_refusal"]["mean_delta"])
    assert rows["no_refusal"]["mcnemar_p"] == pytest.approx(stored["no_refusal"]["mcnemar_p"])
    missing = _cli(os.environ | {"ASSAY_HOME": str(world["home"].root), "ASSAY_CONFIG": str(world["root"] / "assay.yaml")},
                   "report", "--pair", "good", "nobody")
    assert missing.returncode == 1 and "no replays of dataset" in missing.stderr and "'nobody'" in missing.stderr
