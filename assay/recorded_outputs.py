"""Recorded candidates: outputs produced elsewhere (another team's system, a vendor's batch
run, a human-written gold answer set), read from a file instead of replayed through a model.

A file is JSONL (one object a line) or CSV (header row). Each row names its subject by
`case_id` (or `call_id` for a shadow run over production calls) or by `input` (the last user
message's text), and gives `output`; optional `latency_ms`, `input_tokens`, `output_tokens`,
`cost_usd` (left out: unknown, never $0). A bad row is an error naming the file, line and key; a
subject no row answers is a missing output (`skipped`, error type `missing_output`), never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.llm.engine import LLMResult
from assay.outcomes import MISSING_OUTPUT
from assay.tabular import table_file_rows

ID_KEYS = ("case_id", "call_id", "subject_id")
INPUT_KEYS = ("input", "input_text")
OUTPUT_KEYS = ("output", "output_text")
NUMERIC_KEYS = {"latency_ms": float, "input_tokens": int, "output_tokens": int, "cost_usd": float}


class RecordedFileError(ValueError):
    """A recorded-outputs file cannot be read: names the file, line and key."""


@dataclass
class RecordedOutputs:
    path: Path
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_input: dict[str, dict[str, Any]] = field(default_factory=dict)

    def result_for(self, subject_id: str, input_text: str | None) -> LLMResult:
        row = self.by_id.get(subject_id)
        if row is None and input_text is not None:
            row = self.by_input.get(_normal(input_text))
        if row is None:
            return LLMResult(
                status="skipped",
                error_type=MISSING_OUTPUT,
                error_message=f"no row for this subject in {self.path.name} (by id or input text)",
            )
        return LLMResult(
            status="completed",
            text=row["output"],
            finish_reason="stop",
            latency_ms=row.get("latency_ms"),
            input_tokens=row.get("input_tokens"),
            output_tokens=row.get("output_tokens"),
            # Absent means unknown, never free: the cost gate is then `unavailable`.
            cost_usd=row.get("cost_usd"),
        )


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    return table_file_rows(path, error=RecordedFileError, what="recorded-outputs")


def read_recorded_outputs(path: Path | str) -> RecordedOutputs:
    path = Path(path)
    if not path.is_file():
        raise RecordedFileError(f"{path}: recorded-outputs file not found")
    recorded = RecordedOutputs(path)
    for line, record in _records(path):
        where = f"{path}:{line}"
        subject = next((str(record[k]).strip() for k in ID_KEYS if record.get(k) not in (None, "")), None)
        input_text = next((record[k] for k in INPUT_KEYS if record.get(k) not in (None, "")), None)
        if subject is None and input_text is None:
            raise RecordedFileError(f"{where}: no subject; give one of the keys {', '.join(ID_KEYS + INPUT_KEYS)}")
        output_key = next((k for k in OUTPUT_KEYS if k in record), None)
        if output_key is None or record[output_key] is None:
            raise RecordedFileError(f"{where}: no output; give the key `output` (text)")
        row: dict[str, Any] = {"output": str(record[output_key])}
        for key, kind in NUMERIC_KEYS.items():
            raw = record.get(key)
            if raw in (None, ""):
                continue
            try:
                value = kind(float(raw)) if kind is int else kind(raw)
            except (TypeError, ValueError):
                raise RecordedFileError(f"{where}: key `{key}`: {raw!r} is not a number") from None
            if value < 0:
                raise RecordedFileError(f"{where}: key `{key}`: must be >= 0, got {raw!r}")
            row[key] = value
        if subject is not None:
            if subject in recorded.by_id:
                raise RecordedFileError(f"{where}: subject {subject!r} appears twice (first on an earlier line)")
            recorded.by_id[subject] = row
        if input_text is not None:
            recorded.by_input.setdefault(_normal(input_text), row)
    if not recorded.by_id and not recorded.by_input:
        raise RecordedFileError(f"{path}: no rows")
    return recorded


def resolve_recorded_path(recorded: str, config_file: Path | str) -> Path:
    """A relative `recorded:` path is taken from the config file's folder."""
    path = Path(recorded).expanduser()
    return path if path.is_absolute() else Path(config_file).resolve().parent / path
