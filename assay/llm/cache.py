"""A persistent response cache: one small JSON file per request key.

One file per key (written by rename) lets many processes fill the cache at once without a
lock, and a re-run or a backfill of unchanged work reads the answer instead of paying again.
litellm's own local cache is not used: it crashes on a hit without fastapi installed.

Writes happen on a background thread: a file create + rename costs ~1.5 ms on this machine's
filesystem, which on the engine's event loop was the largest share of assay's own CPU per call
(profiled at concurrency 32). `flush()` (the engine calls it at the end of each batch) waits
until every answer is on disk; until then `get` answers from the pending writes.

On the team stack (`redis_url`, from ASSAY_REDIS_URL) every answer is also written to Redis
(`assay:llm-cache:<key>`, kept 90 days), and a key this machine's files lack is looked up
there: a step retried or re-run on another worker reads what the first worker paid for. The
files stay the first place looked (no round trip for what this machine judged).
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path
from typing import Any

REDIS_KEY_PREFIX = "assay:llm-cache:"
REDIS_TTL_S = 90 * 86400


class ResponseCache:
    def __init__(self, root: Path | None, *, redis_url: str | None = None):
        self.root = Path(root) if root else None
        self._redis = None
        if redis_url and self.root is not None:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
        self._pending: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._made_dirs: set[Path] = set()
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return None
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:
            return pending
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if self._redis is None:
                return None
            shared = self._redis.get(REDIS_KEY_PREFIX + key)
            return json.loads(shared) if shared is not None else None
        except json.JSONDecodeError:
            # A torn file cannot exist (writes are renames), but a hand-edited one can.
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.root is None:
            return
        with self._lock:
            self._pending[key] = value
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_loop, name="llm-cache-writer", daemon=True)
            self._writer.start()
        self._queue.put((key, value))

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                key, value = item
                try:
                    self._write(key, value)
                except BaseException as exc:  # reported by flush(), on the caller's thread
                    self._error = exc
                with self._lock:
                    if self._pending.get(key) is value:
                        del self._pending[key]
            finally:
                self._queue.task_done()

    def _write(self, key: str, value: dict[str, Any]) -> None:
        path = self._path(key)
        if path.parent not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(path.parent)
        # pid + thread id: unique per writer, so two processes never share a temporary file.
        tmp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")
        text = json.dumps(value, sort_keys=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        if self._redis is not None:
            self._redis.set(REDIS_KEY_PREFIX + key, text, ex=REDIS_TTL_S)

    def flush(self) -> None:
        """Wait until every `put` is on disk; raise the first write error, if any."""
        if self._writer is not None:
            self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
