"""Judge hygiene and the engine's policies as plain logic: the repair pass, n-sample voting,
pairwise judging in both orders, AIMD concurrency, token buckets, rate-limit headers."""

from __future__ import annotations

import asyncio
import random

import pytest
from assay.evaluators.llm_judge import JudgeCall, LLMJudge, PairwiseJudge, judge_plans, reduce_votes

from assay.llm.engine import LLMEngine, LLMRequest, LLMResult, pause_from_rate_limit_headers
from assay.llm.judge_prompt import JudgeVerdict
from assay.llm.limits import ModelLimiter, ModelLimits, TokenBucket
from assay.llm.transport import outcome_from_exception, parse_retry_after_s
from assay.testing.llm_server import Faults, LLMTestServer

MODEL = "openai/judge-test"
SUBJECT = {
    "subject_id": "call-1",
    "input_text": "How long do refunds take?",
    "context": ["Refunds are issued within 5 business days."],
    "output_text": "Refunds take 5 business days.",
    "baseline_output": "Refunds take about a week.",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------- engine policies


def test_aimd_halves_once_per_window_and_grows_back_by_one():
    clock = FakeClock()
    # Threshold 0: every overload is a signal (the share rule is tested below).
    limiter = ModelLimiter("m", ModelLimits(max_concurrency=32), overload_threshold=0.0, clock=clock)
    started_before = clock.now
    clock.now += 1
    limiter.on_overload(started_before)
    assert limiter.concurrency_limit == 16
    # More 429s from calls that were already in flight at the cut: the same signal.
    limiter.on_overload(started_before)
    limiter.on_overload(started_before + 0.5)
    assert limiter.concurrency_limit == 16
    clock.now += 1
    limiter.on_overload(clock.now)  # a call started after the cut: a new signal
    assert limiter.concurrency_limit == 8 and limiter.overload_cuts == 2
    for _ in range(30):
        limiter.on_success()
    assert limiter.concurrency_limit == 32  # capped at the configured max
    assert limiter.lowest_concurrency_limit == 8
    for _ in range(10):
        clock.now += 1
        limiter.on_overload(clock.now)
    assert limiter.concurrency_limit == 1  # never below one


def test_random_refusals_keep_the_slots_a_real_overload_is_cut_within_a_window():
    clock = FakeClock()
    limiter = ModelLimiter("m", ModelLimits(max_concurrency=32), clock=clock)  # threshold 0.1 of 128
    rng = random.Random(7)
    limits = []
    for _ in range(4000):  # 5% of replies refused at random, each from a call started just now
        clock.now += 0.005
        if rng.random() < 0.05:
            limiter.on_overload(clock.now - 0.001)
        else:
            limiter.on_success()
        limits.append(limiter.concurrency_limit)
    # The old rule (halve on any 429 from a call started after the last cut) cut here 214 times
    # and averaged 23.5 slots.
    assert limiter.overload_cuts <= 3
    assert sum(limits) / len(limits) > 31

    # The provider now refuses 40% of calls: cut at once, and again while it goes on.
    for _ in range(200):
        clock.now += 0.005
        if rng.random() < 0.4:
            limiter.on_overload(clock.now - 0.001)
        else:
            limiter.on_success()
    assert limiter.overload_cuts >= 3
    assert limiter.lowest_concurrency_limit <= 16


def test_token_bucket_refills_continuously_and_lets_a_big_request_through_when_full():
    clock = FakeClock()
    bucket = TokenBucket(per_minute=120, clock=clock)  # 2 per second, holds 2
    assert bucket.wait_s(1) == 0
    bucket.take(2)
    assert bucket.wait_s(1) == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.wait_s(1) == 0
    big = TokenBucket(per_minute=600, clock=clock)  # holds 10
    assert big.wait_s(50) == 0  # larger than the capacity: allowed when full...
    big.take(50)
    assert big.wait_s(1) == pytest.approx(41 / 10)  # ...and the debt is paid back in time


def test_limiter_slots_respect_the_adaptive_limit():
    async def scenario():
        limiter = ModelLimiter("m", ModelLimits(max_concurrency=4))
        limiter.concurrency_limit = 2
        peak = 0

        async def call():
            nonlocal peak
            async with limiter.slot():
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(call() for _ in range(10)))
        return peak

    assert asyncio.run(scenario()) == 2


def test_rate_limit_headers_pause_the_model():
    assert pause_from_rate_limit_headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30s"}) == 90
    assert pause_from_rate_limit_headers({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "20ms"}) == pytest.approx(0.02)
    assert pause_from_rate_limit_headers({"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "1s"}) is None
    assert parse_retry_after_s("2.5") == 2.5 and parse_retry_after_s("soon") is None
    assert parse_retry_after_s("99999") == 300.0  # capped


def test_litellm_exception_headers_are_read_from_litellm_response_headers():
    import httpx
    import litellm

    error = litellm.RateLimitError(message="429", llm_provider="openai", model="m")
    error.litellm_response_headers = httpx.Headers({"retry-after": "3", "x-ratelimit-remaining-requests": "0"})
    outcome = outcome_from_exception(error)
    assert outcome.is_retryable and outcome.is_overload
    assert outcome.retry_after_s == 3.0
    assert outcome.rate_limit_headers["x-ratelimit-remaining-requests"] == "0"
    bad = outcome_from_exception(litellm.BadRequestError(message="bad", llm_provider="openai", model="m"))
    assert not bad.is_retryable and not bad.is_overload


# ---------------------------------------------------------------------------- repair


def test_junk_reply_is_repaired_once_then_an_error_score(tmp_path, monkeypatch):
    judge = LLMJudge(name="faithfulness", rubric="faithfulness", model=MODEL)
    sent: list[list[dict]] = []

    async def junk_then(reply_to_repair: str):
        async def run_async(requests):
            results = []
            for request in requests:
                sent.append(request.messages)
                is_repair = "not valid JSON" in request.messages[-1]["content"]
                results.append(
                    LLMResult(status="completed", text=reply_to_repair if is_repair else "Looks fine!",
                              input_tokens=10, output_tokens=3, cost_usd=0.001, latency_ms=5, attempts=1)
                )
            return results

        return run_async

    for repair_reply, status in (('{"passed": false, "score": 0.2, "reason": "r"}', "completed"), ("still not json", "error")):
        sent.clear()
        engine = LLMEngine()
        monkeypatch.setattr(engine, "run_async", asyncio.run(junk_then(repair_reply)))
        (score,) = judge_plans([judge.plan(SUBJECT, default_model=MODEL)], engine)
        assert len(sent) == 2  # the question, then exactly one repair
        assert sent[1][-2] == {"role": "assistant", "content": "Looks fine!"}
        assert score.status == status
        assert score.judge_attempts == 2 and score.judge_cost_usd == pytest.approx(0.002)
        assert score.judge_input_tokens == 20
        if status == "completed":
            assert score.passed is False and score.details == {"repaired": True}
        else:
            assert score.label == "unparseable_reply" and "after one repair" in score.explanation


# ---------------------------------------------------------------------------- voting


def _verdicts(*passed_scores):
    return [JudgeVerdict(passed=p, score=s, label="", reason="") for p, s in passed_scores]


@pytest.mark.parametrize(
    ("reducer", "expected"),
    [("all", False), ("any", True), ("majority", True), ("mean", True), ("min_pass_rate", False)],
)
def test_vote_reducers(reducer, expected):
    verdicts = _verdicts((True, 0.9), (True, 0.8), (False, 0.2))
    passed, value, details = reduce_votes(verdicts, reducer, min_pass_rate=0.8)
    assert passed is expected
    assert details["votes"] == [True, True, False] and details["pass_rate"] == pytest.approx(2 / 3)
    assert details["score_range"] == pytest.approx(0.7) and details["score_stdev"] > 0
    assert details["is_unanimous"] is False
    assert value == pytest.approx(0.6333, abs=1e-3) if reducer == "mean" else value == pytest.approx(2 / 3)


def test_n_sample_voting_against_the_server_reports_the_spread(tmp_path):
    judge = LLMJudge(name="faithfulness", rubric="faithfulness", model=MODEL, samples=3, reducer="majority")
    with pytest.raises(ValueError, match="reducer 'most' is not one of"):
        LLMJudge(name="x", rubric="faithfulness", reducer="most")
    with LLMTestServer(Faults()) as server:
        judge.completion_params = server.completion_params()
        plan = judge.plan(SUBJECT, default_model=MODEL)
        assert len(plan.requests) == 3 and len({r.key for r in plan.requests}) == 3
        assert all(r.params["temperature"] == 0.7 for r in plan.requests)
        (score,) = judge_plans([plan], LLMEngine(cache_dir=tmp_path))
        assert server.stats["requests"] == 3
    assert score.status == "completed"
    assert score.details["samples"] == 3 and len(score.details["votes"]) == 3
    assert score.judge_attempts == 3


# ---------------------------------------------------------------------------- pairwise


def _call(passed: bool, score: float) -> JudgeCall:
    call = JudgeCall(LLMRequest(MODEL, []), [LLMResult(status="completed", attempts=1)])
    call.verdict = JudgeVerdict(passed=passed, score=score, label="", reason=f"r{score}")
    return call


def test_pairwise_runs_both_orders_with_the_responses_swapped():
    judge = PairwiseJudge(name="vs_baseline")
    plan = judge.plan(SUBJECT, default_model=MODEL)
    first, second = (r.messages[1]["content"] for r in plan.requests)
    assert first.index("5 business days") < first.index("about a week")
    assert second.index("about a week") < second.index("5 business days")
    missing = judge.plan({k: v for k, v in SUBJECT.items() if k != "baseline_output"}, default_model=MODEL)
    assert missing.status == "skipped" and "baseline_output" in missing.explanation


def test_pairwise_position_consistency():
    judge = PairwiseJudge(name="vs_baseline")
    # Candidate wins in both orders: consistent.
    score = judge.score_from_calls(SUBJECT, [_call(True, 0.8), _call(False, 0.3)])
    assert score.passed is True and score.value == pytest.approx(0.75)
    assert score.details["position_consistent"] is True and score.label == "not_worse"
    # The judge prefers whatever is shown first: inconsistent, and the averaged value says so.
    score = judge.score_from_calls(SUBJECT, [_call(True, 0.8), _call(True, 0.8)])
    assert score.details["position_consistent"] is False
    assert score.value == pytest.approx(0.5) and score.label.endswith("_position_inconsistent")
    # One order failed: no comparison.
    failed = JudgeCall(LLMRequest(MODEL, []), [LLMResult(status="error", error_type="Timeout", error_message="t")])
    score = judge.score_from_calls(SUBJECT, [_call(True, 0.8), failed])
    assert score.status == "error" and score.label == "Timeout"


def test_a_retry_starts_before_the_calls_queued_behind_it():
    # A refused call that waited its Retry-After is not sent behind the run's backlog again.
    async def scenario():
        limiter = ModelLimiter("m", ModelLimits(max_concurrency=1))
        started: list[str] = []

        async def call(name: str, retry: bool = False, delay: float = 0.0) -> None:
            await asyncio.sleep(delay)
            async with limiter.slot(retry=retry):
                started.append(name)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(call(f"new{i}") for i in range(4)), call("retry", retry=True, delay=0.005))
        return started

    assert asyncio.run(scenario()) == ["new0", "retry", "new1", "new2", "new3"]


def test_a_retry_that_gives_up_does_not_hold_up_the_queue():
    async def scenario():
        limiter = ModelLimiter("m", ModelLimits(max_concurrency=1, tokens_per_minute=60))
        limiter._tokens.take(1)  # the bucket is empty for a second
        started: list[str] = []

        async def call(name: str, tokens: float, retry: bool = False) -> None:
            async with limiter.slot(tokens=tokens, retry=retry):
                started.append(name)

        # The retry waits for tokens; the new call needs none but lets the retry go first.
        retry = asyncio.create_task(call("retry", tokens=1, retry=True))
        queued = asyncio.create_task(call("queued", tokens=0))
        await asyncio.sleep(0.01)
        assert started == []
        retry.cancel()  # the run ends it (a deadline, a cancelled run) while it waits
        await asyncio.wait_for(queued, timeout=0.5)  # nothing is in flight to wake it otherwise
        return started

    assert asyncio.run(scenario()) == ["queued"]
