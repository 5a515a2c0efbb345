"""Random secrets, and ways to hide one in a log record: the material of the property tests
that a secret placed anywhere in a call record is stored nowhere (issue 23).

A secret is placed as a token of a string (the whole value, or a word of it): the detectors
find a key by its shape and its boundaries, as it appears in logs. Every value is made from
the given `random.Random`, so a failing case is reproduced by its seed.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Iterator
from typing import Any

ALNUM = string.ascii_letters + string.digits


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    """n characters of `alphabet`, with a digit and a letter when it has both (as generated
    keys have: the detectors ask a secret to mix them)."""
    wants_digit, wants_letter = any(c.isdigit() for c in alphabet), any(c.isalpha() for c in alphabet)
    while True:
        text = "".join(rng.choice(alphabet) for _ in range(n))
        if (not wants_digit or any(c.isdigit() for c in text)) and (not wants_letter or any(c.isalpha() for c in text)):
            return text


SECRET_KINDS = ("openai", "anthropic", "aws", "github", "slack", "stripe", "google", "jwt", "pem", "assignment")


def random_secret(rng: random.Random, kind: str | None = None) -> tuple[str, str, list[str]]:
    """(kind, the text to place, the parts that must never be stored). For a key given by
    name (`api_key=...`) the text is the assignment and the part is the value; for a PEM key
    the parts are its body lines."""
    kind = kind or rng.choice(SECRET_KINDS)
    if kind == "openai":
        secret = "sk-proj-" + _chars(rng, ALNUM, 32)
    elif kind == "anthropic":
        secret = "sk-ant-api03-" + _chars(rng, ALNUM, 40)
    elif kind == "aws":
        secret = "AKIA" + _chars(rng, string.ascii_uppercase + string.digits, 16)
    elif kind == "github":
        secret = "ghp_" + _chars(rng, ALNUM, 36)
    elif kind == "slack":
        secret = f"xoxb-{_chars(rng, string.digits, 11)}-{_chars(rng, string.digits, 12)}-{_chars(rng, ALNUM, 24)}"
    elif kind == "stripe":
        secret = "sk_" + "live_" + _chars(rng, ALNUM, 28)
    elif kind == "google":
        secret = "AIza" + _chars(rng, ALNUM + "_-", 35)
    elif kind == "jwt":
        def part(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        secret = f"{part({'alg': 'HS256'})}.{part({'sub': _chars(rng, ALNUM, 12)})}.{_chars(rng, ALNUM + '_-', 43)}"
    elif kind == "pem":
        lines = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(3)]
        return kind, "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----", lines
    else:
        value = _chars(rng, ALNUM, 28)
        name = rng.choice(["api_key", "OPENAI_API_KEY", "client_secret", "access_token", "X-Api-Key"])
        return kind, f"{name}={value}", [value]
    return kind, secret, [secret]


def as_token(rng: random.Random, text: str, around: str = "") -> str:
    """`text` as the whole value, or as a word among others."""
    return rng.choice([text, f"{around or 'see'} {text}", f"{text} {around or 'here'}", f"{around} ({text}), then"]).strip()


def place_in_json(rng: random.Random, value: Any, secret: str) -> Any:
    """A copy of a JSON value with `secret` hidden at a random place: a string leaf, a new
    leaf at some depth, a dict key, or (for a key given by name) as `{"<name>": "<value>"}`."""
    strings = list(_string_paths(value))
    choice = rng.random()
    if "=" in secret and choice < 0.5:
        name, _, key_value = secret.partition("=")
        return _insert(rng, value, {name: key_value})
    if strings and choice < 0.75:
        path = rng.choice(strings)
        return _replace_at(value, path, lambda old: as_token(rng, secret, old[:20]))
    if choice < 0.85:
        return _insert(rng, value, {secret: rng.randint(0, 9)})  # a secret as a key
    return _insert(rng, value, {"note": [as_token(rng, secret)]})


def _string_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))


def _replace_at(value: Any, path: tuple, change: Callable[[Any], Any]) -> Any:
    if not path:
        return change(value)
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace_at(value[path[0]], path[1:], change)
    return copy


def _insert(rng: random.Random, value: Any, item: dict) -> Any:
    """`item` merged into a random dict of `value` (`value` wrapped when it holds none)."""
    dicts = [path for path in _container_paths(value) if isinstance(_at(value, path), dict)]
    if not dicts:
        return [*value, item] if isinstance(value, list) else [value, item]
    return _replace_at(value, rng.choice(dicts), lambda found: {**found, **item})


def _container_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict | list):
        yield path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _container_paths(item, (*path, key))


def _at(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def stored_strings(value: Any) -> Iterator[str]:
    """Every string a stored value holds, decoded: JSON text is parsed (again and again, as
    tool arguments hold JSON inside JSON) and its keys and leaves given too."""
    if isinstance(value, str):
        yield value
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                decoded = json.loads(stripped)
            except ValueError:
                return
            if decoded != value:
                yield from stored_strings(decoded)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from stored_strings(key)
            yield from stored_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from stored_strings(item)


def leaks(value: Any, parts: list[str]) -> list[str]:
    """The parts of a secret found in `value` (decoded as `stored_strings` does)."""
    texts = list(stored_strings(value))
    return [part for part in parts if any(part in text for text in texts)]
