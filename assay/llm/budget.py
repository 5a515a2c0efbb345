"""Spending limits: per run (in memory) and per day (a small ledger file shared by processes, or
a key in Redis shared by the workers of the team stack).

A call reserves its upper cost (prompt tokens counted, output at max_tokens) before it is sent
and settles at its real cost when it ends, so the limit holds even with many calls in flight.
A call whose upper cost would not fit *next to the calls in flight* waits for them to settle
(their real cost is usually far below the reservation); only a call that would not fit even
with nothing in flight is refused. So a run stops within one call's upper cost of its budget,
never above it.

The day's total lives in `<dir>/<YYYY-MM-DD>.json`, read and written under an exclusive
`flock`, so call_scores and candidate runs in parallel processes share one daily limit.
A process that dies mid-call leaves its reservation counted: the ledger errs on the side of
spending less.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

_WAIT = "wait for the calls in flight to settle"


class DailySpendLedger:
    """The day's committed spend (settled + reserved) across every process of this ASSAY_HOME."""

    def __init__(self, directory: Path, *, limit_usd: float | None, day: str | None = None):
        self.directory = Path(directory)
        self.limit_usd = limit_usd
        self.day = day or datetime.now(UTC).date().isoformat()
        self.path = self.directory / f"{self.day}.json"

    @contextmanager
    def _locked(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(self.path.read_text(encoding="utf-8"))
                except FileNotFoundError:
                    state = {"day": self.day, "committed_usd": 0.0}
                yield state
                tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
                tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def committed_usd(self) -> float:
        try:
            return float(json.loads(self.path.read_text(encoding="utf-8"))["committed_usd"])
        except FileNotFoundError:
            return 0.0

    def try_reserve(self, amount_usd: float) -> bool:
        with self._locked() as state:
            if self.limit_usd is not None and state["committed_usd"] + amount_usd > self.limit_usd:
                return False
            state["committed_usd"] += amount_usd
            return True

    def settle(self, reserved_usd: float, spent_usd: float) -> None:
        if reserved_usd != spent_usd:
            with self._locked() as state:
                state["committed_usd"] = max(0.0, state["committed_usd"] + spent_usd - reserved_usd)


class RedisSpendLedger:
    """The day's committed spend in Redis (`assay:spend:<day>`): the same ledger as
    `DailySpendLedger` for workers on several machines (the team stack, ASSAY_REDIS_URL), which
    share no folder. A reservation is one Lua script, atomic in Redis. The key lives 8 days."""

    _RESERVE = """
local committed = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if ARGV[2] ~= '' and committed + amount > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], tostring(committed + amount), 'EX', 691200)
return 1
"""
    _SETTLE = """
local committed = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if committed < 0 then committed = 0 end
redis.call('SET', KEYS[1], tostring(committed), 'EX', 691200)
return 1
"""

    def __init__(self, redis_url: str, *, limit_usd: float | None, day: str | None = None):
        import redis

        self.limit_usd = limit_usd
        self.day = day or datetime.now(UTC).date().isoformat()
        self.key = f"assay:spend:{self.day}"
        self._client = redis.Redis.from_url(redis_url)
        self._reserve = self._client.register_script(self._RESERVE)
        self._settle = self._client.register_script(self._SETTLE)

    def committed_usd(self) -> float:
        return float(self._client.get(self.key) or 0.0)

    def try_reserve(self, amount_usd: float) -> bool:
        limit = "" if self.limit_usd is None else repr(float(self.limit_usd))
        return bool(self._reserve(keys=[self.key], args=[repr(float(amount_usd)), limit]))

    def settle(self, reserved_usd: float, spent_usd: float) -> None:
        if reserved_usd != spent_usd:
            self._settle(keys=[self.key], args=[repr(float(spent_usd - reserved_usd))])


class Budget:
    """The run's limit and (optionally) the day's, checked together for every call."""

    def __init__(self, *, run_limit_usd: float | None, daily: DailySpendLedger | RedisSpendLedger | None = None):
        self.run_limit_usd = run_limit_usd
        self.daily = daily if daily is not None and daily.limit_usd is not None else None
        self._record_daily = daily
        """Where the day's spend is recorded even without a daily limit (one write per run)."""
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.reservations = 0
        """Calls in flight holding a reservation (a count: summed floats never return to 0.0)."""
        self._unrecorded_usd = 0.0
        self.bind_to_loop()

    def bind_to_loop(self) -> None:
        """A new condition for the running event loop (each `LLMEngine.run` has its own)."""
        self._settled = asyncio.Condition()

    @property
    def is_limited(self) -> bool:
        return self.run_limit_usd is not None or self.daily is not None

    async def reserve(self, amount_usd: float) -> str | None:
        """Reserve `amount_usd`; None when done, else why not (a `budget: ...` message)."""
        async with self._settled:
            while True:
                refusal = self._refusal(amount_usd)
                if refusal is None:
                    self.reserved_usd += amount_usd
                    self.reservations += 1
                    return None
                if refusal is not _WAIT:
                    return refusal
                # It may fit once the calls in flight settle below their reservations.
                await self._settled.wait()

    def reserve_now(self, amount_usd: float) -> str | None:
        """Reserve without waiting (a Batch API submission: the whole batch is reserved before
        it is sent, and nothing of it settles until it is collected, so waiting would never
        end). What does not fit next to the reservations made is refused."""
        refusal = self._refusal(amount_usd)
        if refusal is _WAIT:
            limit = (f"judge.budget_usd=${self.run_limit_usd:.4f}" if self.run_limit_usd is not None
                     else f"judge.budget_per_day_usd=${self.daily.limit_usd:.4f}")
            refusal = (f"budget: this request's upper cost ${amount_usd:.6f} at the batch price does not fit next to "
                       f"the ${self.reserved_usd:.4f} reserved for the rest of its batch in {limit}")
        if refusal is None:
            self.reserved_usd += amount_usd
            self.reservations += 1
        return refusal

    def _refusal(self, amount_usd: float) -> str | None:
        if self.run_limit_usd is not None:
            if self.spent_usd + amount_usd > self.run_limit_usd:
                return (
                    f"budget: this call's upper cost ${amount_usd:.6f} does not fit in the run budget "
                    f"judge.budget_usd=${self.run_limit_usd:.4f} (${self.spent_usd:.4f} spent)"
                )
            if self.spent_usd + self.reserved_usd + amount_usd > self.run_limit_usd:
                return _WAIT
        if self.daily is not None and not self.daily.try_reserve(amount_usd):
            if self.reservations > 0:
                return _WAIT
            return (
                f"budget: this call's upper cost ${amount_usd:.6f} does not fit in the daily budget "
                f"judge.budget_per_day_usd=${self.daily.limit_usd:.4f} "
                f"(${self.daily.committed_usd():.4f} committed on {self.daily.day})"
            )
        return None

    async def settle(self, reserved_usd: float, spent_usd: float) -> None:
        async with self._settled:
            self.reservations -= 1
            self.reserved_usd = self.reserved_usd - reserved_usd if self.reservations else 0.0
            self.spent_usd += spent_usd
            if self.daily is not None:
                self.daily.settle(reserved_usd, spent_usd)
            else:
                self._unrecorded_usd += spent_usd
            self._settled.notify_all()

    def record_day(self) -> None:
        """Add this run's spend to the day's ledger when no daily limit kept it call by call."""
        if self._record_daily is not None and self.daily is None and self._unrecorded_usd > 0:
            self._record_daily.try_reserve(self._unrecorded_usd)
            self._unrecorded_usd = 0.0
