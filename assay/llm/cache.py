"""A persistent response cache: one small JSON file per request key.

One file per key (written by rename) lets many processes fill the cache at once without a
lock, and a re-run or a backfill of unchanged work reads the answer instead of paying again.
litellm's own local cache is not used: it crashes on a hit without fastapi installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.lake import atomic_write_text


class ResponseCache:
    def __init__(self, root: Path | None):
        self.root = Path(root) if root else None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            # A torn file cannot exist (writes are renames), but a hand-edited one can.
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.root is not None:
            atomic_write_text(self._path(key), json.dumps(value, sort_keys=True))
