"""The LLM engine: bounded concurrency, retries with jitter, a timeout, a cache and a budget
over `litellm.acompletion`.

Every request ends as exactly one `LLMResult` whose status is `completed`, `error` (tried and
failed, with the error type) or `skipped` (not tried, with the reason): nothing is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.llm.cache import ResponseCache

RETRYABLE_ERRORS = (
    "RateLimitError",
    "APIConnectionError",
    "APITimeoutError",
    "Timeout",
    "InternalServerError",
    "ServiceUnavailableError",
)
DEFAULT_MAX_OUTPUT_TOKENS = 512


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
        payload = json.dumps(
            [self.cache_namespace, self.model, self.messages, self.params],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class LLMResult:
    status: Literal["completed", "error", "skipped"]
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float = 0.0
    """What the call costs at the provider's price (for a cache hit: what the original cost)."""
    latency_ms: float | None = None
    """Wall-clock time of the successful attempt (of the original call, for a cache hit)."""
    attempts: int = 0
    is_cache_hit: bool = False
    error_type: str | None = None
    error_message: str | None = None

    @property
    def paid_usd(self) -> float:
        """What this run paid for the call: nothing for a cache hit."""
        return 0.0 if self.is_cache_hit else self.cost_usd


@dataclass
class RunStats:
    requests: int = 0
    completed: int = 0
    errors: int = 0
    skipped: int = 0
    cache_hits: int = 0
    retries: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def as_metadata(self) -> dict[str, float | int]:
        return asdict(self)


class LLMEngine:
    def __init__(
        self,
        *,
        max_concurrency: int = 8,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        budget_usd: float | None = None,
        cache_dir: Path | None = None,
        backoff_base_s: float = 0.5,
        log: Callable[[str], None] | None = None,
    ):
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.budget_usd = budget_usd
        self.cache = ResponseCache(cache_dir)
        self.backoff_base_s = backoff_base_s
        self.log = log or (lambda _msg: None)
        self.stats = RunStats()
        self._committed_usd = 0.0
        """Spent plus reserved by calls in flight: what the budget is checked against."""

    def run(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        """Run all requests; results come back in request order."""
        return asyncio.run(self.run_async(requests))

    async def run_async(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        from assay.llm.providers import ensure_providers

        ensure_providers({r.model for r in requests})
        semaphore = asyncio.Semaphore(self.max_concurrency)
        self.stats.requests += len(requests)
        done = 0
        total = len(requests)

        async def one(request: LLMRequest) -> LLMResult:
            nonlocal done
            async with semaphore:
                result = await self._run_one(request)
            done += 1
            if total >= 200 and done % max(1, total // 5) == 0:
                self.log(f"LLM calls: {done}/{total} done")
            return result

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _run_one(self, request: LLMRequest) -> LLMResult:
        key = request.key
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            self.stats.completed += 1
            return LLMResult(**{**cached, "is_cache_hit": True})

        estimate = estimate_cost_usd(request)
        if self.budget_usd is not None and self._committed_usd + estimate > self.budget_usd:
            self.stats.skipped += 1
            return LLMResult(
                status="skipped",
                error_type="budget",
                error_message=(
                    f"budget: estimated ${estimate:.6f} would exceed the run budget of "
                    f"${self.budget_usd:.4f} (${self._committed_usd:.4f} already committed)"
                ),
            )
        self._committed_usd += estimate
        result = await self._call_with_retries(request)
        # Replace the reservation by the real cost.
        self._committed_usd += result.cost_usd - estimate
        if result.status == "completed":
            self.stats.completed += 1
            self.stats.cost_usd += result.cost_usd
            self.stats.input_tokens += result.input_tokens or 0
            self.stats.output_tokens += result.output_tokens or 0
            self.cache.put(key, asdict(result) | {"is_cache_hit": False})
        else:
            self.stats.errors += 1
        return result

    async def _call_with_retries(self, request: LLMRequest) -> LLMResult:
        import litellm

        params = dict(request.params)
        if params.get("tools"):
            # litellm 1.106 imports its MCP gateway for any call with `tools`, and that import
            # fails without the optional `mcp` package. assay only replays recorded tool
            # schemas and never executes tools, so the gateway is skipped.
            params["_skip_mcp_handler"] = True
        last_error: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    litellm.acompletion(model=request.model, messages=request.messages, **params),
                    timeout=self.timeout_s,
                )
            except TimeoutError as exc:
                last_error = exc
            except Exception as exc:  # litellm maps provider errors to its own types
                last_error = exc
                if type(exc).__name__ not in RETRYABLE_ERRORS:
                    break
            else:
                return _to_result(response, request, started, attempts=attempt + 1)
            if attempt < self.max_retries:
                self.stats.retries += 1
                await asyncio.sleep(self._backoff_s(attempt, last_error))
        assert last_error is not None
        error_type = "Timeout" if isinstance(last_error, TimeoutError) else type(last_error).__name__
        return LLMResult(
            status="error",
            attempts=attempt + 1,
            error_type=error_type,
            error_message=_redact_error(str(last_error))[:500],
        )

    def _backoff_s(self, attempt: int, error: BaseException | None) -> float:
        retry_after = _retry_after_s(error)
        if retry_after is not None:
            return retry_after
        # Full jitter: spreads retries of many concurrent calls that failed together.
        return random.uniform(0, self.backoff_base_s * (2**attempt))


def _retry_after_s(error: BaseException | None) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or getattr(error, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return min(float(value), 60.0) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _redact_error(message: str) -> str:
    """Provider errors sometimes echo the key; keep them out of scores and logs."""
    from evaluators.safety import redact

    return redact(message)


def _to_result(response: Any, request: LLMRequest, started: float, *, attempts: int) -> LLMResult:
    import litellm

    latency_ms = (time.perf_counter() - started) * 1000
    choice = response.choices[0]
    message = choice.message
    tool_calls = None
    if getattr(message, "tool_calls", None):
        tool_calls = [
            {"name": tc.function.name, "arguments": _json_or_text(tc.function.arguments)}
            for tc in message.tool_calls
        ]
    usage = getattr(response, "usage", None)
    try:
        cost_usd = float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # no price known for this model: cost unknown, not a failed call
        cost_usd = 0.0
    return LLMResult(
        status="completed",
        text=message.content,
        tool_calls=tool_calls,
        finish_reason=choice.finish_reason,
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        attempts=attempts,
    )


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def estimate_cost_usd(request: LLMRequest) -> float:
    """Upper estimate of one call: prompt tokens counted, output at its max_tokens."""
    import litellm

    try:
        input_tokens = litellm.token_counter(model=request.model, messages=request.messages)
    except Exception:
        input_tokens = sum(len(str(m.get("content") or "")) for m in request.messages) // 3
    output_tokens = int(request.params.get("max_tokens") or DEFAULT_MAX_OUTPUT_TOKENS)
    try:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=request.model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
    except Exception:  # unknown price: nothing to reserve against the budget
        return 0.0
    return float(prompt_usd + completion_usd)
