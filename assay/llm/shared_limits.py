"""Provider limits shared by every worker: leases and a request rate kept in Redis.

One run's engine limits its own requests (`limits.py`, `http_gate.py`). On the team stack many
runs, on several Celery workers and machines, call the same provider at once, and the
provider's limit is theirs together: N workers must never have more requests at a provider
than `judge.provider_max_concurrency`, nor send more than `provider_requests_per_minute`.

The design, for each model (litellm model string):

- concurrency: a sorted set of leases in Redis, `assay:provider:<model>:leases`, each member a
  request's random id scored by the time its lease ends (Redis's own clock: the workers' clocks
  never matter). Taking a lease is one Lua script, atomic in Redis: drop the leases that have
  ended, and add this one if fewer than the limit are left. A lease ends when its request is
  answered (released) or, if the worker died holding it (`kill -9`, a lost machine), when its
  time runs out: the request's timeout plus a margin, so a live request never outlives its
  lease. Nothing a dead worker held stays taken for longer than that;
- waiting: a release publishes on `assay:provider:<model>:freed` when some process is waiting
  (`...:waiting` counts them: under the limit nobody waits and a release is one ZREM); in each
  process one waiter (the head of a local FIFO) retries on that signal, and every `POLL_S` at
  the latest (a lease that ran out is noticed by the next try). A release wakes one retry per
  waiting process, not one per waiting request;
- requests per minute: GCRA (a token bucket kept as one "theoretical arrival time" in Redis):
  one script says whether a request may start now or how long to wait. Its burst is one
  second's worth, as the per-run bucket's.

The lease is held around the HTTP exchange only (`http_gate.at_the_provider`), after the run's
own gate: a lease is never held by a request still waiting for its run's place.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

POLL_S = 0.2
"""Longest a waiting process goes without retrying (a lease of a dead worker runs out
silently: no release is published for it)."""
LEASE_MARGIN_S = 10.0
"""Added to a request's timeout for its lease: the timeout ends the request first."""
KEY_PREFIX = "assay:provider"

_TAKE_LEASE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""

_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('PUBLISH', KEYS[3], '1') end
return 1
"""

_TAKE_RATE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval_ms = tonumber(ARGV[1])
local tolerance_ms = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_ms)
if tat < now_ms then tat = now_ms end
local wait_ms = tat - now_ms - tolerance_ms
if wait_ms > 0 then return tostring(wait_ms) end
redis.call('SET', KEYS[1], tostring(tat + interval_ms), 'PX', math.ceil(tat - now_ms + interval_ms + 60000))
return '0'
"""


@dataclass(frozen=True)
class SharedLimit:
    """One model's limits across every worker, and where they are kept."""

    redis_url: str
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    lease_s: float = 30.0 + LEASE_MARGIN_S


class SharedProviderLimits:
    """This process's client of the shared limits at one Redis (bound to one event loop)."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self._client = None
        self._listener: asyncio.Task | None = None
        self._pubsub = None
        self._freed: dict[str, asyncio.Event] = {}
        self._heads: dict[str, asyncio.Lock] = {}
        self.waits = 0
        """Times a request found every lease taken (and waited): how often the shared limit bit."""

    async def start(self) -> SharedProviderLimits:
        import redis.asyncio as redis

        if self._client is None:
            self._client = redis.from_url(self.redis_url)
            self._take_lease = self._client.register_script(_TAKE_LEASE)
            self._take_rate = self._client.register_script(_TAKE_RATE)
            self._release = self._client.register_script(_RELEASE)
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.psubscribe(f"{KEY_PREFIX}:*:freed")
            self._listener = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message.get("type") == "pmessage":
                model = message["channel"].decode()[len(KEY_PREFIX) + 1 : -len(":freed")]
                event = self._freed.get(model)
                if event is not None:
                    event.set()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):  # noqa: S110 (closing: nothing to report)
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._client = self._listener = self._pubsub = None

    async def acquire(self, model: str, limit: SharedLimit) -> str | None:
        """Wait for the model's rate and for one of its leases; the lease's id (None: no
        concurrency limit) goes back to `release`."""
        if limit.requests_per_minute:
            await self._wait_for_rate(model, limit.requests_per_minute)
        if not limit.max_concurrency:
            return None
        lease = uuid.uuid4().hex
        key, lease_ms = f"{KEY_PREFIX}:{model}:leases", int(limit.lease_s * 1000)
        if await self._take_lease(keys=[key], args=[limit.max_concurrency, lease_ms, lease]):
            return lease
        self.waits += 1
        freed = self._freed.setdefault(model, asyncio.Event())
        waiting = f"{KEY_PREFIX}:{model}:waiting"
        async with self._heads.setdefault(model, asyncio.Lock()):  # one retry per process per release
            await self._client.pipeline(transaction=False).incr(waiting).expire(waiting, 3600).execute()
            try:
                while True:
                    freed.clear()
                    if await self._take_lease(keys=[key], args=[limit.max_concurrency, lease_ms, lease]):
                        return lease
                    try:
                        await asyncio.wait_for(freed.wait(), timeout=POLL_S)
                    except TimeoutError:
                        pass
            finally:
                await self._client.decr(waiting)

    async def release(self, model: str, lease: str | None) -> None:
        if lease is None:
            return
        keys = [f"{KEY_PREFIX}:{model}:{name}" for name in ("leases", "waiting", "freed")]
        await self._release(keys=keys, args=[lease])

    async def _wait_for_rate(self, model: str, per_minute: float) -> None:
        interval_ms = 60_000.0 / per_minute
        capacity = max(1.0, per_minute / 60.0)  # one second's worth, as the per-run bucket
        tolerance_ms = (capacity - 1.0) * interval_ms
        key = f"{KEY_PREFIX}:{model}:rate"
        while True:
            wait_ms = float(await self._take_rate(keys=[key], args=[interval_ms, tolerance_ms]))
            if wait_ms <= 0:
                return
            await asyncio.sleep(wait_ms / 1000)
