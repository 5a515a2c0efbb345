"""Running litellm from synchronous code: one event loop per call, ended cleanly.

Each synchronous entry (`LLMEngine.run`, `BatchJudge.submit_now` / `collect_now`) runs its
coroutine on a loop of its own, as `asyncio.run` does. litellm outlives those loops in two
ways, and both used to surface in the *next* loop as "RuntimeError: Event loop is closed"
tracebacks on stderr (seen with `assay run --wait-batches` in judge batch mode):

- its async HTTP clients are cached process-wide, but belong to the loop that made them;
- its logging worker carries the callbacks still queued when a loop ends over to the next
  loop, and those hold the call's objects, SDK clients among them. The OpenAI SDK closes an
  unreferenced client from `__del__` by starting a task on whatever loop runs *then*: a client
  of an ended loop closing its connections on a new one fails.

So before a loop ends, `run_to_end` drains litellm's logging worker on it, closes the cached
clients, and (in batch mode, where litellm drops uncached SDK clients) collects the garbage
while the loop still runs, letting the client-closing tasks that starts finish. Each wait is
bounded, and only those tasks are waited for: the loop ends anyway.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import inspect
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

SETTLE_TIMEOUT_S = 5.0
"""The most the end of a loop waits for litellm's queued callbacks, and then for each round of
clients closing, before it ends anyway."""
SETTLE_ROUNDS = 5
CLOSING_COROUTINES = {"aclose", "close"}


def run_to_end(coroutine: Coroutine[Any, Any, T], *, collect_garbage: bool = False) -> T:
    """`asyncio.run(coroutine)`, leaving nothing of litellm's tied to the ended loop.
    `collect_garbage`: also collect (`collect_new_garbage`), so that SDK clients litellm made and
    dropped without caching (its file and batch calls) close on this loop; only the batch calls
    ask for it."""

    async def run_and_settle() -> T:
        try:
            return await coroutine
        finally:
            await settle_litellm(collect_garbage=collect_garbage)

    return asyncio.run(run_and_settle())


def collect_new_garbage() -> None:
    """A full collection; the first one also freezes (`gc.freeze`) what is alive after it.

    A full collection walks every object the process holds: 0.4 s of CPU once Dagster, litellm
    and Great Expectations are imported (measured), and a batch poll makes one or more. What is
    alive at the first is mostly those modules, alive as long as the process: frozen, later
    collections walk only what came after (0.0 s measured after a freeze). Frozen objects are
    still freed when their last reference goes; only reference cycles among them are kept to the
    end of the process, where they are unfrozen so that its last collection frees them (DuckDB's
    nanobind otherwise reports its objects as leaked, on stderr)."""
    global _frozen
    gc.collect()
    if not _frozen:
        gc.freeze()
        atexit.register(gc.unfreeze)
        _frozen = True


_frozen = False


async def settle_litellm(*, collect_garbage: bool = False) -> None:
    """Drain litellm's logging worker, close its cached clients and wait for the clients
    closing on this loop (with `collect_garbage`, the ones that are garbage too). Best effort
    throughout: the loop is ending."""
    worker_module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(worker_module, "GLOBAL_LOGGING_WORKER", None)
    if worker is not None:
        try:
            await asyncio.wait_for(worker.flush(), timeout=SETTLE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a callback that never ends does not hold the loop
            log.debug("litellm's logging worker did not drain before the loop ended", exc_info=True)
        try:
            await worker.stop()
        except Exception:  # noqa: BLE001
            log.debug("litellm's logging worker did not stop cleanly", exc_info=True)
    litellm = sys.modules.get("litellm")
    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None:
        clients = list(cache.cache_dict.values())
        cache.cache_dict.clear()
        cache.ttl_dict.clear()
        cache.expiration_heap.clear()
        for client in clients:
            close = getattr(client, "close", None) or getattr(client, "aclose", None)
            if close is not None and inspect.iscoroutinefunction(close):
                try:
                    await close()
                except Exception:  # noqa: BLE001
                    pass
    current = asyncio.current_task()

    def closing() -> list[asyncio.Task]:
        """Tasks closing a client (`AsyncClient.aclose`, an SDK's `close`); other tasks left on
        the loop (a lease renewal, a watcher) are asyncio.run's to cancel, as before."""
        return [task for task in asyncio.all_tasks() if task is not current and not task.done()
                and task.get_coro().__qualname__.rsplit(".", 1)[-1] in CLOSING_COROUTINES]

    for _ in range(SETTLE_ROUNDS):
        if collect_garbage:
            collect_new_garbage()  # unreferenced SDK clients start their closing tasks now, on this loop
        await asyncio.sleep(0)
        if not (pending := closing()):
            return
        await asyncio.wait(pending, timeout=SETTLE_TIMEOUT_S)
