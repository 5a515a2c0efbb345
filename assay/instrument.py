"""One-line instrumentation: every litellm call an application makes lands in assay's landing.

    import assay.instrument; assay.instrument.install()
    # or: litellm.callbacks = [assay.instrument.AssayLogger()]

`AssayLogger` is a litellm `CustomLogger`. For each call, success or failure, it takes
litellm's `StandardLoggingPayload` (`kwargs["standard_logging_object"]`) and appends it as
one JSON line to

    ASSAY_HOME/landing/litellm/<YYYY-MM-DD>/<host>-<pid>.jsonl

(the day of the payload's `startTime`, UTC). The payload is written as litellm built it
(the `litellm_payload` adapter normalises it at ingestion), minus secrets: fields named like
credentials (`api_key`, `authorization`, `x-api-key`, ...), request headers under
`metadata`, and litellm proxy key metadata (`user_api_key*`) are dropped, and any string
that looks like an API key is replaced by `[API_KEY]` (`assay.privacy.payload`).

The call path only appends the payload to an in-memory deque. A daemon thread per process
serialises, redacts and appends batches every `flush_interval` (200 ms) or `batch_size`
records; `flush()` and an `atexit` hook drain what is left. Each process writes its own
file (pid in the name) from one writer at a time with `O_APPEND` writes of whole lines, so
neither threads nor processes interleave; a forked child starts its own writer and file.
Memory is bounded: past `max_queue` waiting records the calling thread writes the backlog
itself (back-pressure) rather than drop any. Nothing the logger does raises into the
application: a failure is logged once as a warning and the records wait for the next try.

Async calls: litellm runs their callbacks later, on its own best-effort logging worker in
the event loop. Callbacks still queued there when the process exits are run by assay's exit
hook (litellm's own runs at most 200), but those in flight when `asyncio.run` closes the
loop are cancelled by asyncio before any logger sees them. A program that ends its event
loop right after a burst of calls therefore awaits `aflush()` last in the loop; servers and
sync code need nothing more.

Importing this module does not import litellm (~4 s): `AssayLogger` is built on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import datetime as dt
import functools
import json
import logging
import math
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.privacy.payload import PayloadRedactor
from assay.runtime import AssayHome, apply_privacy_defaults

if TYPE_CHECKING:
    from litellm.integrations.custom_logger import CustomLogger

__all__ = ["AssayLogger", "aflush", "flush", "install", "landing_dir", "uninstall"]

SOURCE = "litellm"
"""Landing sub-folder, and the source name the `litellm_payload` adapter reads."""

FLUSH_INTERVAL_S = 0.2
BATCH_SIZE = 1_000
MAX_QUEUE = 100_000

log = logging.getLogger(__name__)

_YIELD_EVERY_S = 0.001


# --- where lines land ----------------------------------------------------------------------


def landing_dir(home: str | Path | None = None) -> Path:
    """`<home>/landing/litellm`; `home` defaults to ASSAY_HOME, then `./.assay`."""
    root = AssayHome(Path(home).resolve()) if home is not None else AssayHome.from_env()
    return root.landing / SOURCE


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"


_HOST = _host()


@functools.lru_cache(maxsize=64)
def _day_name(epoch_day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=epoch_day)).isoformat()


def _day(payload: Mapping[str, Any], queued_at: float) -> str:
    """UTC day of the payload's startTime (epoch seconds), else of when it was queued."""
    start = payload.get("startTime") if isinstance(payload, Mapping) else None
    try:
        if isinstance(start, dt.datetime):
            moment = start if start.tzinfo else start.astimezone()  # naive = local time
            return moment.astimezone(dt.UTC).date().isoformat()
        if isinstance(start, int | float) and not isinstance(start, bool):
            return _day_name(math.floor(start / 86_400))
    except (OverflowError, OSError, ValueError):
        pass
    return _day_name(math.floor(queued_at / 86_400))


def _dumps(clean: Any) -> str:
    return json.dumps(
        clean, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str
    )


def _to_line(payload: Any, redactor: PayloadRedactor) -> bytes:
    """One JSON line; never raises (a payload that cannot be read whole is kept as text)."""
    text = None
    for _attempt in range(2):  # a second try if litellm mutated the payload meanwhile
        try:
            text = _dumps(redactor.clean(payload))
            break
        except ValueError:  # a non-finite float or a cycle in a reference field: walk it too
            try:
                text = _dumps(redactor.clean(payload, reference_as_is=False))
                break
            except Exception as exc:  # noqa: BLE001
                error = exc
        except Exception as exc:  # noqa: BLE001
            error = exc
    if text is None:
        kept: dict[str, Any] = {"assay_instrument_error": f"{type(error).__name__}: {error}"}
        try:
            kept["id"] = redactor(str(payload.get("id"))) if isinstance(payload, Mapping) else None
            kept["payload_repr"] = redactor(repr(payload))
        except Exception:  # noqa: BLE001  (keep the line, even without the payload's text)
            pass
        text = json.dumps(kept, default=repr)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates: \u-escape them instead
        return json.dumps(json.loads(text), separators=(",", ":")).encode("ascii") + b"\n"


# --- the writer ----------------------------------------------------------------------------


class _Writer:
    """The per-process, per-landing-folder queue and the thread that empties it."""

    def __init__(self, directory: Path, flush_interval: float, batch_size: int, max_queue: int):
        self.directory = directory
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_queue = max_queue
        self._reset()

    def _reset(self) -> None:
        """Fresh state: at creation, and in a forked child (whose copy of the parent's queue
        belongs to the parent, and whose locks may have been held at the fork)."""
        self.queue: collections.deque[tuple[Any, float]] = collections.deque()
        self._pending: dict[Path, bytearray] = {}  # serialised, not yet (fully) written
        self._lock = threading.Lock()  # one writer at a time: the thread, flush or a spill
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self._warned = False
        self._redactor: PayloadRedactor | None = None
        self.written = 0

    # call path ---------------------------------------------------------------------------
    def put(self, payload: Any) -> None:
        """Queue one payload. Cheap, never raises, never blocks unless the queue is full."""
        try:
            queue = self.queue
            queue.append((payload, time.time()))
            if self._thread is None:
                self._start()
            size = len(queue)
            if self._closed or size > self.max_queue:
                self.drain()  # after exit hooks, or back-pressure: write it here
            elif size >= self.batch_size:
                self._wake.set()
        except Exception:  # noqa: BLE001  (the application must never see our failure)
            self._warn("assay.instrument: could not queue a litellm payload")

    # writing -----------------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(
                target=self._run, name=f"assay-instrument-{os.getpid()}", daemon=True
            )
            thread.start()
            self._thread = thread
        _register_exit_hooks()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.drain()

    def drain(self) -> bool:
        """Write everything queued so far. True when nothing is left unwritten."""
        try:
            with self._lock:
                return self._drain_locked()
        except Exception:  # noqa: BLE001
            self._warn(f"assay.instrument: cannot write to {self.directory}; records kept")
            return False

    def _drain_locked(self) -> bool:
        self._write_pending()  # earlier lines first, so a file's lines stay in order
        if self._redactor is None:
            self._redactor = PayloadRedactor()
        redactor = self._redactor
        queue = self.queue
        name = f"{_HOST}-{self._pid}.jsonl"
        yielded = time.perf_counter()
        while queue:
            for _ in range(min(len(queue), self.batch_size)):
                payload, queued_at = queue.popleft()
                path = self.directory / _day(payload, queued_at) / name
                buffer = self._pending.get(path)
                if buffer is None:
                    buffer = self._pending[path] = bytearray()
                buffer += _to_line(payload, redactor)
                self.written += 1
                # Hand the GIL back every millisecond of work, so that the application's
                # threads wait for about that long, not a whole switch interval (5 ms).
                if time.perf_counter() - yielded > _YIELD_EVERY_S:
                    time.sleep(0)
                    yielded = time.perf_counter()
            self._write_pending()
        if self._warned:
            log.info("assay.instrument: writing to %s again", self.directory)
            self._warned = False
        return True

    def _write_pending(self) -> None:
        for path in list(self._pending):
            buffer = self._pending[path]
            if buffer:
                _append(path, buffer)  # consumes the buffer as it writes
            del self._pending[path]

    def flush(self) -> bool:
        if os.getpid() != self._pid:
            return True  # a fork child that never logged
        return self.drain() and not self.queue

    def close(self) -> bool:
        """At exit: drain, and from now on write each payload as it comes."""
        self._closed = True
        return self.flush()

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            try:
                log.warning(message, exc_info=True)
            except Exception:  # noqa: BLE001
                pass


def _append(path: Path, buffer: bytearray) -> None:
    """Append `buffer` to `path` with O_APPEND, deleting from it what is written: after a
    failure it holds exactly the bytes still to write, so a retry never tears a line."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        while buffer:
            written = os.write(fd, buffer)
            del buffer[:written]
    finally:
        os.close(fd)


_WRITERS: dict[Path, _Writer] = {}
_WRITERS_LOCK = threading.Lock()
_EXIT_HOOKS_PID: int | None = None


def _writer(directory: Path, flush_interval: float, batch_size: int, max_queue: int) -> _Writer:
    """The one writer of `directory` in this process, shared by every logger writing there."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(directory)
        if writer is None:
            writer = _WRITERS[directory] = _Writer(directory, flush_interval, batch_size, max_queue)
        return writer


LITELLM_EXIT_DRAIN_S = 60.0
"""Most time spent at exit running the callbacks litellm's logging worker still holds."""


def _finish_litellm_backlog(limit_s: float = LITELLM_EXIT_DRAIN_S) -> None:
    """Run the async callbacks litellm still has queued when the process exits.

    litellm hands async callbacks to a background worker on the event loop; when the loop
    closes with a backlog (a batch job ending right after a burst of calls), its own exit
    hook runs at most 200 of them (MAX_ITERATIONS_TO_CLEAR_QUEUE) in at most 5 s and drops
    the rest. This repeats that same exit flush until the queue is empty, no progress is
    made, or `limit_s` is spent. It runs before litellm's hook (atexit is LIFO).
    """
    module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(module, "GLOBAL_LOGGING_WORKER", None)
    flush_on_exit = getattr(worker, "_flush_on_exit", None)
    if flush_on_exit is None:
        return

    def backlog() -> int:
        queue = getattr(worker, "_queue", None)
        return queue.qsize() if queue is not None else 0

    deadline = time.monotonic() + limit_s
    left = backlog()
    while left and time.monotonic() < deadline:
        flush_on_exit()
        left, before = backlog(), left
        if left >= before:
            break


def _close_all() -> None:
    try:
        _finish_litellm_backlog()
    except Exception:  # noqa: BLE001  (an exit hook must not fail the application)
        log.warning("assay.instrument: litellm's pending callbacks did not run", exc_info=True)
    for writer in list(_WRITERS.values()):
        writer.close()


def _register_exit_hooks() -> None:
    """atexit in every process; in a multiprocessing child also its finalizers (a forked
    child leaves through os._exit, which skips atexit)."""
    global _EXIT_HOOKS_PID
    if _EXIT_HOOKS_PID == os.getpid():
        return
    _EXIT_HOOKS_PID = os.getpid()
    atexit.register(_close_all)
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, _close_all, exitpriority=100)


def _after_fork_in_child() -> None:
    """Another thread may have held a lock at the fork: the child gets fresh ones."""
    global _WRITERS_LOCK, _CLASS_LOCK, _INSTALL_LOCK
    _WRITERS_LOCK = threading.Lock()
    _CLASS_LOCK = threading.Lock()
    _INSTALL_LOCK = threading.Lock()
    for writer in _WRITERS.values():
        writer._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


def flush() -> bool:
    """Write every payload queued in this process now. True when all are on disk."""
    return all([writer.flush() for writer in list(_WRITERS.values())])


async def aflush() -> bool:
    """`flush()` for asyncio applications: first let litellm's own logging worker hand over
    the callbacks it still holds (it runs async callbacks in the background, best effort),
    then write them without blocking the event loop."""
    # litellm queues a call's success logging from a task it creates as the call returns:
    # one turn of the loop lets those tasks reach its worker's queue before it is joined.
    await asyncio.sleep(0)
    worker_module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    if worker_module is not None:
        try:
            await worker_module.GLOBAL_LOGGING_WORKER.flush()
        except Exception:  # noqa: BLE001
            log.warning("assay.instrument: litellm's logging worker did not flush", exc_info=True)
    return await asyncio.to_thread(flush)


# --- the litellm logger --------------------------------------------------------------------


class _AssayLoggerMixin:
    """The body of `AssayLogger`, kept free of litellm so that importing is cheap.

    `AssayLogger(home=None, *, flush_interval=0.2, batch_size=1000, max_queue=100_000)`;
    other keyword arguments go to litellm's `CustomLogger`. Loggers writing to the same
    folder in one process share one queue and writer (with the first one's settings).
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        flush_interval: float = FLUSH_INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        max_queue: int = MAX_QUEUE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        apply_privacy_defaults()
        directory = landing_dir(home)
        # Public and a str: litellm tells loggers apart by their public plain attributes.
        self.landing = str(directory)
        self._writer = _writer(directory, flush_interval, batch_size, max_queue)

    @property
    def directory(self) -> Path:
        return Path(self.landing)

    def _log(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any, status: str):
        try:
            payload = kwargs.get("standard_logging_object")
            if payload is None:
                payload = _minimal_payload(kwargs, response_obj, start_time, end_time, status)
            else:
                payload = _with_caller_metadata(payload, kwargs)
        except Exception:  # noqa: BLE001
            self._writer._warn("assay.instrument: unreadable litellm callback arguments")
            return
        self._writer.put(payload)

    def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._log(kwargs, response_obj, start_time, end_time, "success")

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._log(kwargs, response_obj, start_time, end_time, "failure")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._log(kwargs, response_obj, start_time, end_time, "success")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._log(kwargs, response_obj, start_time, end_time, "failure")

    def flush(self) -> bool:
        """Write what this logger's folder has queued. True when all are on disk."""
        return self._writer.flush()

    @property
    def written(self) -> int:
        """Lines written to this logger's folder by this process."""
        return self._writer.written


def _with_caller_metadata(payload: dict, kwargs: Any) -> dict:
    """The application's own `metadata=` (assay_feature, user_id...) beside the payload.

    litellm's StandardLoggingPayload keeps caller metadata in `metadata.requester_metadata`
    only on its proxy; on the SDK path it is left empty and the caller's dict is in
    `kwargs["litellm_params"]["metadata"]`. Copied shallowly (the writer thread removes
    secrets), and only when litellm did not fill it.
    """
    caller = (kwargs.get("litellm_params") or {}).get("metadata")
    meta = payload.get("metadata")
    if not isinstance(caller, dict) or not caller or not isinstance(meta, dict) or meta.get("requester_metadata"):
        return payload
    return {**payload, "metadata": {**meta, "requester_metadata": dict(caller)}}


def _minimal_payload(
    kwargs: Mapping[str, Any], response_obj: Any, start_time: Any, end_time: Any, status: str
) -> dict[str, Any]:
    """When litellm built no StandardLoggingPayload: the same field names, from the raw
    callback arguments (references only; serialised off the call path)."""
    failure = status == "failure"
    return {
        "id": kwargs.get("litellm_call_id"),
        "call_type": kwargs.get("call_type"),
        "status": status,
        "model": kwargs.get("model"),
        "startTime": start_time,
        "endTime": end_time,
        "messages": kwargs.get("messages", kwargs.get("input")),
        "response": None if failure else response_obj,
        "error_str": str(kwargs.get("exception") or response_obj) if failure else None,
        "assay_note": "litellm passed no standard_logging_object; raw callback fields",
    }


_LOGGER_CLASS: type | None = None
_CLASS_LOCK = threading.Lock()


def _logger_class() -> type[CustomLogger]:
    """`AssayLogger`, built the first time it is needed (it imports litellm)."""
    global _LOGGER_CLASS
    with _CLASS_LOCK:
        if _LOGGER_CLASS is None:
            apply_privacy_defaults()  # before litellm's import: no remote price map
            from litellm.integrations.custom_logger import CustomLogger

            _LOGGER_CLASS = type(
                "AssayLogger",
                (_AssayLoggerMixin, CustomLogger),
                {
                    "__module__": __name__,
                    "__qualname__": "AssayLogger",
                    "__doc__": "litellm CustomLogger appending each call's StandardLoggingPayload "
                    "to ASSAY_HOME/landing/litellm/<day>/<host>-<pid>.jsonl (see assay.instrument).",
                },
            )
        return _LOGGER_CLASS


if TYPE_CHECKING:  # what type checkers see; at run time `__getattr__` builds it

    class AssayLogger(_AssayLoggerMixin, CustomLogger):
        pass


def __getattr__(name: str) -> Any:
    if name == "AssayLogger":
        return _logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _registered() -> list[Any]:
    import litellm

    cls = _logger_class()
    seen: list[Any] = []
    for callback in litellm.logging_callback_manager.get_all_callbacks():
        if isinstance(callback, cls) and all(callback is not s for s in seen):
            seen.append(callback)
    return seen


_INSTALL_LOCK = threading.Lock()


def install(home: str | Path | None = None) -> AssayLogger:
    """Register an `AssayLogger` in `litellm.callbacks` and return it.

    Idempotent: when one is already registered (by `install` or by hand) it is returned
    as is. `home` defaults to ASSAY_HOME, then `./.assay`.
    """
    import litellm

    with _INSTALL_LOCK:
        existing = _registered()
        if existing:
            logger = existing[0]
            if home is not None and logger.directory != landing_dir(home):
                log.warning(
                    "assay.instrument.install: already writing to %s; ignoring home=%s",
                    logger.directory,
                    home,
                )
            return logger
        logger = _logger_class()(home)
        litellm.callbacks.append(logger)
        return logger


def uninstall() -> None:
    """Unregister every `AssayLogger` from litellm (all its callback lists) and flush."""
    import litellm

    for logger in _registered():
        litellm.logging_callback_manager.remove_callback_from_all_lists(logger)
    flush()
