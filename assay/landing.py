"""Landing files by hand (`assay ingest`): each record goes to the day of its own timestamp.

The landing layout is `ASSAY_HOME/landing/<source>/<YYYY-MM-DD>/<file>`, one folder per day,
and a day's raw_calls partition reads exactly its folders. A log file usually spans days, so
landing splits it: a JSONL file's lines go, verbatim, to the day of the record on each line;
a line that cannot be dated (not JSON, no timestamp) goes with the dated line before it, so
it is quarantined beside its neighbours with its reason. A single JSON document (an OTLP
export, a Langfuse trace) is copied whole to the day of its earliest record.

Landing the same file again rewrites the same per-day files: re-ingesting is idempotent.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from assay.formats import is_jsonl_file, read_records, sniff_format
from assay.lake import atomic_write_text


@dataclass
class LandedFile:
    source_path: Path
    format: str
    files: dict[str, Path] = field(default_factory=dict)
    """Day -> the landing file written for it."""
    records_by_day: Counter = field(default_factory=Counter)


def _landed_name(path: Path, suffix: str) -> str:
    # The same file name from two folders must not overwrite each other's landing.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.stem}-{digest}{suffix}"


def land_file(
    path: Path, landing_root: Path, *, source: str = "manual", fmt: str | None = None, default_app: str, today: date
) -> LandedFile:
    fmt = fmt or sniff_format(path)
    day_of_offset: dict[int, str] = {}
    for item in read_records(path, fmt, default_app=default_app):
        record = item.call or item.span
        if record is not None and record.get("ts") is not None and item.offset not in day_of_offset:
            day_of_offset[item.offset] = record["ts"].date().isoformat()
    landed = LandedFile(path, fmt)
    if not is_jsonl_file(path):
        day = min(day_of_offset.values(), default=today.isoformat())
        target = landing_root / source / day / _landed_name(path, path.suffix or ".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        landed.files[day] = target
        landed.records_by_day[day] = max(len(day_of_offset), 1)
        return landed

    lines_by_day: dict[str, list[str]] = {}
    current = min(day_of_offset.values(), default=today.isoformat())
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            current = day_of_offset.get(line_no, current)
            lines_by_day.setdefault(current, []).append(line if line.endswith("\n") else line + "\n")
    for day, lines in sorted(lines_by_day.items()):
        target = landing_root / source / day / _landed_name(path, ".jsonl")
        text = "".join(lines).encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
        atomic_write_text(target, text)
        landed.files[day] = target
        landed.records_by_day[day] = len(lines)
    return landed
