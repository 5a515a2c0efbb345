"""Landing files in every input format with a random secret in every string field: one record
per (format, field), so each secret takes its own path through ingestion (a call, a span, or a
quarantined record) and everything after it. The records are dated `DAY` (the unit-test
builders' day) and get ids of their own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests.unit.secret_fields import _replace_at, _string_paths, as_token, random_secret
from tests.unit.test_formats import T0, langfuse_export, litellm_success, openai_pair, otlp_envelope

DAY = "2025-03-01"
"""The day of the unit-test builders' records (T0 = 2025-03-01T12:00:00Z)."""


def _native() -> dict[str, Any]:
    return {
        "call_id": "sec-call", "trace_id": "sec-trace", "span_id": "sec-span", "parent_span_id": "sec-parent",
        "ts": "2025-03-01T12:00:00Z", "app": "acme-support", "feature": "refunds", "environment": "production",
        "prompt_id": "refund-policy", "prompt_version": "v2", "provider": "openai", "model": "gpt-4o-mini",
        "params": {"temperature": 0.2, "max_tokens": 300, "user": "u-9"},
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Refund please"}],
        "input_text": "Refund please", "context": ["Refunds within 30 days."],
        "tools": [{"type": "function", "function": {"name": "issue_refund", "description": "Refund an order"}}],
        "tool_calls": [{"name": "issue_refund", "arguments": json.dumps({"order_id": "o-9", "note": "urgent"})}],
        "output_text": "Done.", "finish_reason": "stop", "status": "error", "error_type": "APIError",
        "error_message": "upstream said no", "user_id": "u-9", "session_id": "s-9", "customer_id": "c-9",
        "expected_output": "Refunded.", "feedback_comment": "slow", "metadata": {"team": {"name": "billing"}},
    }


FORMATS: dict[str, tuple[Any, list[str]]] = {
    # format -> (builder of one record, the id strings made unique per copy)
    "assay_jsonl": (_native, ["sec-call", "sec-trace", "sec-span", "sec-parent"]),
    "openai_chat": (openai_pair, ["chatcmpl-abc", "call_1"]),
    "litellm_payload": (litellm_success, ["chatcmpl-lite-1", "trace-lite"]),
    "otlp_json": (otlp_envelope, ["5B8EFFF798038103D269B633813FC60C", *(f"AAAAAAAAAAAAAAA{i}" for i in range(1, 5))]),
    "langfuse": (langfuse_export, ["e1fde3efec57ce8a69bafd3fb928a7eb", "root", "gen1", "gen2", "gen3", "tool1", "call_1"]),
}


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return value


def _unique_ids(ids: list[str], n: int) -> dict[str, str]:
    """Each id made unique for copy n, keeping its shape (hex ids stay hex, of the same length)."""
    out = {}
    for i, old in enumerate(ids):
        if all(c in "0123456789ABCDEFabcdef" for c in old) and len(old) >= 16:
            new = f"{n:0{len(old) - 2}x}{i:02x}"
            out[old] = new.upper() if old.isupper() else new
        else:
            out[old] = f"{old}-{n}"
    return out


def write_secret_landing(landing: Path, seed: int) -> dict[str, tuple[str, str, list[str]]]:
    """Write one file per format under `landing/secrets-<format>/DAY/`; returns, per record
    label (`<format> <field path>`), (kind, placed text, the parts that must be stored nowhere)."""
    rng = random.Random(seed)
    placed: dict[str, tuple[str, str, list[str]]] = {}
    for n_format, (fmt, (build, ids)) in enumerate(FORMATS.items()):
        base = build()
        records = []
        for n, path in enumerate(_string_paths(base)):
            kind, text, parts = random_secret(rng)
            record = _renamed(base, _unique_ids(ids, 1000 * n_format + n))
            record = _replace_at(record, path, lambda old, text=text: as_token(rng, text, old[:20]))
            records.append(record)
            placed[f"{fmt} {'.'.join(map(str, path))}"] = (kind, text, parts)
        folder = landing / f"secrets-{fmt.replace('_', '-')}" / DAY
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return placed


assert T0 == 1740830400  # the builders' records fall on DAY
