"""Count a model's concurrency at the provider: the HTTP exchange, not the whole attempt.

A model's concurrency limit (`limits.py`) protects the provider: at most N of our requests
there at once. An attempt through litellm is more than its HTTP exchange, though: litellm
spends 3.5-4.5 ms building the request and 2.5-3.3 ms reading the reply (measured against
the local test server, per call, on an idle process), and in a busy process a call also waits
for the CPU. A slot held for the whole attempt leaves the provider with fewer than N requests
most of the time: at 32 slots and 200 ms latency the engine reached 0.85-0.90 of the ideal
rate.

So the engine admits a few calls more than the limit (`limits.PREPARE_AHEAD_SHARE`), and the
limit itself is enforced here, around each HTTP request: an admitted call builds its request,
waits at the gate for one of the model's N places, sends, reads the reply and leaves the
gate before litellm parses it. The provider sees at most N requests; the next request is
already built when a place frees.

litellm has no hook between building a request and sending it, but every HTTP provider it
talks to goes through `httpx.AsyncClient.send` (the openai SDK's client and litellm's own
`AsyncHTTPHandler`, on the aiohttp or the httpx transport). `install()` wraps that method once
per process. The wrapper only gates a request sent inside `gated(gate)`: the engine's
attempts; every other use of httpx in the process is passed through unchanged. A streamed
reply leaves the gate when its headers arrive (the engine does not stream). A provider that
is not HTTP enters the gate itself with `at_the_provider()` (the offline `sim/` provider does,
around its simulated latency), so its concurrency is counted the same way.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.llm.shared_limits import SharedLimit, SharedProviderLimits


class HttpGate:
    """At most `limit` requests in flight, first come first served. The limit can change at
    any time (an overload cut): it applies to the requests that have not entered yet."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.shared: SharedGate | None = None
        """The provider's limit across every worker (team stack): taken after this gate's place."""

    def set_limit(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._admit_waiters()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # entered and cancelled at once: hand the place on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._admit_waiters()

    def _admit_waiters(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


@dataclass
class SharedGate:
    """A model's limit shared with other workers (`shared_limits.py`)."""

    limits: SharedProviderLimits
    model: str
    limit: SharedLimit


@dataclass
class GatedAttempt:
    gate: HttpGate
    waited_s: float = 0.0
    """Time its requests spent waiting at the gate: not the provider's latency."""


_ATTEMPT: ContextVar[GatedAttempt | None] = ContextVar("assay_http_gate", default=None)


@contextmanager
def gated(gate: HttpGate) -> Iterator[GatedAttempt]:
    """HTTP requests sent in this block (and in the tasks it starts) pass through `gate`."""
    attempt = GatedAttempt(gate)
    token = _ATTEMPT.set(attempt)
    try:
        yield attempt
    finally:
        _ATTEMPT.reset(token)


@asynccontextmanager
async def at_the_provider() -> AsyncIterator[None]:
    """Hold a place at the current attempt's gate for the block (nothing outside `gated`)."""
    attempt = _ATTEMPT.get()
    if attempt is None:
        yield
        return
    arrived = time.perf_counter()
    gate = attempt.gate
    await gate.acquire()
    shared, lease = gate.shared, None
    try:
        if shared is not None:
            lease = await shared.limits.acquire(shared.model, shared.limit)
        attempt.waited_s += time.perf_counter() - arrived
        try:
            yield
        finally:
            if shared is not None:
                # Shielded: a timed-out request's task is cancelled, its lease must still go back
                # (if this fails the lease runs out on its own).
                await asyncio.shield(shared.limits.release(shared.model, lease))
    finally:
        gate.release()


def install() -> None:
    """Wrap `httpx.AsyncClient.send` so requests sent inside `gated` wait at their gate.
    Idempotent."""
    import httpx

    original = httpx.AsyncClient.send
    if getattr(original, "_assay_gated", False):
        return

    @functools.wraps(original)
    async def send(self, request, **kwargs):
        async with at_the_provider():
            return await original(self, request, **kwargs)  # a non-streamed body is read here

    send._assay_gated = True  # type: ignore[attr-defined]
    httpx.AsyncClient.send = send


def split_limit(limit: int, parts: int) -> list[int]:
    """`limit` places shared over `parts` holders as evenly as possible (sums to `limit`;
    with fewer places than holders, some get none)."""
    base, extra = divmod(max(0, int(limit)), parts)
    return [base + (i < extra) for i in range(parts)]
