"""How one attempt of one call reaches `litellm.acompletion`, and what comes back.

The engine decides (what to call, when, how often); a transport only performs one attempt
and reports a `CallOutcome`: plain data, the same whether the call ran in this process or in
a worker process. Provider errors are mapped here, once, to what the engine needs: the
error's type, HTTP status, `Retry-After` and the rate-limit headers.

Two transports:
- `InProcessTransport`: `litellm.acompletion` on this event loop.
- `WorkerPoolTransport`: N child processes (`python -m assay.llm.worker`), each with its own
  event loop over litellm, fed over pipes. litellm costs 6-9 ms of CPU per call (measured
  against the local test server: building its logging object, the openai SDK's request
  transform, cost lookups); one process at concurrency 32 and 200 ms latency then spends most
  of its time on the CPU and calls queue behind each other. Spreading the calls over processes
  uses the other cores; the engine's policy (cache, budget, limits, retries) stays in the
  parent, so it is one policy whatever the number of workers.

Both enforce the model's concurrency limit (`http_limit`, given with each attempt) around the
HTTP exchange itself (`http_gate.py`): in this process with one gate per model; over workers
by giving each worker its share of the limit for its own gate (the shares sum to the limit),
and each call to the worker with the most room in its share.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from assay.llm.http_gate import HttpGate, SharedGate, gated, install, split_limit
from assay.llm.shared_limits import SharedLimit, SharedProviderLimits
from assay.outcomes import RETRYABLE_TYPES, classify_error

OVERLOAD_STATUS = frozenset({429, 503, 529})
"""The provider says: too much. Counted in the model's overload share (`limits.py`)."""
OVERLOAD_ERROR_TYPES = frozenset({"RateLimitError", "ServiceUnavailableError"})

# litellm 1.106 prefixes provider headers with `llm_provider-` in `_hidden_params`; the
# exception's `.response` is a synthetic httpx.Response with no headers: the real ones are in
# `exc.litellm_response_headers`.
_HEADER_PREFIX = "llm_provider-"


@dataclass
class CallOutcome:
    ok: bool
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    provider_cost_usd: float | None = None
    """What litellm priced the call at (its price map / registered models); None if unknown."""
    cached_input_tokens: int | None = None
    """Input tokens the provider read from its prompt cache (part of `input_tokens`): OpenAI's
    `prompt_tokens_details.cached_tokens`, Anthropic's `cache_read_input_tokens` via litellm."""
    cache_write_input_tokens: int | None = None
    """Input tokens written to the provider's prompt cache (Anthropic's
    `cache_creation_input_tokens`; part of `input_tokens`, priced above plain input)."""
    error_type: str | None = None
    error_message: str | None = None
    status_code: int | None = None
    retry_after_s: float | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    gate_wait_s: float = 0.0
    """Time the attempt waited for a place at the model's HTTP gate (not the provider's)."""

    @property
    def kind(self) -> str | None:
        """The failure's stable type (`assay.outcomes`); None for a success."""
        return None if self.ok else classify_error(self.error_type, self.status_code, self.error_message)

    @property
    def is_retryable(self) -> bool:
        # By what the failure means, not by its class: litellm raises a missing API key as an
        # InternalServerError (500) before sending anything, and retrying that never helps.
        return not self.ok and self.kind in RETRYABLE_TYPES

    @property
    def is_overload(self) -> bool:
        return not self.ok and (self.error_type in OVERLOAD_ERROR_TYPES or self.status_code in OVERLOAD_STATUS)


def _rate_headers(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    kept = {}
    for key, value in dict(headers).items():
        name = str(key).lower().removeprefix(_HEADER_PREFIX)
        if "ratelimit" in name or name == "retry-after":
            kept[name] = str(value)
    return kept


def parse_retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), capped at 5 minutes."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 300.0)


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def outcome_from_response(response: Any) -> CallOutcome:
    choice = response.choices[0]
    message = choice.message
    tool_calls = None
    if getattr(message, "tool_calls", None):
        tool_calls = [
            {"name": tc.function.name, "arguments": _json_or_text(tc.function.arguments)} for tc in message.tool_calls
        ]
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    cached, written = prompt_cache_tokens(usage)
    return CallOutcome(
        ok=True,
        text=message.content,
        tool_calls=tool_calls,
        finish_reason=choice.finish_reason,
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        provider_cost_usd=float(cost) if cost is not None else None,
        cached_input_tokens=cached,
        cache_write_input_tokens=written,
        rate_limit_headers=_rate_headers(hidden.get("additional_headers")),
    )


def prompt_cache_tokens(usage: Any) -> tuple[int | None, int | None]:
    """(tokens read from the provider's prompt cache, tokens written to it) as litellm reports
    them: OpenAI's `prompt_tokens_details.cached_tokens`; Anthropic's `cache_read_input_tokens`
    and `cache_creation_input_tokens`. None when the provider says nothing."""
    if usage is None:
        return None, None
    details = getattr(usage, "prompt_tokens_details", None)
    if isinstance(details, dict):
        from_details = details.get("cached_tokens")
    else:
        from_details = getattr(details, "cached_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    found = [int(v) for v in (from_details, read) if isinstance(v, int | float)]
    return (max(found) if found else None), (int(written) if isinstance(written, int | float) else None)


def outcome_from_exception(exc: BaseException) -> CallOutcome:
    headers = _rate_headers(
        getattr(exc, "litellm_response_headers", None)
        or getattr(exc, "headers", None)
        or getattr(getattr(exc, "response", None), "headers", None)
    )
    status = getattr(exc, "status_code", None)
    error_type = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    return CallOutcome(
        ok=False,
        error_type=error_type,
        error_message=_redact_error(str(exc) or error_type)[:500],
        status_code=status if isinstance(status, int) else None,
        retry_after_s=parse_retry_after_s(headers.get("retry-after")),
        rate_limit_headers=headers,
    )


def _redact_error(message: str) -> str:
    """Provider errors sometimes echo the key; keep them out of scores and logs."""
    from assay.privacy.pii import redact

    return redact(message)


def completion_kwargs(model: str, messages: list[dict[str, Any]], params: dict[str, Any], timeout_s: float) -> dict:
    kwargs = {"model": model, "messages": messages, **params}
    if params.get("tools"):
        # litellm 1.106 imports its MCP gateway for any call with `tools`, and that import
        # fails without the optional `mcp` package. assay only replays recorded tool
        # schemas and never executes tools, so the gateway is skipped.
        kwargs["_skip_mcp_handler"] = True
    # The engine retries (and counts) every attempt; the openai SDK under litellm would
    # otherwise retry 429s and 5xx twice more on its own, invisibly.
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", timeout_s)
    return kwargs


async def attempt_in_this_process(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any], timeout_s: float, gate: HttpGate
) -> CallOutcome:
    """One attempt; its HTTP request waits at `gate` (the timeout includes that wait)."""
    import litellm

    with gated(gate) as attempt:
        try:
            response = await asyncio.wait_for(
                litellm.acompletion(**completion_kwargs(model, messages, params, timeout_s)), timeout=timeout_s
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # litellm maps provider errors to its own types
            outcome = outcome_from_exception(exc)
        else:
            outcome = outcome_from_response(response)
    outcome.gate_wait_s = attempt.waited_s
    return outcome


def model_gate(
    gates: dict[str, HttpGate], model: str, limit: int, shared: tuple[SharedProviderLimits, SharedLimit] | None = None
) -> HttpGate:
    """The gate of `model`, set to `limit` (and to the provider's limit across workers, if any)."""
    gate = gates.get(model)
    if gate is None:
        gate = gates[model] = HttpGate(limit)
    elif gate.limit != limit:
        gate.set_limit(limit)
    if shared is not None and (gate.shared is None or gate.shared.limit != shared[1]):
        gate.shared = SharedGate(shared[0], model, shared[1])
    return gate


class SharedLimitClients:
    """This process's clients of the shared provider limits, one per Redis URL (started on the
    running event loop; closed with the transport)."""

    def __init__(self) -> None:
        self._clients: dict[str, SharedProviderLimits] = {}

    async def for_limit(self, limit: SharedLimit | None) -> tuple[SharedProviderLimits, SharedLimit] | None:
        if limit is None:
            return None
        client = self._clients.get(limit.redis_url)
        if client is None:
            client = self._clients[limit.redis_url] = await SharedProviderLimits(limit.redis_url).start()
        return client, limit

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


class InProcessTransport:
    workers = 0

    def __init__(self) -> None:
        self._gates: dict[str, HttpGate] = {}
        self._shared = SharedLimitClients()

    async def start(self, models: set[str]) -> None:
        """The engine has made litellm ready for `models` (`ensure_providers`) already."""
        import litellm

        # Without it litellm prints a "Give Feedback / Get Help" banner for every failed call.
        litellm.suppress_debug_info = True
        install()

    async def attempt(
        self, model, messages, params, timeout_s: float, http_limit: int, shared: SharedLimit | None = None
    ) -> CallOutcome:
        gate = model_gate(self._gates, model, http_limit, await self._shared.for_limit(shared))
        return await attempt_in_this_process(model, messages, params, timeout_s, gate)

    async def close(self) -> None:
        await self._shared.close()


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.pending: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.pending_by_model: dict[str, int] = {}


class WorkerPoolTransport:
    """Attempts spread over `workers` child processes (the least busy one gets the next)."""

    def __init__(self, workers: int, *, prices: dict[str, dict[str, float]] | None = None):
        self.workers = workers
        self.prices = prices or {}
        self._pool: list[_Worker] = []
        self._ids = itertools.count()

    async def start(self, models: set[str]) -> None:
        if self._pool:
            return
        env = os.environ.copy()
        # The children must import this checkout's assay, whatever the working directory.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        for _ in range(self.workers):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "assay.llm.worker",
                json.dumps(sorted(models)),
                json.dumps(self.prices),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                limit=2**24,
            )
            self._pool.append(_Worker(process))
        for worker in self._pool:  # each sends one line when litellm is imported
            line = await worker.process.stdout.readline()
            if line.strip() != b"ready":
                await self.close()
                raise RuntimeError(f"LLM worker process did not start (said {line[:200]!r})")
            worker.reader = asyncio.create_task(self._read(worker))

    async def _read(self, worker: _Worker) -> None:
        while line := await worker.process.stdout.readline():
            message = json.loads(line)
            future = worker.pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(CallOutcome(**message["outcome"]))
        for future in worker.pending.values():  # the worker died: fail what it held
            if not future.done():
                future.set_result(CallOutcome(ok=False, error_type="WorkerExited", error_message="LLM worker process exited"))
        worker.pending.clear()

    def _choose(self, model: str, http_limit: int) -> tuple[_Worker, int]:
        """The worker with the most room in its share of `model`'s limit, and that share."""
        shares = split_limit(http_limit, len(self._pool))
        index = min(
            (i for i, share in enumerate(shares) if share > 0),
            key=lambda i: (self._pool[i].pending_by_model.get(model, 0) / shares[i], len(self._pool[i].pending)),
        )
        return self._pool[index], shares[index]

    async def attempt(
        self, model, messages, params, timeout_s: float, http_limit: int, shared: SharedLimit | None = None
    ) -> CallOutcome:
        worker, share = self._choose(model, max(1, http_limit))
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        worker.pending[call_id] = future
        worker.pending_by_model[model] = worker.pending_by_model.get(model, 0) + 1
        message = {
            "id": call_id, "model": model, "messages": messages, "params": params, "timeout_s": timeout_s,
            "http_limit": share, "shared": asdict(shared) if shared is not None else None,
        }
        worker.process.stdin.write(json.dumps(message, default=str).encode() + b"\n")
        try:
            # The worker enforces the timeout; the margin covers the pipe and its event loop.
            return await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s + 5.0)
        except (TimeoutError, asyncio.CancelledError) as exc:
            worker.pending.pop(call_id, None)
            worker.process.stdin.write(json.dumps({"cancel": call_id}).encode() + b"\n")
            if isinstance(exc, asyncio.CancelledError):
                raise
            return outcome_from_exception(TimeoutError(f"no answer from the LLM worker within {timeout_s + 5.0:.0f} s"))
        finally:
            worker.pending_by_model[model] -= 1

    async def close(self) -> None:
        for worker in self._pool:
            if worker.process.returncode is None:
                worker.process.stdin.close()
                try:
                    await asyncio.wait_for(worker.process.wait(), timeout=5)
                except TimeoutError:
                    worker.process.kill()
                    await worker.process.wait()
            if worker.reader is not None:
                await worker.reader
        self._pool = []


def outcome_as_dict(outcome: CallOutcome) -> dict[str, Any]:
    return asdict(outcome)
