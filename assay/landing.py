"""Landing files: each record goes to the day of its own timestamp, all of a file or none of it.

The landing layout is `ASSAY_HOME/landing/<source>/<YYYY-MM-DD>/<file>`, one folder per day,
and a day's raw_calls partition reads exactly its folders. Files get there two ways: dropped
into a day folder by hand or by a log shipper (the folder's day is then the file's day), or
landed by `assay ingest` / a watched source (`sources.<name>.watch`), which files each record
under its own day (`land_file`):

- A JSONL file whose records all fall on one day is copied as it is (gzip kept). One that spans
  days is split: each line goes, byte for byte, to the day of its record; a line that cannot
  be dated (not JSON, no timestamp) goes with the dated line before it, so it is quarantined
  beside its neighbours with its reason.
- A JSON document (an OTLP export, a Langfuse trace, a Phoenix span list) is copied whole to
  every day its records fall on; each day's run reads only that day's records from it.
- Beside every landed file, a hidden sidecar (`.<file>.landing.json`, `LandingNote`) names the
  user's original file and, for a split file, where each of its lines was in the original:
  rejected_calls gives the user's own file and line.
- A record with no timestamp of its own (a bare OTel attribute map, a span without a start
  time) is dated the day it lands, midnight UTC: today for `assay ingest`, the folder's day for
  a file dropped into a day folder. It is kept with `metadata.ts_assumed` and no latency, and
  counted (`undated`).
- The partitions run from the first partition day (`first_partition_day`) to today. A record
  dated outside them is landed in the nearest day (the first day, or today) and quarantined
  there with its reason; a file none of whose records falls inside them is refused.
- All or nothing: the file is read and checked in full, written to a staging folder beside
  the landing folder, and only then moved in. A file that cannot be landed (unknown format,
  empty, binary, damaged gzip, nothing in range) leaves landing/ as it was, and `LandingError`
  names the file and why.

Landing the same file again replaces what it landed before, in every day: re-ingesting is
idempotent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from assay.formats import (
    GZIP_ERRORS,
    UnknownFormatError,
    is_gzip,
    is_jsonl_file,
    iter_lines,
    open_bytes,
    read_records,
    sniff_format,
)

SIDECAR_SUFFIX = ".landing.json"
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


class LandingError(ValueError):
    """A file that cannot be landed; the message names it and says why."""


# --- which files and days are landed ---------------------------------------------------------


def is_landing_file(path: Path) -> bool:
    """A file the daily run reads: any visible file of a day folder (the format is told by
    content, so a `.log` or `.txt` export is read too, and a file nothing can read is
    quarantined with why rather than skipped). Hidden files (sidecars, editors' and
    assay's own temporary files) and files still being written (`.tmp`, `.part`, ...) are not."""
    name = path.name
    return not name.startswith((".", "_")) and not name.endswith(_IN_PROGRESS_SUFFIXES) and path.is_file()


def landing_files(landing_root: Path, day: date) -> list[Path]:
    """Files landed for `day` by any source, in a stable order."""
    return sorted(p for p in Path(landing_root).glob(f"*/{day.isoformat()}/*") if is_landing_file(p))


def landed_days(landing_root: Path) -> list[str]:
    """Days with a landing folder under any source (`<landing>/<source>/<YYYY-MM-DD>/`)."""
    days = set()
    for folder in Path(landing_root).glob("*/*"):
        try:
            days.add(date.fromisoformat(folder.name).isoformat())
        except ValueError:
            continue
    return sorted(days)


def first_partition_day(start_day: date | None, landing_root: Path, today: date) -> date:
    """The first day partition: `project.start_day` when set; else the earliest day landed so
    far (today when nothing has landed), so the UI lists days that can hold data rather than
    years of empty ones, and `assay ingest` of an older export moves it back."""
    if start_day is not None:
        return start_day
    days = landed_days(landing_root)
    return min(date.fromisoformat(days[0]), today) if days else today


def split_partition_days(days: Iterable[str], first_day: date, today: date) -> tuple[list[str], list[str]]:
    """(days that have a partition, days that do not): a landing folder dated before the
    first partition day or after today cannot be run, and the command that meets one says so
    rather than failing inside Dagster."""
    inside, outside = [], []
    for day in sorted(days):
        (inside if first_day.isoformat() <= day <= today.isoformat() else outside).append(day)
    return inside, outside


def configured_first_day(today: date | None = None) -> date:
    """`first_partition_day` for ASSAY_CONFIG and ASSAY_HOME as set now. A config that does
    not load counts as no start_day: the command that loads it reports why."""
    from assay.config import ConfigError, load_config
    from assay.runtime import AssayHome

    try:
        start_day = load_config().project.start_day
    except (ConfigError, OSError):
        start_day = None
    return first_partition_day(start_day, AssayHome.from_env().landing, today or datetime.now(UTC).date())


# --- the sidecar -----------------------------------------------------------------------------


@dataclass
class LandingNote:
    """What `land_file` knows about a landed file that the daily run needs."""

    original: str
    """The user's file, as given to `assay ingest` (absolute)."""
    shape: str
    """`lines` (JSONL, copied or split) or `document` (one JSON document, copied whole)."""
    days: list[str]
    """Every day the original was landed to."""
    default_day: str
    """The day given to records without a timestamp."""
    line_runs: list[tuple[int, int, int]] | None = None
    """For a split JSONL file: (first landed line, its line in the original, count) runs;
    None when the landed file's lines are the original's."""

    def original_line(self, landed_line: int) -> int:
        if not self.line_runs or landed_line <= 0:
            return landed_line
        starts = [run[0] for run in self.line_runs]
        index = bisect_right(starts, landed_line) - 1
        if index < 0:
            return landed_line
        first, original_first, count = self.line_runs[index]
        return original_first + (landed_line - first) if landed_line < first + count else landed_line

    def owner_day(self, record_day: str) -> str | None:
        """For a document copied to several days: the day whose copy takes a record dated
        `record_day` (None: no copy's day, so it is outside the partitions and the first
        copy quarantines it)."""
        return record_day if record_day in self.days else None

    @property
    def first_day(self) -> str:
        return self.days[0]


def sidecar_path(landed: Path) -> Path:
    return landed.with_name(f".{landed.name}{SIDECAR_SUFFIX}")


def read_note(landed: Path) -> LandingNote | None:
    """The sidecar of a landed file (None: dropped in by hand, or unreadable)."""
    try:
        data = json.loads(sidecar_path(landed).read_text(encoding="utf-8"))
        runs = data.get("line_runs")
        return LandingNote(
            original=str(data["original"]),
            shape=str(data["shape"]),
            days=[str(d) for d in data["days"]],
            default_day=str(data["default_day"]),
            line_runs=[(int(a), int(b), int(c)) for a, b, c in runs] if runs else None,
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


# --- landing a file --------------------------------------------------------------------------


@dataclass
class LandedFile:
    source_path: Path
    format: str
    files: dict[str, Path] = field(default_factory=dict)
    """Day -> the landing file written for it."""
    records_by_day: Counter = field(default_factory=Counter)
    calls: int = 0
    spans: int = 0
    rejected: int = 0
    """Records already known to be unreadable (more may be quarantined by the daily run)."""
    undated: int = 0
    """Records without a timestamp of their own, dated the landing day."""
    outside: int = 0
    """Records dated outside the partitions (quarantined by the daily run)."""


def _base_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return name or "file"


def _landed_name(path: Path, suffix: str) -> str:
    # The same file name from two folders must not overwrite each other's landing.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{_base_name(path)}-{digest}{suffix}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass
class _Reading:
    """One pass over a file: where each record goes, and what it holds."""

    day_of_offset: dict[int, str] = field(default_factory=dict)
    """Offset (line, or record index of a document) -> the day its first record is landed in."""
    in_range_days: set[str] = field(default_factory=set)
    outside_days: Counter = field(default_factory=Counter)
    """Record day -> count, for records outside the partitions."""
    items: int = 0


def land_file(
    path: Path,
    landing_root: Path,
    *,
    source: str = "manual",
    fmt: str | None = None,
    default_app: str,
    today: date,
    start_day: date | None = None,
) -> LandedFile:
    """Land one file by the rules of the module docstring; `LandingError` (naming the file)
    when it cannot be, with landing/ left as it was. `start_day` is `project.start_day`
    (None: no lower bound, the partitions start at the earliest landed day)."""
    path = Path(path)
    if not path.exists():
        raise LandingError(f"{path}: no such file")
    if path.is_dir():
        raise LandingError(f"{path}: is a directory, not a file (give the files in it, e.g. {path}/*.jsonl)")
    try:
        gz = is_gzip(path)
        if gz:
            _check_gzip(path)
        fmt = fmt or sniff_format(path)
    except UnknownFormatError as exc:
        raise LandingError(str(exc)) from None
    except OSError as exc:
        raise LandingError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    lines = is_jsonl_file(path)
    landed = LandedFile(path, fmt)
    reading = _read(path, fmt, landed, default_app=default_app, today=today, start_day=start_day)
    _check_landable(path, fmt, landed, reading, today=today, start_day=start_day)
    staged = _stage(path, landing_root, source, landed, reading, lines=lines, gz=gz, today=today)
    _move_in(staged, path, landing_root / source, landed)
    return landed


def _check_gzip(path: Path) -> None:
    try:
        with open_bytes(path) as handle:
            while handle.read(1 << 22):
                pass
    except GZIP_ERRORS as exc:
        raise LandingError(f"{path}: a damaged or incomplete gzip file ({exc}); nothing was landed") from None


def _read(
    path: Path, fmt: str, landed: LandedFile, *, default_app: str, today: date, start_day: date | None
) -> _Reading:
    reading = _Reading()
    low, high = start_day.isoformat() if start_day else None, today.isoformat()
    for item in read_records(path, fmt, default_app=default_app, default_ts=_midnight(today)):
        reading.items += 1
        record = item.call or item.span
        if record is None:
            landed.rejected += 1
            continue
        if item.call is not None:
            landed.calls += 1
            assumed = bool((item.call.get("metadata") or {}).get("ts_assumed"))
        else:
            landed.spans += 1
            assumed = bool((item.span.get("attributes") or {}).get("ts_assumed"))
        landed.undated += assumed
        day = record["ts"].date().isoformat()
        if low is not None and day < low:
            landed.outside += 1
            reading.outside_days[day] += 1
            day = low
        elif day > high:
            landed.outside += 1
            reading.outside_days[day] += 1
            day = high
        else:
            reading.in_range_days.add(day)
        reading.day_of_offset.setdefault(item.offset, day)
    return reading


def _check_landable(
    path: Path, fmt: str, landed: LandedFile, reading: _Reading, *, today: date, start_day: date | None
) -> None:
    if reading.items == 0:
        raise LandingError(f"{path}: no records in it (read as {fmt}: it holds no call, span or record to "
                           "quarantine); nothing was landed")
    if reading.in_range_days or not reading.outside_days:
        return
    earliest, latest = min(reading.outside_days), max(reading.outside_days)
    span = earliest if earliest == latest else f"{earliest}..{latest}"
    if start_day is not None and latest < start_day.isoformat():
        raise LandingError(f"{path}: every record is dated before project.start_day {start_day} ({span}); "
                           f"set `project: {{start_day: {earliest}}}` in assay.yaml to ingest it; nothing was landed")
    if earliest > today.isoformat():
        raise LandingError(f"{path}: every record is dated after today ({today}, UTC): {span}; "
                           "nothing was landed")
    raise LandingError(f"{path}: every record is dated outside the partitions ({start_day}..{today}): {span}; "
                       "nothing was landed")


@dataclass
class _Staged:
    folder: Path
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)
    """Day -> (staged file, landed name)."""


def _stage(
    path: Path, landing_root: Path, source: str, landed: LandedFile, reading: _Reading, *, lines: bool, gz: bool,
    today: date,
) -> _Staged:
    # Beside landing/ (same file system: the move in is a rename), never inside it.
    staging = Path(landing_root).parent / "tmp" / f"landing-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    staged = _Staged(staging)
    try:
        # The path as the user named it (absolute), not with symlinks resolved: messages and
        # `assay rejected` then name the file the user knows.
        note = {"original": os.path.abspath(path), "default_day": today.isoformat()}
        days = sorted(set(reading.day_of_offset.values())) or [today.isoformat()]
        if lines and len(days) > 1:
            _stage_split(path, staged, days, reading, note)
        else:
            suffix = (".jsonl" if lines else ".json") + (".gz" if gz else "")
            name = _landed_name(path, suffix)
            for day in days:
                target = staging / day / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                staged.files[day] = (target, name)
                _write_note(target, {**note, "shape": "lines" if lines else "document", "days": days})
        for day in days:
            landed.records_by_day[day] = sum(1 for d in reading.day_of_offset.values() if d == day)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staged


def _stage_split(path: Path, staged: _Staged, days: list[str], reading: _Reading, note: dict[str, Any]) -> None:
    """A JSONL file over several days: each line, byte for byte, to the day of its record."""
    name = _landed_name(path, ".jsonl")
    handles = {}
    runs: dict[str, list[list[int]]] = {day: [] for day in days}
    counts = dict.fromkeys(days, 0)
    current = min(reading.day_of_offset.values())
    try:
        for day in days:
            target = staged.folder / day / name
            target.parent.mkdir(parents=True, exist_ok=True)
            handles[day] = target.open("wb")
            staged.files[day] = (target, name)
        for line_no, line_bytes in iter_lines(path):
            if line_bytes is None or not line_bytes.strip():
                continue
            current = reading.day_of_offset.get(line_no, current)
            handles[current].write(line_bytes if line_bytes.endswith(b"\n") else line_bytes + b"\n")
            counts[current] += 1
            day_runs = runs[current]
            if day_runs and day_runs[-1][1] + day_runs[-1][2] == line_no:
                day_runs[-1][2] += 1
            else:
                day_runs.append([counts[current], line_no, 1])
    finally:
        for handle in handles.values():
            handle.close()
    for day in days:
        _write_note(staged.files[day][0], {**note, "shape": "lines", "days": days, "line_runs": runs[day]})


def _write_note(landed: Path, note: dict[str, Any]) -> None:
    sidecar_path(landed).write_text(json.dumps(note), encoding="utf-8")


def _move_in(staged: _Staged, path: Path, source_root: Path, landed: LandedFile) -> None:
    """Rename the staged files into place, then drop what an earlier landing of the same file
    left in days it no longer touches."""
    try:
        for day, (staged_file, name) in sorted(staged.files.items()):
            target = source_root / day / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(sidecar_path(staged_file), sidecar_path(target))
            os.replace(staged_file, target)
            landed.files[day] = target
        kept = set(landed.files.values())
        for old in _earlier_landings(source_root, _landed_name(path, "")):
            if old not in kept:
                old.unlink(missing_ok=True)
                sidecar_path(old).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staged.folder, ignore_errors=True)


def _earlier_landings(source_root: Path, stem: str) -> Iterable[Path]:
    """Files an earlier landing of the same original left (`<base>-<digest>.<ext>`)."""
    for candidate in source_root.glob(f"*/{stem}.*"):
        if candidate.is_file() and candidate.name[len(stem):] in (".jsonl", ".json", ".jsonl.gz", ".json.gz"):
            yield candidate


# --- watched sources: a folder a scheduled export is synced to -------------------------------

EXPORT_TABLES = ("observations_v2", "observations")
"""Langfuse's export tables assay lands, preferred first (`observations/` is the legacy
layout without trace fields; scores and traces are not call logs)."""


def watched_files(folder: Path) -> list[Path]:
    """The data files of a watched folder, in export order.

    A Langfuse blob-storage export folder (`<prefix><project-id>/`, with `manifests/`): the files
    of `observations_v2/` (else the legacy `observations/`) that a run's manifest lists. A run
    is complete only once its manifest is written, after all its files: a file without one is
    still uploading and waits. Without manifests: the files of `observations_v2/` (else
    `observations/`) if there is one, else every visible file under the folder."""
    folder = Path(folder)
    manifests = sorted((folder / "manifests").glob("*.json")) if (folder / "manifests").is_dir() else []
    if manifests:
        listed: list[Path] = []
        for manifest in manifests:
            listed.extend(_manifest_files(folder, manifest))
        table = next((t for t in EXPORT_TABLES if any(p.parent.name == t for p in listed)), None)
        return sorted({p for p in listed if p.parent.name == table}, key=lambda p: p.name)
    for table in EXPORT_TABLES:
        if (folder / table).is_dir():
            return sorted(p for p in (folder / table).iterdir() if is_landing_file(p))
    return sorted(p for p in folder.rglob("*") if is_landing_file(p) and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))


def _manifest_files(folder: Path, manifest: Path) -> list[Path]:
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8")).get("files") or []
    except (OSError, ValueError, AttributeError):
        return []  # a manifest still being synced: its run waits for the next look
    found = []
    for entry in entries:
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str):
            continue
        parts = Path(key).parts  # the bucket key carries the prefix; the local copy may not
        for start in range(len(parts)):
            candidate = folder.joinpath(*parts[start:])
            if candidate.is_file():
                found.append(candidate)
                break
    return found


def _watch_key(folder: Path, path: Path) -> tuple[str, list[int]]:
    stat = path.stat()
    return str(path.relative_to(folder)), [stat.st_size, stat.st_mtime_ns]


def new_watched_files(folder: Path, state_file: Path) -> list[Path]:
    """Files of a watched folder not landed yet, or changed since (size, mtime)."""
    try:
        seen = json.loads(Path(state_file).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        seen = {}
    fresh = []
    for path in watched_files(folder):
        name, signature = _watch_key(Path(folder), path)
        if seen.get(name) != signature:
            fresh.append(path)
    return fresh


def remember_watched(folder: Path, state_file: Path, landed: list[Path]) -> None:
    """Record files as landed (a file that failed is left out, so it is tried again)."""
    from assay.lake import atomic_write_text

    try:
        seen = json.loads(Path(state_file).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        seen = {}
    for path in landed:
        name, signature = _watch_key(Path(folder), path)
        seen[name] = signature
    atomic_write_text(Path(state_file), json.dumps(seen, indent=1, sort_keys=True))


def watch_state_file(home_root: Path, source: str) -> Path:
    """Which files of a source's watched folder were landed (ASSAY_HOME/state/watch/)."""
    return Path(home_root) / "state" / "watch" / f"{source}.json"


def land_new_watched(
    folder: Path,
    landing_root: Path,
    state_file: Path,
    *,
    source: str,
    fmt: str | None,
    default_app: str,
    today: date,
    start_day: date | None = None,
) -> tuple[list[LandedFile], list[str]]:
    """Land what is new in a watched folder, oldest export first: (landed files, one error
    line per file that could not be landed; it is tried again next time)."""
    if not Path(folder).is_dir():
        return [], [f"{folder}: the watched folder of source {source!r} does not exist"]
    landed, errors, done = [], [], []
    for path in new_watched_files(folder, state_file):
        try:
            landed.append(land_file(path, landing_root, source=source, fmt=fmt, default_app=default_app,
                                    today=today, start_day=start_day))
            done.append(path)
        except LandingError as exc:
            errors.append(str(exc))
    if done:
        remember_watched(folder, state_file, done)
    return landed, errors
