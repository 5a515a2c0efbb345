"""The HTTP gate (`assay.llm.http_gate`): a model's concurrency limit counted at the provider."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from assay.llm.http_gate import HttpGate, gated, install, split_limit
from assay.testing.llm_server import Faults, LLMTestServer


def test_the_gate_holds_its_limit_first_come_first_served():
    async def scenario():
        gate = HttpGate(2)
        order: list[int] = []
        peak = 0

        async def one(i: int) -> None:
            nonlocal peak
            await gate.acquire()
            order.append(i)
            peak = max(peak, gate.in_flight)
            await asyncio.sleep(0.01)
            gate.release()

        await asyncio.gather(*(one(i) for i in range(8)))
        return gate, order, peak

    gate, order, peak = asyncio.run(scenario())
    assert peak == 2 and gate.in_flight == 0
    assert order == list(range(8))


def test_a_cut_applies_to_the_next_requests_and_a_raise_lets_waiters_in():
    async def scenario():
        gate = HttpGate(4)
        for _ in range(4):
            await gate.acquire()
        gate.set_limit(2)
        waiter = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        gate.release()
        gate.release()
        await asyncio.sleep(0)
        assert not waiter.done()  # 2 still in flight: at the new limit
        gate.set_limit(3)
        await asyncio.sleep(0)
        assert waiter.done() and gate.in_flight == 3

    asyncio.run(scenario())


def test_a_cancelled_waiter_takes_no_place():
    async def scenario():
        gate = HttpGate(1)
        await gate.acquire()
        waiter = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        gate.release()
        assert gate.in_flight == 0
        await asyncio.wait_for(gate.acquire(), timeout=1)  # the place is free again
        assert gate.in_flight == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(("limit", "parts", "shares"), [(32, 4, [8, 8, 8, 8]), (5, 4, [2, 1, 1, 1]), (1, 3, [1, 0, 0])])
def test_a_limit_is_split_over_workers_without_exceeding_it(limit, parts, shares):
    assert split_limit(limit, parts) == shares


def test_httpx_requests_wait_at_the_gate_only_inside_gated():
    install()
    install()  # idempotent: one wrapper, not two
    with LLMTestServer(Faults(latency_s=0.05)) as server:
        url = f"{server.api_base}/chat/completions"
        body = {"model": "judge-test", "messages": [{"role": "user", "content": "q"}]}

        async def flood(gate: HttpGate | None) -> list[float | int]:
            async with httpx.AsyncClient() as client:

                async def one() -> float | int:  # the wait at the gate, or the status outside it
                    if gate is None:
                        return (await client.post(url, json=body)).status_code
                    with gated(gate) as attempt:
                        assert (await client.post(url, json=body)).status_code == 200
                        return attempt.waited_s

                return await asyncio.gather(*(one() for _ in range(12)))

        waits = asyncio.run(flood(HttpGate(3)))
        gated_peak = server.stats["max_in_flight"]
    assert gated_peak == 3
    assert max(waits) >= 0.1  # the last of 12 waited three rounds of 50 ms
    with LLMTestServer(Faults(latency_s=0.05)) as server:
        url = f"{server.api_base}/chat/completions"
        assert asyncio.run(flood(None)) == [200] * 12
        assert server.stats["max_in_flight"] == 12  # outside `gated`: untouched


def test_the_offline_sim_provider_is_counted_at_the_gate_like_http(monkeypatch):
    # The engine admits 3 calls for a limit of 2; the sim provider holds the third at the gate.
    import types

    import assay.sim.provider as sim
    from assay.llm.engine import LLMEngine, LLMRequest

    monkeypatch.setenv("ASSAY_SIM_LATENCY_SCALE", "1")
    at_provider = peak = 0

    async def counted_sleep(seconds: float) -> None:
        nonlocal at_provider, peak
        at_provider += 1
        peak = max(peak, at_provider)
        await asyncio.sleep(0.02)
        at_provider -= 1

    monkeypatch.setattr(sim, "asyncio", types.SimpleNamespace(sleep=counted_sleep))
    requests = [LLMRequest("sim/support-v2", [{"role": "user", "content": f"q{i}"}], {"max_tokens": 16}) for i in range(12)]
    results = LLMEngine(max_concurrency=2).run(requests)
    assert [r.status for r in results] == ["completed"] * 12
    assert peak == 2
