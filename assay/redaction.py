"""Redaction and pseudonymisation before anything reaches the lake (or a judge).

With `redaction.enabled`, every text field of a call (input, output, messages, context, tool
calls, reference, feedback, error), the raw text of quarantined records and the input/output
of trace spans are stored with PII and secrets replaced: `[EMAIL]` (mask) or `[EMAIL:1a2b3c4d]`
(pseudonymise: a keyed HMAC, so one value always maps to one tag but cannot be brute-forced
without the key). Ids such as user_id can be pseudonymised the same way. The original text is
never written.

What was removed is counted per field in the call's `metadata.redactions`
(`{"output_text": {"EMAIL": 1}}`): the PII evaluator reads it, so a leak the model made is
still a failing score after its text is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evaluators.safety import find_pii, normalise_pii_value, pii_candidate_re2

PSEUDONYM_KEY_ENV = "ASSAY_PSEUDONYM_KEY"
REDACTED_CALL_COLUMNS = (
    "input_text",
    "output_text",
    "messages",
    "context",
    "tool_calls",
    "expected_output",
    "feedback_comment",
    "error_message",
)


class RedactionKeyMissing(ValueError):
    """Pseudonymisation needs a secret key from the environment."""


class Redactor:
    def __init__(
        self,
        *,
        mode: str = "mask",
        entities: list[str] | None = None,
        allow: list[str] | None = None,
        pseudonymise_ids: list[str] | None = None,
        key: bytes | None = None,
    ):
        self.mode = mode
        self.entities = entities
        self.allowed = {normalise_pii_value(e, a) for a in allow or [] for e in ("EMAIL", "PHONE")}
        self.pseudonymise_ids = list(pseudonymise_ids or [])
        if (mode == "pseudonymise" or self.pseudonymise_ids) and not key:
            raise RedactionKeyMissing(
                f"redaction: mode `pseudonymise` and `pseudonymise_ids` need a secret key in the "
                f"environment variable {PSEUDONYM_KEY_ENV} (any long random string; keep it stable)"
            )
        self.key = key

    @classmethod
    def from_config(cls, config: Any) -> Redactor:
        key = os.environ.get(PSEUDONYM_KEY_ENV, "").encode() or None
        return cls(
            mode=config.mode,
            entities=config.entities,
            allow=config.allow,
            pseudonymise_ids=config.pseudonymise_ids,
            key=key,
        )

    def _tag(self, kind: str, value: str) -> str:
        assert self.key is not None
        digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:10]
        return f"[{kind}:{digest}]"

    def text(self, value: str | None) -> tuple[str | None, Counter]:
        """The text with PII replaced, and what was replaced by entity type."""
        found: Counter = Counter()
        if not value:
            return value, found
        parts: list[str] = []
        cursor = 0
        for match in find_pii(value, entities=self.entities):
            if normalise_pii_value(match.entity_type, match.text) in self.allowed:
                continue
            parts.append(value[cursor : match.start])
            parts.append(self._tag(match.entity_type, match.text) if self.mode == "pseudonymise" else f"[{match.entity_type}]")
            cursor = match.end
            found[match.entity_type] += 1
        if not found:
            return value, found
        parts.append(value[cursor:])
        return "".join(parts), found

    def identifier(self, value: str | None, field: str) -> str | None:
        return None if value is None else self._tag(field, value)

    def calls(self, table: pa.Table) -> tuple[pa.Table, Counter]:
        """Redact a table in the call-record schema; returns it and the totals by entity.

        Only the texts RE2 finds a PII candidate in (`pii_candidate_re2` over the whole
        column at once, then its narrow form over those) are scanned in Python: on real
        traffic most texts hold none."""
        candidate_re2 = pii_candidate_re2(self.entities)
        narrow_re2 = pii_candidate_re2(self.entities, narrow=True)
        totals: Counter = Counter()
        per_row: dict[int, dict[str, dict[str, int]]] = {}
        for name in REDACTED_CALL_COLUMNS:
            column = table.column(name)
            candidates = np.flatnonzero(
                pc.fill_null(pc.match_substring_regex(column, candidate_re2), False).to_numpy(zero_copy_only=False)
            )
            if not len(candidates):
                continue
            texts = column.take(candidates)
            narrowed = pc.fill_null(pc.match_substring_regex(texts, narrow_re2), False)
            candidates, texts = candidates[narrowed.to_numpy(zero_copy_only=False)], texts.filter(narrowed)
            changes: dict[int, str] = {}
            for row, value in zip(candidates.tolist(), texts.to_pylist(), strict=True):
                redacted, found = self.text(value)
                if found:
                    changes[row] = redacted
                    per_row.setdefault(row, {})[name] = dict(found)
                    totals.update(found)
            if changes:
                values = column.to_pylist()
                for row, redacted in changes.items():
                    values[row] = redacted
                table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
        if per_row:
            metadata = table.column("metadata").to_pylist()
            for row, fields in per_row.items():
                current = json.loads(metadata[row]) if metadata[row] else {}
                if not isinstance(current, dict):
                    current = {"original_metadata": current}
                current["redactions"] = fields
                metadata[row] = json.dumps(current, sort_keys=True, ensure_ascii=False)
            table = table.set_column(table.schema.get_field_index("metadata"), "metadata", pa.array(metadata, pa.string()))
        for name in self.pseudonymise_ids:
            values = [self.identifier(v, name) for v in table.column(name).to_pylist()]
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
        return table, totals

    def rows(self, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Counter:
        """Redact text fields of plain rows in place (quarantined raw text, span input/output)."""
        totals: Counter = Counter()
        for row in rows:
            for name in fields:
                value = row.get(name)
                if value is None:
                    continue
                # Nested values are redacted as their JSON text: a placeholder never contains a
                # quote or backslash, so the text stays valid JSON.
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                redacted, found = self.text(text)
                if found:
                    row[name] = redacted
                    totals.update(found)
        return totals
