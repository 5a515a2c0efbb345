"""A logged LLM call's payload made safe to write: plain JSON types, no credentials.

`PayloadRedactor.clean(payload)` walks litellm's `StandardLoggingPayload` (or any mapping):
fields named like credentials (`api_key`, `authorization`, `x-api-key`, ...), request headers
under `metadata` and litellm proxy key metadata (`user_api_key*`) are dropped, and any string
that looks like an API key is replaced by `[API_KEY]` (`assay.privacy.pii.redact`). Used by
the instrument (`assay.instrument`) on every call an application makes, so it is built for
speed: one joined scan finds whether a payload holds a key at all.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

# Keys dropped wherever they occur (compared lower-case, `-` read as `_`).
SECRET_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "api_token",
        "authorization",
        "proxy_authorization",
        "access_token",
        "refresh_token",
        "id_token",
        "azure_ad_token",
        "client_secret",
        "secret_key",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
        "private_key",
        "password",
        "cookie",
        "set_cookie",
        "x_goog_api_key",
        "ocp_apim_subscription_key",
    }
)
# Dropped when found inside a mapping whose key mentions "metadata" (request headers as
# litellm and its proxy pass them along).
METADATA_SECRET_KEYS = frozenset({"headers"})
# litellm proxy virtual-key metadata: the key's hash and alias and the identities behind it.
SECRET_KEY_PREFIXES = ("user_api_key",)

# Payload fields that are litellm's own reference data, not the call's: written as they are
# (no walk), which halves the writer's work per record. `model_map_information` is the
# model's entry in litellm's price map (~170 fields, the same for every call of a model).
REFERENCE_FIELDS = ("model_map_information",)

_REDACT_MIN_LEN = 16  # no API_KEY pattern of assay.privacy.secrets matches a shorter string
_MAX_DEPTH = 64


_KEEP, _SECRET, _SECRET_IN_METADATA = 0, 1, 2
_KEY_KINDS: dict[str, int] = {}  # payloads repeat the same few hundred keys


def _key_kind(key: str) -> int:
    kind = _KEY_KINDS.get(key)
    if kind is None:
        norm = key.lower().replace("-", "_")
        if norm in SECRET_KEYS or norm.startswith(SECRET_KEY_PREFIXES):
            kind = _SECRET
        elif norm in METADATA_SECRET_KEYS:
            kind = _SECRET_IN_METADATA
        else:
            kind = _KEEP
        if len(_KEY_KINDS) < 100_000:
            _KEY_KINDS[key] = kind
    return kind


def _is_secret(key: str, parent: str) -> bool:
    kind = _key_kind(key)
    return kind == _SECRET or (kind == _SECRET_IN_METADATA and "metadata" in parent.lower())


class PayloadRedactor:
    """`assay.privacy` API-key redaction for a whole payload, cheap when there is none.

    A first pass collects the payload's strings and `find_pii` scans them once, joined by
    newlines; only if that finds a key does a second pass redact string by string. The
    detector's patterns are bounded by non-word characters (or whitespace before a
    value), so a string with a key still matches once joined: no match in the joined
    text means no match in any string.
    """

    def __init__(self) -> None:
        from assay.privacy.pii import find_pii, redact  # lazy: not needed to import us

        self._find_pii = find_pii
        self._redact = redact
        self._seen: list[str] = []

    def __call__(self, text: str) -> str:
        if len(text) < _REDACT_MIN_LEN:
            return text
        return self._redact(text, entities=("API_KEY",))

    def _collect(self, text: str) -> str:
        self._seen.append(text)
        return text

    def clean(self, payload: Any, *, reference_as_is: bool = True) -> Any:
        """`sanitise(payload)` with API keys redacted. With `reference_as_is`, the
        REFERENCE_FIELDS of a payload are passed through untouched for `json.dumps`."""
        reference: dict[str, Any] = {}
        if reference_as_is and isinstance(payload, Mapping):
            payload = dict(payload)
            for field in REFERENCE_FIELDS:
                if field in payload:
                    reference[field] = payload.pop(field)
        self._seen = []
        try:
            clean = sanitise(payload, self._collect)
            seen = "\n".join(self._seen)
        finally:
            self._seen = []
        if seen and self._find_pii(seen, entities=("API_KEY",)):
            clean = sanitise(payload, self)
        if reference:
            clean.update(reference)
        return clean


def sanitise(value: Any, redact: Callable[[str], str], parent: str = "", depth: int = 0) -> Any:
    """`value` as plain JSON types (str keys, lists, finite numbers), secrets removed.

    Everything else is kept as litellm wrote it; what JSON cannot hold becomes a string
    (`str(obj)`, as `json.dumps(default=str)` would), pydantic models their `model_dump()`,
    datetimes ISO 8601, non-finite floats null. Strings go through `redact`.
    """
    kind = type(value)
    if kind is str:
        return redact(value) if len(value) >= _REDACT_MIN_LEN else value
    if value is None or kind is int or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if depth >= _MAX_DEPTH:  # also what stops a reference cycle
        return redact(str(value))
    if kind is dict or isinstance(value, Mapping):
        in_metadata = "metadata" in parent.lower()
        out: dict[str, Any] = {}
        for key, item in list(value.items()):
            name = key if type(key) is str else str(key)
            secret = _KEY_KINDS.get(name)
            if secret is None:
                secret = _key_kind(name)
            if secret == _SECRET or (secret == _SECRET_IN_METADATA and in_metadata):
                continue
            # Scalars inline: a payload is mostly flat fields (the price map entry alone
            # has ~150), and this runs for every one of them.
            item_kind = type(item)
            if item_kind is str:
                out[name] = redact(item) if len(item) >= _REDACT_MIN_LEN else item
            elif item is None or item_kind is int or item_kind is bool:
                out[name] = item
            else:
                out[name] = sanitise(item, redact, name, depth + 1)
        return out
    if kind is list or isinstance(value, list | tuple | set | frozenset):
        return [sanitise(item, redact, parent, depth + 1) for item in list(value)]
    if isinstance(value, str):  # str subclasses (enums): their value, as json.dumps writes
        return sanitise(str.__str__(value), redact, parent, depth)
    if isinstance(value, bool | int):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value).decode("utf-8", "replace"))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return sanitise(dump(), redact, parent, depth + 1)
        except Exception:  # noqa: BLE001  (fall back to str, like default=str)
            pass
    return redact(str(value))
