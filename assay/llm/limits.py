"""How fast the engine may call one model: adaptive concurrency, request and token rates.

One `ModelLimiter` per litellm model string (provider/model), shared by every request of a
run to that model:

- concurrency is adaptive (AIMD): halved when the provider says it is overloaded (429, 503,
  529), +1 per success up to the configured maximum. Overload is a share, not one reply: the
  limit is cut when more than `overload_threshold` of the last `4 x max_concurrency` replies
  (at least 20) were overloads. A provider that refuses a few calls at random (a 429 now and
  then, each retried after its `Retry-After`) is not a provider the run floods: halving on
  each such reply would idle half the slots for nothing (5% random 429s kept a 32-slot run
  near 24 on average). A real overload refuses a large share and is cut within a window.
  Only a call started after the last cut can cut again, and the count starts afresh at a
  cut, so one burst of 429s from calls that were all in flight together counts as one
  signal (TCP's one-decrease-per-window rule), not a collapse to 1;
- rate-limit headers saying nothing is left (`x-ratelimit-remaining-requests: 0` and its
  reset time) pause new starts to that model until the reset. A `Retry-After` on a 429 holds
  back the retry of that call (see the engine): pausing the whole model on every 429 would
  idle it for a second each time one call of hundreds is refused;
- requests-per-minute and tokens-per-minute are token buckets refilled continuously.

Waiting for a slot never holds one: a call that backs off before its retry releases its
slot, so the other calls keep the provider busy.

The concurrency limit counts requests at the provider. With `prepare_ahead` (the engine's
transports gate each HTTP request, see `http_gate.py`), `slot` admits
`PREPARE_AHEAD_SHARE` more calls than the limit: they build their requests while the
limit's requests are out, and the gate holds each at the door until a place frees.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

PREPARE_AHEAD_SHARE = 0.25
"""Calls admitted beyond the concurrency limit, as a share of it (rounded up): enough to
cover litellm's few ms of work per call before and after the HTTP exchange (32 slots at 200
ms: 0.878 of the ideal rate holding the slot for the whole attempt, 0.928 with 8, 16 or 32
calls prepared ahead; bench/judge.py)."""
OVERLOAD_WINDOW_MIN = 20
"""Replies the overload share is taken over, at least (the window is 4 x max_concurrency)."""
DEFAULT_OVERLOAD_THRESHOLD = 0.1


class DeadlineReached(Exception):
    """The run's deadline passed while a call was waiting for its turn."""


@dataclass(frozen=True)
class ModelLimits:
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


class TokenBucket:
    """`rate_per_s` tokens per second, at most `capacity` saved up.

    A request larger than the capacity is let through when the bucket is full (and leaves it
    in debt), so one big prompt cannot wait forever under a small limit.
    """

    def __init__(self, per_minute: float, *, clock=time.monotonic):
        self.rate_per_s = per_minute / 60.0
        # One second's worth, at least 1: smooths a run's start instead of a minute-sized burst.
        self.capacity = max(1.0, self.rate_per_s)
        self.level = self.capacity
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` can be taken (0: now)."""
        self._refill()
        needed = min(amount, self.capacity)
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate_per_s

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount

    def give_back(self, amount: float) -> None:
        """Return what was over-reserved (the estimate exceeded the real token count)."""
        self.level = min(self.capacity, self.level + amount)


class ModelLimiter:
    def __init__(
        self,
        model: str,
        limits: ModelLimits,
        *,
        overload_threshold: float = DEFAULT_OVERLOAD_THRESHOLD,
        prepare_ahead: bool = False,
        clock=time.monotonic,
    ):
        self.model = model
        self.max_concurrency = limits.max_concurrency
        self.concurrency_limit = float(limits.max_concurrency)
        """The current adaptive limit (float: grows by +1 per success, cut by half)."""
        self.lowest_concurrency_limit = self.concurrency_limit
        self.in_flight = 0
        """Calls holding a slot (admitted: preparing, at the provider or reading the reply)."""
        self.prepare_ahead = prepare_ahead
        self.paused_until = 0.0
        self.overload_cuts = 0
        self._clock = clock
        self._cut_at = -1.0
        """When the limit was last cut: only calls started after it may cut again."""
        self.overload_threshold = overload_threshold
        self._recent: deque[bool] = deque(maxlen=max(OVERLOAD_WINDOW_MIN, 4 * limits.max_concurrency))
        """The latest replies since the last cut: True for an overload, False for a success."""
        self._requests = TokenBucket(limits.requests_per_minute, clock=clock) if limits.requests_per_minute else None
        self._tokens = TokenBucket(limits.tokens_per_minute, clock=clock) if limits.tokens_per_minute else None
        self.bind_to_loop()

    def bind_to_loop(self) -> None:
        """New waiting primitives for the running event loop (each `LLMEngine.run` has its own)."""
        self._head = asyncio.Lock()
        self._retry_head = asyncio.Lock()
        self._retries_waiting = 0
        self._freed = asyncio.Event()

    @property
    def has_token_limit(self) -> bool:
        return self._tokens is not None

    def _wait_s(self, tokens: float) -> float | None:
        """Seconds to wait before starting (0: start now); None: wait for a slot to free up."""
        now = self._clock()
        if now < self.paused_until:
            return self.paused_until - now
        if self.in_flight >= self.admission_limit:
            return None
        wait = 0.0
        if self._requests is not None:
            wait = max(wait, self._requests.wait_s(1))
        if self._tokens is not None and tokens:
            wait = max(wait, self._tokens.wait_s(tokens))
        return wait

    @asynccontextmanager
    async def slot(
        self, *, tokens: float = 0.0, deadline: float | None = None, retry: bool = False
    ) -> AsyncIterator[float]:
        """Hold one call's slot; yields the start time (pass it to `on_overload`).

        Waiters queue on a FIFO lock and only the one at its head watches for a free slot: a
        run of thousands of queued calls costs one wake-up per freed slot, not thousands.
        Retries have their own queue, served first: a call that has waited its `Retry-After`
        does not go behind the run's whole backlog again. Otherwise every refused call of a
        run is retried at its end, and the refusals among those retries leave the run
        waiting one more `Retry-After` with its slots idle.
        """
        if retry:
            self._retries_waiting += 1
        try:
            async with self._retry_head if retry else self._head:
                await self._wait_for_a_slot(tokens, deadline, retry)
        finally:
            if retry:
                self._retries_waiting -= 1
                if not self._retries_waiting:  # the other queue's head may start now
                    self._freed.set()
        started = self._clock()
        try:
            yield started
        finally:
            self.in_flight -= 1
            self._freed.set()

    async def _wait_for_a_slot(self, tokens: float, deadline: float | None, retry: bool) -> None:
        """Wait until this call may start, then take its slot (and its request and tokens)."""
        while True:
            wait = self._wait_s(tokens)
            if wait == 0.0:
                if retry or not self._retries_waiting:
                    break
                wait = None  # a free slot, but a retry is waiting for it
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    raise DeadlineReached()
                wait = left if wait is None else min(wait, left)
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), timeout=wait)
            except TimeoutError:
                pass
        self.in_flight += 1
        if self._requests is not None:
            self._requests.take(1)
        if self._tokens is not None and tokens:
            self._tokens.take(tokens)

    @property
    def http_limit(self) -> int:
        """Requests this model may have at the provider at once: the current adaptive limit."""
        return int(self.concurrency_limit)

    @property
    def admission_limit(self) -> int:
        """Calls that may hold a slot at once (see `PREPARE_AHEAD_SHARE`)."""
        limit = self.http_limit
        return limit + math.ceil(limit * PREPARE_AHEAD_SHARE) if self.prepare_ahead else limit

    def settle_tokens(self, reserved: float, used: float) -> None:
        """Replace a call's token reservation by what it used."""
        if self._tokens is not None and reserved > used:
            self._tokens.give_back(reserved - used)

    @property
    def overload_share(self) -> float:
        """Overloads among the window's replies, over the whole window's length."""
        return sum(self._recent) / self._recent.maxlen

    def on_success(self) -> None:
        self._recent.append(False)
        self.concurrency_limit = min(float(self.max_concurrency), self.concurrency_limit + 1.0)

    def on_overload(self, started: float) -> None:
        self._recent.append(True)
        if started > self._cut_at and self.overload_share > self.overload_threshold:
            self.concurrency_limit = max(1.0, self.concurrency_limit / 2)
            self.lowest_concurrency_limit = min(self.lowest_concurrency_limit, self.concurrency_limit)
            self._cut_at = self._clock()
            self.overload_cuts += 1
            self._recent.clear()

    def pause(self, seconds: float) -> None:
        """No new call to this model for `seconds` (the provider said when to come back)."""
        self.paused_until = max(self.paused_until, self._clock() + seconds)
