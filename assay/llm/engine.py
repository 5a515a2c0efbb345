"""The LLM engine: every LLM call assay makes (judging, candidate replay) goes through here.

Over `litellm.acompletion`, per request:

1. the cache: a request seen before (same namespace, model, messages, params) is answered from
   it and costs nothing;
2. the run deadline: past it, what is left is `skipped` with reason `deadline`;
3. the model's limiter (`limits.py`): adaptive concurrency (AIMD on 429/overload), requests
   and tokens per minute, pauses from rate-limit headers. The concurrency is counted at the
   provider: the transport holds each HTTP request at the model's gate (`http_gate.py`),
   and the limiter admits a few calls ahead so their requests are built meanwhile;
4. the budget (`budget.py`): the call's upper cost is reserved against the run's and the day's
   limit; what does not fit is `skipped` with reason `budget`;
5. the attempt (`transport.py`, in this process or in worker processes), with a timeout;
   retryable errors (429, 5xx, timeouts, connection) are retried with full-jitter exponential
   backoff, never sooner than the provider's `Retry-After`; other errors fail at once.

Every request ends as exactly one `LLMResult` whose status is `completed`, `error` (tried and
failed, with its stable type from `assay.outcomes`: auth, not_found, timeout, server_error...)
or `skipped` (not tried, with the reason): nothing is dropped. Every result carries its
accounting: tokens, cost (None when no price is known: never a made-up $0), latency (for a
failure, the time spent before giving up), attempts, cache hit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from assay.llm.budget import Budget, DailySpendLedger, RedisSpendLedger
from assay.llm.cache import ResponseCache
from assay.llm.event_loops import run_to_end
from assay.llm.limits import DEFAULT_OVERLOAD_THRESHOLD, DeadlineReached, ModelLimiter, ModelLimits
from assay.llm.providers import ensure_providers
from assay.llm.shared_limits import SharedLimit
from assay.llm.transport import CallOutcome, InProcessTransport, WorkerPoolTransport
from assay.outcomes import UNKNOWN_ERROR, classify_error

DEFAULT_MAX_OUTPUT_TOKENS = 512
SKIP_BUDGET = "budget"
SKIP_DEADLINE = "deadline"
BATCH_PENDING = "batch_pending"
"""Not a score reason: a request whose provider batch is still open (`LLMEngine.batch`). A run
that meets one does not write its partition; the batch sensor re-runs it when collected."""


@dataclass
class LLMRequest:
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    """Extra litellm arguments (temperature, max_tokens, tools, api_base...)."""
    cache_namespace: str = ""
    """What the answer is for (evaluator + version, or candidate id): part of the cache key."""

    @property
    def key(self) -> str:
        # api_key is how to reach the provider, not what is asked: it stays out of the key
        # (and so out of the cache files).
        params = {k: v for k, v in self.params.items() if k != "api_key"}
        payload = json.dumps([self.cache_namespace, self.model, self.messages, params], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def max_output_tokens(self) -> int:
        return int(self.params.get("max_tokens") or DEFAULT_MAX_OUTPUT_TOKENS)


@dataclass
class LLMResult:
    status: Literal["completed", "error", "skipped"]
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = 0.0
    """What the call costs at the provider's price (for a cache hit: what the original cost);
    None when no price is known for the model (`pricing:` in assay.yaml adds one)."""
    latency_ms: float | None = None
    """Wall-clock time of the successful attempt (of the original call, for a cache hit). For
    an `error`: the time spent before giving up, every attempt and the pauses between them
    (a failure took at least that long, so it is never left out of a latency)."""
    attempts: int = 0
    is_cache_hit: bool = False
    cached_input_tokens: int | None = None
    """Of `input_tokens`, those the provider read from its prompt cache (billed lower)."""
    cache_write_input_tokens: int | None = None
    """Of `input_tokens`, those written to the provider's prompt cache (billed higher)."""
    prompt_cache_usd: float | None = None
    """What those cached and cache-written tokens cost (part of `cost_usd`; None: no price known)."""
    error_type: str | None = None
    """For `error`: the last attempt's stable type (`assay.outcomes`: auth, timeout...). For
    `skipped`: the reason (budget, deadline)."""
    error_message: str | None = None
    """The provider's own words, prefixed with the exception class and HTTP status."""
    judge_mode: str = "sync"
    """How the call was made: `sync` (one request) or `batch` (a provider's Batch API,
    `assay.llm.batch`)."""
    cost_source: str | None = None
    """Where `cost_usd` came from (`assay.pricing`: config_price, litellm_price_map,
    litellm_batch_price_map, batch_discount, unknown); None for a call that was not made."""

    @property
    def paid_usd(self) -> float:
        """What this run paid for the call: nothing for a cache hit (0 when the price is unknown)."""
        return 0.0 if self.is_cache_hit else (self.cost_usd or 0.0)


_CACHED_FIELDS = tuple(f.name for f in fields(LLMResult))


@dataclass
class RunStats:
    """What a run's calls did, for run metadata (`as_metadata`)."""

    requests: int = 0
    completed: int = 0
    errors: int = 0
    skipped: int = 0
    skipped_budget: int = 0
    skipped_deadline: int = 0
    cache_hits: int = 0
    attempts: int = 0
    """Calls sent to a provider, retries included."""
    retries: int = 0
    overloaded: int = 0
    """Attempts answered 429/503/529."""
    timeouts: int = 0
    cost_usd: float = 0.0
    """Paid by this run (cache hits are free)."""
    estimated_cost_usd: float = 0.0
    """Upper estimate of the uncached calls before the run (0 when no budget needs it)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Of `input_tokens`, read from the providers' prompt caches."""
    cache_write_input_tokens: int = 0
    """Of `input_tokens`, written to the providers' prompt caches."""
    prompt_cache_usd: float = 0.0
    """What the cached and cache-written input tokens cost (part of `cost_usd`), where priced."""
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    concurrency_limit_lowest: int = 0
    """The lowest adaptive concurrency any model was cut to (its max if never cut)."""
    batch_submitted: int = 0
    """Batch mode: requests sent in new provider batches by this run."""
    batch_pending: int = 0
    """Batch mode: requests whose batch is still open (the partition waits for them)."""
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def as_metadata(self) -> dict[str, float | int]:
        values = asdict(self)
        values.pop("latencies_ms")
        return values

    def record(self, result: LLMResult) -> None:
        if result.status == "completed":
            self.completed += 1
            if result.is_cache_hit:
                self.cache_hits += 1
            else:
                self.cost_usd += result.cost_usd or 0.0
                self.input_tokens += result.input_tokens or 0
                self.output_tokens += result.output_tokens or 0
                self.cached_input_tokens += result.cached_input_tokens or 0
                self.cache_write_input_tokens += result.cache_write_input_tokens or 0
                self.prompt_cache_usd += result.prompt_cache_usd or 0.0
                if result.latency_ms is not None:
                    self.latencies_ms.append(result.latency_ms)
        elif result.status == "error":
            self.errors += 1
        else:
            self.skipped += 1
            self.skipped_budget += result.error_type == SKIP_BUDGET
            self.skipped_deadline += result.error_type == SKIP_DEADLINE

    def finish(self, limiters: Mapping[str, ModelLimiter]) -> None:
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            self.latency_p50_ms = ordered[(len(ordered) - 1) // 2]
            self.latency_p95_ms = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        if limiters:
            self.concurrency_limit_lowest = int(min(lim.lowest_concurrency_limit for lim in limiters.values()))


class LLMEngine:
    """One run's engine: its cache, budget, deadline and per-model limits span every `run`."""

    def __init__(
        self,
        *,
        max_concurrency: int = 8,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        budget_usd: float | None = None,
        budget_per_day_usd: float | None = None,
        spend_dir: Path | None = None,
        deadline_s: float | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        model_limits: Mapping[str, ModelLimits] | None = None,
        shared_limits: Mapping[str, SharedLimit] | None = None,
        default_shared_limit: SharedLimit | None = None,
        overload_threshold: float = DEFAULT_OVERLOAD_THRESHOLD,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        worker_processes: int = 0,
        min_calls_for_workers: int = 200,
        cache_dir: Path | None = None,
        shared_redis_url: str | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        log: Callable[[str], None] | None = None,
    ):
        self.default_limits = ModelLimits(max_concurrency, requests_per_minute, tokens_per_minute)
        self.model_limits = dict(model_limits or {})
        self.shared_limits = dict(shared_limits or {})
        """Per model: the provider's limit across every worker, kept in Redis (team stack)."""
        self.default_shared_limit = default_shared_limit
        self.overload_threshold = overload_threshold
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.deadline_s = deadline_s
        self.prices = {k: dict(v) for k, v in (prices or {}).items()}
        self.worker_processes = worker_processes
        self.min_calls_for_workers = min_calls_for_workers
        self.cache = ResponseCache(cache_dir, redis_url=shared_redis_url)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.log = log or (lambda _msg: None)
        self.stats = RunStats()
        daily = None
        if shared_redis_url:  # the team stack: workers on other machines share no folder
            daily = RedisSpendLedger(shared_redis_url, limit_usd=budget_per_day_usd)
        elif spend_dir is not None:
            daily = DailySpendLedger(spend_dir, limit_usd=budget_per_day_usd)
        elif budget_per_day_usd is not None:
            raise ValueError("judge.budget_per_day_usd needs a spend_dir to keep the day's total in")
        self.budget = Budget(run_limit_usd=budget_usd, daily=daily)
        self._limiters: dict[str, ModelLimiter] = {}
        self._deadline: float | None = None
        self._unpriced_models: set[str] = set()
        self._estimates: dict[str, tuple[int, float]] = {}
        self._sleep = asyncio.sleep
        """How the engine waits before a retry (a test records the waits instead)."""
        self._open_transport: InProcessTransport | WorkerPoolTransport | None = None
        self.batch: Any = None
        """A `assay.llm.batch.BatchJudge`: when set with `batch_scope`, `run_async` submits
        uncached requests to the provider's Batch API instead of calling it, and answers from
        what was collected (`judge.mode: batch`, a candidate's `replay_mode: batch`)."""
        self.batch_scope: str | None = None
        """The partition the requests belong to ('call_scores/day=2026-03-01')."""

    # ------------------------------------------------------------------ running

    def run(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        """Run all requests; results come back in request order."""
        # In batch mode, litellm's file and batch calls leave SDK clients to collect (see run_to_end).
        return run_to_end(self.run_async(requests), collect_garbage=self.batch is not None)

    async def run_async(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        if self.batch is not None and self.batch_scope:
            return await self._run_batch(requests)
        if self._deadline is None and self.deadline_s is not None:
            self._deadline = time.monotonic() + self.deadline_s  # the first batch starts the clock
        self.stats.requests += len(requests)
        self.budget.bind_to_loop()
        for limiter in self._limiters.values():
            limiter.bind_to_loop()
        results: list[LLMResult | None] = [None] * len(requests)
        to_call: list[int] = []
        # The same request twice in one batch (one question asked in two logged calls) is made
        # once; the repeats get its answer like a cache hit, so a batch never pays twice.
        first_of: dict[str, int] = {}
        repeats: list[tuple[int, int]] = []
        for i, request in enumerate(requests):
            key = request.key
            cached = self.cache.get(key)
            if cached is not None:
                results[i] = LLMResult(**{k: cached[k] for k in _CACHED_FIELDS if k in cached} | {"is_cache_hit": True})
                if results[i].status == "completed" and request.model in self.prices:
                    # A price added to `pricing:` after the call applies to its cached answer too.
                    results[i].cost_usd = self._priced_usd(
                        request.model, results[i].input_tokens, results[i].output_tokens,
                        results[i].cached_input_tokens, results[i].cache_write_input_tokens,
                    )
            elif key in first_of:
                repeats.append((i, first_of[key]))
            else:
                first_of[key] = i
                to_call.append(i)
        if to_call:
            if self.budget.is_limited:
                estimate = sum(self._estimate(requests[i])[1] for i in to_call)
                self.stats.estimated_cost_usd += estimate
                self.log(f"LLM calls: {len(to_call)} to make, at most ${estimate:.4f} by estimate")
            models = {requests[i].model for i in to_call}
            ensure_providers(models, self.prices)
            transport = self._open_transport or await self._start_transport(models, len(to_call))
            done = 0

            async def one(i: int) -> None:
                nonlocal done
                try:
                    results[i] = await self._run_one(requests[i], transport)
                except Exception as exc:  # a bug or a dead worker must not drop the row
                    kind = classify_error(type(exc).__name__, None, str(exc))
                    results[i] = LLMResult(
                        status="error", error_type=kind, error_message=f"{type(exc).__name__}: {exc}"[:500]
                    )
                done += 1
                if len(to_call) >= 200 and done % max(1, len(to_call) // 5) == 0:
                    self.log(f"LLM calls: {done}/{len(to_call)} done")

            try:
                await asyncio.gather(*(one(i) for i in to_call))
            finally:
                if transport is not self._open_transport:
                    await transport.close()
                self.budget.record_day()
                await asyncio.to_thread(self.cache.flush)
        for i, first in repeats:
            original = results[first]
            assert original is not None
            results[i] = replace(original, attempts=0, is_cache_hit=original.status == "completed")
        for result in results:
            assert result is not None  # every request ends as exactly one result
            self.stats.record(result)
        self.stats.finish(self._limiters)
        return results  # type: ignore[return-value]

    async def _run_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        """Batch mode: collected or cached answers; the rest submitted (once) and pending."""
        report = await self.batch.submit(self.batch_scope, requests)
        self.stats.requests += len(requests)
        self.stats.batch_submitted += report.submitted
        self.stats.batch_pending += report.pending
        pending = LLMResult(status="skipped", error_type=BATCH_PENDING,
                            error_message="its provider batch is still open", judge_mode="batch")
        results = [result if result is not None else replace(pending) for result in report.results]
        for result in results:
            if result.error_type != BATCH_PENDING:
                self.stats.record(result)
        return results

    @asynccontextmanager
    async def session(self, expected_calls: int) -> AsyncIterator[LLMEngine]:
        """Keep one transport (and its worker processes) for every `run_async` in the block:
        a judge's repair pass then reuses the workers of its first pass. Nested: the outer
        session's transport is kept."""
        if self._open_transport is not None:
            yield self
            return
        self._open_transport = await self._start_transport(set(), expected_calls)
        try:
            yield self
        finally:
            transport, self._open_transport = self._open_transport, None
            await transport.close()

    async def _start_transport(self, models: set[str], calls: int):
        if self.worker_processes > 0 and calls >= self.min_calls_for_workers:
            transport = WorkerPoolTransport(self.worker_processes, prices=self.prices)
        else:
            transport = InProcessTransport()
        await transport.start(models)
        return transport

    def _limiter(self, model: str) -> ModelLimiter:
        limiter = self._limiters.get(model)
        if limiter is None:
            limiter = self._limiters[model] = ModelLimiter(
                model,
                self.model_limits.get(model, self.default_limits),
                overload_threshold=self.overload_threshold,
                prepare_ahead=True,  # both transports gate the HTTP request (http_gate.py)
            )
        return limiter

    def _left_s(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    async def _run_one(self, request: LLMRequest, transport) -> LLMResult:
        limiter = self._limiter(request.model)
        needs_estimate = self.budget.is_limited or limiter.has_token_limit
        tokens_upper, cost_upper = self._estimate(request) if needs_estimate else (0, 0.0)
        outcome: CallOutcome | None = None
        attempts = 0
        spent_s = 0.0  # time at the provider and in backoff pauses, for a failure's latency
        for attempt in range(self.max_retries + 1):
            left = self._left_s()
            if left is not None and left <= 0:
                return self._deadline_result(attempts, outcome)
            try:
                async with limiter.slot(tokens=tokens_upper, deadline=self._deadline, retry=attempt > 0) as started:
                    if self.budget.is_limited:
                        refusal = await self.budget.reserve(cost_upper)
                        if refusal is not None:
                            return LLMResult(
                                status="skipped", attempts=attempts, error_type=SKIP_BUDGET, error_message=refusal
                            )
                    left = self._left_s()
                    timeout_s = self.timeout_s if left is None else max(0.001, min(self.timeout_s, left))
                    attempts += 1
                    self.stats.attempts += 1
                    t0 = time.perf_counter()
                    outcome = await transport.attempt(
                        request.model, request.messages, request.params, timeout_s, limiter.http_limit,
                        self.shared_limits.get(request.model, self.default_shared_limit),
                    )
                    # The provider's time and litellm's, not the wait for a place at the gate.
                    latency_ms = (time.perf_counter() - t0 - outcome.gate_wait_s) * 1000
                    spent_s += latency_ms / 1000
                    cost_usd = self._cost_usd(request.model, outcome) if outcome.ok else 0.0
                    if self.budget.is_limited:
                        # A timed-out call may still be billed: it keeps its reservation.
                        spent = (cost_usd or 0.0) if outcome.ok or outcome.error_type != "Timeout" else cost_upper
                        await self.budget.settle(cost_upper, spent)
                    used_tokens = (outcome.input_tokens or 0) + (outcome.output_tokens or 0)
                    limiter.settle_tokens(tokens_upper, used_tokens if outcome.ok else 0)
            except DeadlineReached:
                return self._deadline_result(attempts, outcome)
            self._apply_rate_limit_headers(limiter, outcome)
            if outcome.ok:
                limiter.on_success()
                result = LLMResult(
                    status="completed",
                    text=outcome.text,
                    tool_calls=outcome.tool_calls,
                    finish_reason=outcome.finish_reason,
                    input_tokens=outcome.input_tokens,
                    output_tokens=outcome.output_tokens,
                    cost_usd=cost_usd,
                    latency_ms=latency_ms,
                    attempts=attempts,
                    cached_input_tokens=outcome.cached_input_tokens,
                    cache_write_input_tokens=outcome.cache_write_input_tokens,
                    cost_source=self._cost_source(request.model, cost_usd),
                )
                result.prompt_cache_usd = self._prompt_cache_usd(request.model, result)
                self.cache.put(request.key, asdict(result) | {"is_cache_hit": False})
                return result
            if outcome.is_overload:
                self.stats.overloaded += 1
                limiter.on_overload(started)
            if outcome.error_type == "Timeout":
                self.stats.timeouts += 1
                left = self._left_s()
                if left is not None and left <= 0.001:
                    return self._deadline_result(attempts, outcome)
            if not outcome.is_retryable or attempt == self.max_retries:
                break
            self.stats.retries += 1
            pause_s = max(outcome.retry_after_s or 0.0, self._backoff_s(attempt))
            left = self._left_s()
            if left is not None and pause_s >= left:
                return self._deadline_result(attempts, outcome)
            await self._sleep(pause_s)
            spent_s += pause_s
        assert outcome is not None
        return LLMResult(
            status="error", attempts=attempts, error_type=outcome.kind or UNKNOWN_ERROR,
            error_message=failure_message(outcome), latency_ms=spent_s * 1000,
        )

    def _deadline_result(self, attempts: int, last: CallOutcome | None) -> LLMResult:
        message = f"deadline: the run's deadline (judge.deadline_s={self.deadline_s:g}) passed"
        if last is not None:
            message += f" after {attempts} attempt(s); last: {last.kind}"
        return LLMResult(status="skipped", attempts=attempts, error_type=SKIP_DEADLINE, error_message=message)

    def _backoff_s(self, attempt: int) -> float:
        # Full jitter: spreads retries of many concurrent calls that failed together.
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2**attempt)))

    def _apply_rate_limit_headers(self, limiter: ModelLimiter, outcome: CallOutcome) -> None:
        pause_s = pause_from_rate_limit_headers(outcome.rate_limit_headers)
        if pause_s:
            limiter.pause(pause_s)

    # ------------------------------------------------------------------ money and tokens

    def _price(self, model: str) -> tuple[float, float] | None:
        from assay.pricing import price_per_token

        found = price_per_token(model, self.prices)
        return found[0] if found else None

    def _cost_usd(self, model: str, outcome: CallOutcome) -> float | None:
        """The call's cost; None when neither `pricing:` nor litellm's map knows the model."""
        if model in self.prices:  # the config's price wins over litellm's map
            return self._priced_usd(
                model, outcome.input_tokens, outcome.output_tokens, outcome.cached_input_tokens,
                outcome.cache_write_input_tokens,
            )
        return outcome.provider_cost_usd  # litellm prices cached and cache-written tokens itself

    def _cost_source(self, model: str, cost_usd: float | None) -> str:
        from assay.pricing import COST_FROM_CONFIG, COST_FROM_PRICE_MAP, COST_UNKNOWN

        if model in self.prices:
            return COST_FROM_CONFIG
        return COST_UNKNOWN if cost_usd is None else COST_FROM_PRICE_MAP

    def _priced_usd(
        self, model: str, input_tokens: int | None, output_tokens: int | None,
        cached_input_tokens: int | None = None, cache_write_input_tokens: int | None = None,
    ) -> float:
        """At the config's price: plain input, prompt-cache reads and writes (each at its own
        price, `cache_read_input_token_cost` / `cache_creation_input_token_cost`, else the
        input price), output."""
        price_in, price_out = self._price(model)
        cached, written = cached_input_tokens or 0, cache_write_input_tokens or 0
        plain = max(0, (input_tokens or 0) - cached - written)
        return plain * price_in + self._prompt_cache_priced(model, cached, written) + (output_tokens or 0) * price_out

    def _prompt_cache_priced(self, model: str, cached: int, written: int) -> float:
        from assay.pricing import cache_prices

        read_price, write_price = cache_prices(model, self.prices)
        return cached * read_price + written * write_price

    def _prompt_cache_usd(self, model: str, result: LLMResult) -> float | None:
        """What a result's cached and cache-written input tokens cost (0 when there are none or
        no price is known)."""
        cached, written = result.cached_input_tokens or 0, result.cache_write_input_tokens or 0
        if not (cached or written):
            return 0.0
        return self._prompt_cache_priced(model, cached, written) if self._price(model) is not None else None

    def _estimate(self, request: LLMRequest) -> tuple[int, float]:
        """(upper tokens, upper cost in USD) of one call: prompt tokens counted (litellm's
        tokenizer for the model), output at its max_tokens, at the model's price. Counted
        once per request: the pre-run estimate and the call's reservation share it."""
        key = request.key
        found = self._estimates.get(key)
        if found is None:
            input_tokens = estimate_input_tokens(request)
            price = self._price(request.model)
            if price is None:
                if request.model not in self._unpriced_models:
                    self._unpriced_models.add(request.model)
                    self.log(f"no price known for {request.model}: the budget cannot limit its calls (add it to `pricing:`)")
                cost = 0.0
            else:
                cost = input_tokens * price[0] + request.max_output_tokens * price[1]
            found = self._estimates[key] = (input_tokens + request.max_output_tokens, cost)
        return found


def failure_message(outcome: CallOutcome) -> str:
    """The provider's message, prefixed with the exception class and HTTP status it came with
    (the stable type says what it means; this says exactly what happened)."""
    message = outcome.error_message or ""
    origin = " ".join(str(p) for p in (outcome.error_type, outcome.status_code) if p)
    if origin and (outcome.error_type or "") not in message:
        message = f"{origin}: {message}"
    return message[:500]


def estimate_input_tokens(request: LLMRequest) -> int:
    import litellm

    try:
        return int(litellm.token_counter(model=request.model, messages=request.messages))
    except Exception:  # an unknown tokenizer: about 3 characters per token, rounded up
        return sum(len(str(m.get("content") or "")) for m in request.messages) // 3 + 1


def _duration_s(value: str) -> float | None:
    """OpenAI's reset durations ('1s', '6m0s', '20ms', '0.5s') or plain seconds."""
    import re

    try:
        return float(value)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in parts)


def pause_from_rate_limit_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to hold new calls when a provider says a limit is used up (remaining 0)."""
    from datetime import UTC, datetime

    pause = 0.0
    for kind in ("requests", "tokens"):
        for remaining_key, reset_key in (
            (f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}"),
            (f"anthropic-ratelimit-{kind}-remaining", f"anthropic-ratelimit-{kind}-reset"),
        ):
            if headers.get(remaining_key, "").strip() not in ("0", "0.0"):
                continue
            reset = headers.get(reset_key)
            seconds = _duration_s(reset) if reset else None
            if seconds is None and reset:
                try:  # Anthropic: an RFC 3339 time
                    seconds = (datetime.fromisoformat(reset.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()
                except ValueError:
                    seconds = None
            pause = max(pause, min(seconds if seconds is not None else 1.0, 300.0))
    return pause or None
