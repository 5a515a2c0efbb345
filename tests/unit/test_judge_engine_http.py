"""The judge engine over litellm's real HTTP path, against the local OpenAI-compatible server
(`assay.testing.llm_server`): faults, cache, budget, deadline, timeouts, worker processes.

The server counts what it served, so "no call made twice" and "the budget stopped the run"
are asserted on the provider's side, not only on what the engine says it did.
"""

from __future__ import annotations

import pytest
from assay.evaluators.llm_judge import LLMJudge, judge_plans

from assay.llm.engine import LLMEngine, LLMRequest
from assay.testing.llm_server import Faults, LLMTestServer
from assay.testing.subjects import refund_subjects

MODEL = "openai/judge-test"
PRICES = {MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}}


def subjects(n: int) -> list[dict]:
    return refund_subjects(n)


def judge_for(server: LLMTestServer) -> LLMJudge:
    return LLMJudge(name="faithfulness", rubric="faithfulness", model=MODEL, completion_params=server.completion_params())


def engine(tmp_path, **options) -> LLMEngine:
    defaults = {
        "max_concurrency": 64,
        "timeout_s": 5.0,
        "max_retries": 4,
        "backoff_base_s": 0.01,
        "cache_dir": tmp_path / "cache",
        "prices": PRICES,
    }
    return LLMEngine(**(defaults | options))


def run_judge(server: LLMTestServer, items: list[dict], llm: LLMEngine):
    judge = judge_for(server)
    plans = [judge.plan(subject, default_model=MODEL) for subject in items]
    return judge_plans(plans, llm)


@pytest.mark.slow  # thousands of calls, or worker processes: `make test` only
def test_faulty_provider_2000_calls_every_row_accounted_and_rerun_is_free(tmp_path):
    faults = Faults(latency_s=0.002, rate_429=0.05, retry_after_s=0.01, rate_500=0.02, rate_junk=0.01, seed=7)
    items = subjects(2000)
    with LLMTestServer(faults) as server:
        first = engine(tmp_path)
        scores = run_judge(server, items, first)
        served = server.stats

        # Every row ends as exactly one score, and the counts add up.
        assert sorted(s.subject_id for s in scores) == sorted(i["subject_id"] for i in items)
        by_status = {status: sum(1 for s in scores if s.status == status) for status in ("completed", "error", "skipped")}
        assert sum(by_status.values()) == len(items)
        # The faults really happened...
        assert served["outcomes"]["429"] > 50 and served["outcomes"]["500"] > 15 and served["outcomes"]["junk"] > 5
        # ...and were absorbed: retries for 429/500, one repair per junk reply.
        assert by_status["completed"] >= len(items) - 2
        assert first.stats.attempts == served["requests"]  # the engine counted every call it sent
        assert first.stats.retries == served["outcomes"]["429"] + served["outcomes"]["500"]
        repaired = [s for s in scores if s.details and s.details.get("repaired")]
        assert len(repaired) == served["outcomes"]["junk"]
        assert all(s.status == "completed" for s in repaired)
        assert served["prompts_answered_twice"] == 0
        assert first.stats.overloaded == served["outcomes"]["429"]
        # 5% of replies refused at random is no overload share (`limits.py`): each refused
        # call waited its Retry-After, and the slots stayed in use.
        assert first.stats.concurrency_limit_lowest == 64
        # Every score carries its accounting; the run's total is theirs.
        completed = [s for s in scores if s.status == "completed"]
        assert all(s.judge_input_tokens and s.judge_output_tokens and s.judge_cost_usd > 0 for s in completed)
        assert all(s.judge_attempts >= 1 and s.judge_is_cache_hit is False for s in completed)
        assert sum(s.judge_attempts for s in scores) == served["requests"]
        assert sum(s.judge_cost_usd for s in scores) == pytest.approx(first.stats.cost_usd)

        # The re-run: every answer from the cache, nothing sent, nothing paid, same verdicts.
        second = engine(tmp_path)
        again = run_judge(server, items, second)
        assert server.stats["requests"] == served["requests"]
        assert second.stats.attempts == 0 and second.stats.cost_usd == 0
        assert all(s.judge_is_cache_hit and s.judge_cost_usd == 0 for s in again if s.status == "completed")
        assert [(s.subject_id, s.passed, s.value) for s in again] == [(s.subject_id, s.passed, s.value) for s in scores]


@pytest.mark.slow  # thousands of calls, or worker processes: `make test` only
def test_budget_covering_half_the_run_stops_at_about_half_and_is_never_exceeded(tmp_path):
    items = subjects(400)
    with LLMTestServer(Faults(latency_s=0.002)) as server:
        full = engine(tmp_path / "full")
        run_judge(server, items, full)
        total_usd = full.stats.cost_usd
        assert total_usd > 0 and server.stats["requests"] == len(items)

    with LLMTestServer(Faults(latency_s=0.002)) as server:
        budget_usd = total_usd / 2
        halved = engine(tmp_path / "half", budget_usd=budget_usd)
        scores = run_judge(server, items, halved)
        served = server.stats["requests"]
    spent = sum(s.judge_cost_usd for s in scores)
    assert spent <= budget_usd
    assert halved.stats.cost_usd <= budget_usd
    # Stopped at about half: within one call's upper estimate of the budget.
    assert 0.45 * len(items) <= served <= 0.5 * len(items) + 1
    skipped = [s for s in scores if s.status == "skipped"]
    assert {s.label for s in skipped} == {"budget"}
    assert all("judge.budget_usd" in s.explanation for s in skipped)
    assert len(skipped) + served == len(items)  # every call not made is a skipped row
    assert halved.stats.estimated_cost_usd > total_usd  # the estimate is an upper bound


def test_daily_budget_is_shared_by_runs_of_the_same_day(tmp_path):
    items = subjects(60)
    spend_dir = tmp_path / "spend"
    with LLMTestServer() as server:
        probe = engine(tmp_path / "probe")
        run_judge(server, items[:30], probe)
        per_run_usd = probe.stats.cost_usd
        day_limit = per_run_usd * 1.5
        first = engine(tmp_path / "a", budget_usd=1.0, budget_per_day_usd=day_limit, spend_dir=spend_dir)
        run_judge(server, items[:30], first)
        assert first.stats.skipped == 0
        second = engine(tmp_path / "b", budget_usd=1.0, budget_per_day_usd=day_limit, spend_dir=spend_dir)
        scores = run_judge(server, items[30:], second)
    assert second.stats.skipped_budget > 0
    assert {s.label for s in scores if s.status == "skipped"} == {"budget"}
    assert any("judge.budget_per_day_usd" in (s.explanation or "") for s in scores)
    assert first.stats.cost_usd + second.stats.cost_usd <= day_limit
    (ledger,) = spend_dir.glob("*.json")
    assert ledger.read_text()  # the day's total is persisted for the next process


@pytest.mark.slow  # thousands of calls, or worker processes: `make test` only
def test_an_overloaded_provider_gets_its_concurrency_cut(tmp_path):
    # Half the calls refused: a provider past its capacity, not a random refusal now and then.
    with LLMTestServer(Faults(latency_s=0.01, rate_429=0.5, retry_after_s=0.01, seed=4)) as server:
        llm = engine(tmp_path, max_concurrency=64, max_retries=10)
        scores = run_judge(server, subjects(300), llm)
        served = server.stats
    assert len(scores) == 300 and llm.stats.completed + llm.stats.errors == 300
    assert served["outcomes"]["429"] > 150
    assert llm.stats.concurrency_limit_lowest <= 32
    assert served["max_in_flight"] <= 64


def test_retry_after_is_honoured_and_timeouts_are_retried(tmp_path):
    with LLMTestServer(Faults(rate_429=1.0, retry_after_s=7)) as server:
        llm = engine(tmp_path, max_retries=2)
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        llm._sleep = record
        (result,) = llm.run([LLMRequest(MODEL, [{"role": "user", "content": "q"}], server.completion_params())])
        assert result.status == "error" and result.error_type == "rate_limited"
        assert result.attempts == 3 and server.stats["requests"] == 3
        assert waits == [7.0, 7.0]  # never sooner than the provider asked

    with LLMTestServer(Faults(rate_hang=1.0, hang_s=5)) as server:
        llm = engine(tmp_path, timeout_s=0.2, max_retries=1)
        (result,) = llm.run([LLMRequest(MODEL, [{"role": "user", "content": "q"}], server.completion_params())])
        assert result.status == "error" and result.error_type == "timeout"
        assert result.attempts == 2 and server.stats["requests"] == 2
        assert llm.stats.timeouts == 2


def test_deadline_skips_what_is_left(tmp_path):
    items = subjects(40)
    with LLMTestServer(Faults(latency_s=0.3)) as server:
        # litellm's first call in a process takes ~1 s (clients, lazy imports): not the point here.
        LLMEngine().run([LLMRequest(MODEL, [{"role": "user", "content": "warm up"}], server.completion_params())])
        # 40 calls 2 at a time at 0.3 s take 6 s: a 1 s deadline leaves most of them.
        llm = engine(tmp_path, max_concurrency=2, deadline_s=1.0)
        scores = run_judge(server, items, llm)
        served = server.stats["answered"]
    statuses = [s.status for s in scores]
    assert len(scores) == len(items)
    assert statuses.count("completed") >= 1
    skipped = [s for s in scores if s.status == "skipped"]
    assert skipped and {s.label for s in skipped} == {"deadline"}
    assert all("judge.deadline_s" in s.explanation for s in skipped)
    assert statuses.count("completed") + len(skipped) + statuses.count("error") == len(items)
    assert served - 1 <= statuses.count("completed") + len(skipped)


@pytest.mark.slow  # thousands of calls, or worker processes: `make test` only
def test_worker_processes_give_the_same_results_as_one_process(tmp_path):
    faults = Faults(rate_429=0.1, retry_after_s=0.01, rate_junk=0.1, seed=3)
    results, served = {}, {}
    for mode, workers in (("pool", 2), ("single", 0)):
        # A fresh server each: faults depend on how often it has seen a prompt.
        with LLMTestServer(faults) as server:
            requests = [
                LLMRequest(MODEL, [{"role": "user", "content": f"question {i}"}], {"max_tokens": 32, **server.completion_params()})
                for i in range(40)
            ]
            # timeout_s: the workers start while the machine may be busy; a call timed out at the
            # client while queued at the server counts as an attempt the server never saw.
            llm = engine(tmp_path / mode, worker_processes=workers, min_calls_for_workers=1, timeout_s=120.0)
            results[mode] = llm.run(requests)
            served[mode] = server.stats
            assert llm.stats.attempts == served[mode]["requests"]
    assert [r.status for r in results["pool"]] == ["completed"] * 40
    assert [r.text for r in results["pool"]] == [r.text for r in results["single"]]
    assert [r.attempts for r in results["pool"]] == [r.attempts for r in results["single"]]
    assert [r.cost_usd for r in results["pool"]] == pytest.approx([r.cost_usd for r in results["single"]])
    assert served["pool"]["outcomes"] == served["single"]["outcomes"] and served["pool"]["outcomes"]["429"] > 0


def test_server_counts_and_faults_are_reproducible():
    faults = Faults(rate_429=0.3, rate_500=0.2, seed=11)
    outcomes = []
    for _ in range(2):
        with LLMTestServer(faults) as server:
            requests = [LLMRequest(MODEL, [{"role": "user", "content": f"q{i}"}], server.completion_params()) for i in range(30)]
            LLMEngine(max_retries=0, backoff_base_s=0).run(requests)
            outcomes.append(server.stats["outcomes"])
    assert outcomes[0] == outcomes[1] and outcomes[0]["429"] > 0 and outcomes[0]["500"] > 0


def test_server_holds_hundreds_of_concurrent_connections():
    import asyncio

    import aiohttp

    async def flood(url: str) -> list[int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one(i: int) -> int:
                body = {"model": "judge-test", "messages": [{"role": "user", "content": f"q{i}"}]}
                async with session.post(url, json=body) as response:
                    await response.json()
                    return response.status

            return await asyncio.gather(*(one(i) for i in range(200)))

    with LLMTestServer(Faults(latency_s=0.5)) as server:
        statuses = asyncio.run(flood(f"{server.api_base}/chat/completions"))
        stats = server.stats
    assert statuses == [200] * 200
    assert stats["requests"] == 200 and stats["max_in_flight"] >= 128


@pytest.mark.slow  # thousands of calls, or worker processes: `make test` only
@pytest.mark.parametrize("workers", [0, 2])
def test_the_provider_never_holds_more_than_the_limit_while_calls_are_prepared_ahead(tmp_path, workers):
    # The engine admits a quarter more calls than the limit to build their requests early
    # (limits.PREPARE_AHEAD_SHARE); the HTTP gate keeps the provider at the limit, in this
    # process and split over worker processes alike.
    with LLMTestServer(Faults(latency_s=0.05)) as server:
        llm = engine(tmp_path, max_concurrency=8, worker_processes=workers, min_calls_for_workers=1)
        scores = run_judge(server, subjects(120), llm)
        served = server.stats
    assert [s.status for s in scores] == ["completed"] * 120
    assert served["max_in_flight"] == 8


def test_a_calls_latency_leaves_out_its_wait_at_the_gate(tmp_path):
    # One place at the provider, two calls admitted: each call waits about one latency at
    # the gate before its own. Its latency is its own 500 ms, not 1,000 (a latency long
    # against a loaded machine's stalls: this checks what is measured, not how fast).
    with LLMTestServer(Faults(latency_s=0.5)) as server:
        llm = engine(tmp_path, max_concurrency=1)
        requests = [
            LLMRequest(MODEL, [{"role": "user", "content": f"latency {i}"}], {"max_tokens": 16, **server.completion_params()})
            for i in range(8)
        ]
        llm.run(requests[:2])  # connections and litellm's first-call setup
        llm.stats = type(llm.stats)()
        results = llm.run(requests[2:])
        assert server.stats["max_in_flight"] == 1
    assert [r.status for r in results] == ["completed"] * 6
    # Counted with its wait, each would be about 1,000 ms. The median, not every call: on a
    # loaded machine one call's own 500 ms can stretch.
    latencies_ms = sorted(r.latency_ms for r in results)
    assert latencies_ms[0] >= 490 and (latencies_ms[2] + latencies_ms[3]) / 2 < 750, latencies_ms
