"""Why records were quarantined: `rejected_calls` summarised for `assay rejected`.

Rows are grouped by the kind of their reason (the reason with its specifics, such as values,
ids, times and numbers, taken out, so "duplicate call_id 'a'" and "duplicate call_id 'b'"
count together), largest group first, each with a few examples located as `file:line` in the
user's own file: a file `assay ingest` landed is named as the user gave it (its landing
sidecar), with the line it had there; a file dropped into landing/ by its landing path. Line
0 means the whole file (it could not be read as records at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.lake import Lake
from assay.landing import read_note

_SPECIFICS = (
    (re.compile(r"\(first at [^)]*\)"), "(first at …)"),
    (re.compile(r"^[^\s:]*/[^\s:]*: "), "<file>: "),
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r'"[^"]*"'), '"…"'),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}[\d:.]*(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<day>"),
    (re.compile(r"\b(observation|span) [^\s:]+:"), r"\1 …:"),
    (re.compile(r"(?<![\w`])\d+(?:\.\d+)?\b"), "N"),
)


def reason_kind(reason: str) -> str:
    """A reason without its specifics: what equal causes have in common."""
    text = reason or "unknown"
    for pattern, replacement in _SPECIFICS:
        text = pattern.sub(replacement, text)
    return text


@dataclass
class Example:
    where: str
    reason: str
    raw: str


@dataclass
class ReasonGroup:
    kind: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)


@dataclass
class RejectedSummary:
    days: list[str]
    """The days looked at."""
    days_with_rows: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    total: int = 0
    groups: list[ReasonGroup] = field(default_factory=list)


def summarise(
    lake: Lake, landing_root: Path, *, days: list[str] | None = None, file: str | None = None, examples: int = 3
) -> RejectedSummary:
    """Rejected rows of `days` (default: every ingested day), of the files matching `file`
    (a substring of the landing path or of the original file's path), grouped by reason."""
    days = days or lake.partitions("rejected_calls", "day")
    summary = RejectedSummary(days=days)
    groups: dict[str, ReasonGroup] = {}
    originals: dict[str, str | None] = {}
    for day in days:
        table = lake.read_partition("rejected_calls", {"day": day})
        if table is None:
            continue
        for row in table.select(["source_file", "source_offset", "reason", "raw"]).to_pylist():
            source_file = row["source_file"] or ""
            if source_file not in originals:
                note = read_note(Path(landing_root) / source_file) if source_file else None
                originals[source_file] = note.original if note else None
            original = originals[source_file]
            if file and file not in source_file and (original is None or file not in original):
                continue
            shown = original or source_file
            if not summary.days_with_rows or summary.days_with_rows[-1] != day:
                summary.days_with_rows.append(day)
            summary.total += 1
            summary.files.add(shown)
            kind = reason_kind(row["reason"])
            group = groups.setdefault(kind, ReasonGroup(kind))
            group.count += 1
            if len(group.examples) < examples:
                group.examples.append(Example(f"{shown}:{row['source_offset']}", row["reason"] or "", row["raw"] or ""))
    summary.groups = sorted(groups.values(), key=lambda g: (-g.count, g.kind))
    return summary


def format_summary(summary: RejectedSummary, *, width: int = 100) -> list[str]:
    """The summary as the lines `assay rejected` prints."""
    if summary.total == 0:
        return []
    days = summary.days_with_rows
    span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    lines = [f"{summary.total} rejected record(s) in {len(summary.files)} file(s), days {span}", ""]
    for group in summary.groups:
        lines.append(f"{group.count:>6}  {_clip(group.kind, width + 20)}")
        for example in group.examples:
            lines.append(f"        {example.where}: {_clip(example.reason, width)}")
            if example.raw:
                lines.append(f"          {_clip(example.raw, width)}")
    return lines


def _clip(text: Any, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
