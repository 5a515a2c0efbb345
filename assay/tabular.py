"""Small tabular files people hand to assay (labels, recorded outputs, imported scores): CSV
with a header row, or JSONL. One reader, so every such file reports line numbers and bad rows
the same way."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def table_file_rows(path: Path, *, error: type[ValueError], what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each record of a .csv (header on line 1) or .jsonl/.ndjson file.

    A line that is not a JSON object, or an unknown suffix, raises `error` naming the file and
    line; `what` names the kind of file in that message ("label", "score", ...)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):  # line 1 is the header
                yield line, {k.strip(): v for k, v in row.items() if k is not None}
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{line}: not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise error(f"{path}:{line}: expected a JSON object, got {type(record).__name__}")
                yield line, record
    else:
        raise error(f"{path}: unknown {what} file type {path.suffix!r}; valid: .csv, .jsonl, .ndjson")
