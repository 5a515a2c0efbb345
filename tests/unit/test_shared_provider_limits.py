"""The provider's limit holds across workers: two worker processes, each allowed 8 requests at
once by its own run, share a provider limit of 8 through Redis, and the server never sees more
than 8 at once. Without the shared limit each keeps only its own 8 (the server sees ~16).

Real pieces: redis-server on a free loopback port, the local OpenAI-compatible server (200 ms
a reply, records the most requests it had in flight), two OS processes running the engine
assay.yaml configures through litellm's HTTP path."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.llm.shared_limits import SharedLimit, SharedProviderLimits
from assay.testing.llm_server import Faults, LLMTestServer
from assay.testing.services import RedisServer
from tests.support import launcher

ROOT = Path(__file__).resolve().parents[2]
PER_RUN = 8
CALLS_PER_WORKER = 48


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server

@pytest.mark.slow  # two processes importing litellm: ~15-30 s
def test_two_workers_keep_to_one_provider_limit(tmp_path, redis):
    """Phase 1: the provider's limit shared through Redis. Phase 2 (the control, same workers
    and config, no Redis): each run keeps the limit on its own, and the server sees both."""
    with LLMTestServer(Faults(latency_s=0.2), in_subprocess=True) as server:
        config = tmp_path / "assay.yaml"
        config.write_text(
            "judge:\n"
            "  model: openai/judge\n"
            f"  max_concurrency: {PER_RUN}\n"
            "  provider_max_concurrency: 8\n"
            f"  params: {{api_base: '{server.api_base}', api_key: test}}\n"
        )
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        env = {**os.environ, "ASSAY_CONFIG": str(config), "ASSAY_HOME": str(tmp_path / "home"),
               "ASSAY_REDIS_URL": redis.url}
        workers = [
            launcher.popen([sys.executable, "-m", "tests.support.judge_burst", str(CALLS_PER_WORKER), f"w{i}",
                            str(barrier)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for i in range(2)
        ]
        try:
            while not all((barrier / f"w{i}").exists() for i in range(2)):
                assert all(w.poll() is None for w in workers), "a worker exited before its second phase"
                time.sleep(0.05)
            shared = server.stats
            (barrier / "go").touch()
            outputs = [w.communicate(timeout=120)[0] for w in workers]
        finally:
            for w in workers:
                w.kill() if w.poll() is None else None
        alone = server.stats
    assert [w.returncode for w in workers] == [0, 0], outputs
    phases = [[json.loads(line) for line in out.strip().splitlines()] for out in outputs]
    assert [p["statuses"] for worker in phases for p in worker] == [{"completed": CALLS_PER_WORKER}] * 4
    assert shared["requests"] == 2 * CALLS_PER_WORKER
    assert 6 <= shared["max_in_flight"] <= 8, shared  # one limit for both workers, and used
    assert alone["max_in_flight"] > 8, alone  # the control: without Redis the two add up


def test_a_dead_workers_leases_run_out(redis):
    """A worker killed while holding leases never releases them: they end with their time, and
    the limit is whole again."""

    async def scenario() -> tuple[bool, bool]:
        limits = await SharedProviderLimits(redis.url).start()
        try:
            limit = SharedLimit(redis.url, max_concurrency=2, lease_s=0.5)
            taken = [await limits.acquire("openai/dead", limit) for _ in range(2)]  # never released
            try:
                await asyncio.wait_for(limits.acquire("openai/dead", limit), timeout=0.2)
                blocked = False
            except TimeoutError:
                blocked = True
            lease = await asyncio.wait_for(limits.acquire("openai/dead", limit), timeout=5)
            return blocked, bool(taken[0] and lease)
        finally:
            await limits.close()

    blocked, later = asyncio.run(scenario())
    assert blocked and later


def test_requests_per_minute_are_shared(redis):
    """One rate for two clients (two workers' worth): at 60/min (one a second, no burst),
    once one client has started a request the other is told to wait, the same second."""

    async def scenario() -> tuple[float, float]:
        a, b = await SharedProviderLimits(redis.url).start(), await SharedProviderLimits(redis.url).start()
        try:
            args = [1000.0, 0.0]  # 60/min: one every 1000 ms; a burst of 1
            first = float(await a._take_rate(keys=["assay:provider:openai/rate:rate"], args=args))
            second = float(await b._take_rate(keys=["assay:provider:openai/rate:rate"], args=args))
            return first, second
        finally:
            await a.close()
            await b.close()

    first, second = asyncio.run(scenario())
    assert first == 0  # started
    assert second > 0  # the other worker waits for the shared rate


def test_the_days_budget_is_one_for_every_worker(redis):
    """Two workers' ledgers (as on two machines: no shared folder) keep one daily limit."""
    from assay.llm.budget import RedisSpendLedger

    a = RedisSpendLedger(redis.url, limit_usd=1.0, day="2026-01-02")
    b = RedisSpendLedger(redis.url, limit_usd=1.0, day="2026-01-02")
    assert a.try_reserve(0.6)
    assert not b.try_reserve(0.6)  # 1.2 would pass the day's limit
    a.settle(0.6, 0.1)  # the call cost less than its reservation
    assert b.try_reserve(0.6)
    assert round(a.committed_usd(), 6) == 0.7


def test_a_call_judged_on_one_worker_is_not_paid_again_on_another(tmp_path, redis):
    """Two workers' engines, each with its own cache folder (two machines), one Redis: what the
    first paid for, the second reads (the server answers each request once)."""
    from assay.llm.engine import LLMEngine, LLMRequest

    with LLMTestServer(Faults(latency_s=0.01)) as server:
        requests = [LLMRequest("openai/judge", [{"role": "user", "content": f"shared cache {i}"}],
                               server.completion_params()) for i in range(5)]
        first = LLMEngine(cache_dir=tmp_path / "machine-a", shared_redis_url=redis.url).run(requests)
        second = LLMEngine(cache_dir=tmp_path / "machine-b", shared_redis_url=redis.url).run(requests)
        alone = LLMEngine(cache_dir=tmp_path / "machine-c").run(requests)  # the control: no Redis
        stats = server.stats
    assert [r.is_cache_hit for r in first] == [False] * 5
    assert [r.is_cache_hit for r in second] == [True] * 5
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.is_cache_hit for r in alone] == [False] * 5
    assert stats["requests"] == 10  # the first engine's 5 and the control's 5


@pytest.mark.slow  # two LLM worker processes importing litellm
def test_the_engines_worker_processes_take_the_shared_limit_too(redis):
    """`judge.worker_processes`: each child process gets its share of the run's 8 and takes a
    lease for every request, so the run keeps to the provider's 4 over both."""
    from assay.llm.engine import LLMEngine, LLMRequest

    with LLMTestServer(Faults(latency_s=0.2), in_subprocess=True) as server:
        engine = LLMEngine(max_concurrency=8, worker_processes=2, min_calls_for_workers=1,
                           default_shared_limit=SharedLimit(redis.url, max_concurrency=4))
        results = engine.run([LLMRequest("openai/judge", [{"role": "user", "content": f"pool {i}"}],
                                         server.completion_params()) for i in range(32)])
        stats = server.stats
    assert [r.status for r in results] == ["completed"] * 32
    assert 3 <= stats["max_in_flight"] <= 4, stats


def test_a_server_subprocess_stops_on_sigterm_even_when_its_parent_ignores_it():
    """An ignored signal is inherited: a test run started with SIGTERM ignored made every
    server outlive its stop by 10 s (and then SIGKILL). The server resets SIGTERM itself."""
    import signal
    import warnings

    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server = LLMTestServer(in_subprocess=True).start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the "outlived SIGTERM" warning fails the test
        server.stop()
