"""The warehouse shared through the lake (`storage.warehouse: lake`).

DuckDB lets one process write a database file and no other open it meanwhile, and a file on
object storage cannot be opened in place at all (DuckDB 2.0 has no httpfs here). So the marts
stay one DuckDB file, built by dbt on whichever machine runs the `slo_marts` step (the
instance-wide `warehouse` pool lets one build run at a time), and are shared as a published
copy:

- `pull_for_build` (before dbt): the build file becomes the latest published copy unless it
  already is, so incremental marts continue from what the last build, anywhere, left;
- `publish` (after dbt): the build file is written to `<lake>/_warehouse/warehouse.duckdb`
  as a partition is, attempt + manifest on object storage (one PUT commits it), staged file
  + rename in a local folder: readers see the old copy or the new one, never half;
- `reading_path` (every reader: workers, the UI, `assay gate`, reports): the local copy of the
  latest published version, fetched once per version into `<ASSAY_HOME>/cache/warehouse/`
  and opened read-only there. A reader asks the store only for the manifest (one small GET)
  when it already holds that version.

docs/architecture.md ("Storage") says why not marts as Parquet in the lake, and what each
step measured.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from assay.lake import Lake, staged_path

if TYPE_CHECKING:
    from assay.runtime import AssayHome

PUBLISHED_DIR = "_warehouse"
PUBLISHED_FILE = "warehouse.duckdb"
VERSION_FILE = "warehouse.version"
"""Beside the build file: which published version it holds (empty: built here, unpublished)."""
CACHE_KEEP = 3
"""Fetched versions kept per machine (a reader may still have an older one open)."""
CHUNK_BYTES = 8 * 1024 * 1024


def _lake(home: AssayHome) -> Lake:
    return Lake(home.lake)


def _published(lake: Lake):
    return lake.root / PUBLISHED_DIR / PUBLISHED_FILE


def published_version(home: AssayHome, lake: Lake | None = None) -> str | None:
    """The latest published version (attempt id on object storage, mtime in a folder)."""
    lake = lake or _lake(home)
    target = _published(lake)
    try:
        if lake.is_remote:
            return lake.fs.info(target.path)["attempt"]
        return str(target.stat().st_mtime_ns)
    except FileNotFoundError:
        return None


def _copy(source, destination: Path) -> None:
    """Copy a file (local or a remote handle's path) to `destination` by staged file + rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_path(destination.parent, destination.name)
    try:
        with source.open("rb") as src, staged.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_BYTES)
        os.replace(staged, destination)
    finally:
        staged.unlink(missing_ok=True)


def _checkpointed(build: Path) -> None:
    # dbt closes its connection, which checkpoints; a leftover WAL (a killed build) is folded
    # in first, or the published copy would miss what the WAL holds.
    if build.with_name(build.name + ".wal").exists():
        import duckdb

        with duckdb.connect(str(build)) as con:
            con.execute("CHECKPOINT")


def publish(home: AssayHome) -> str | None:
    """After a dbt build: publish the build file (the version it becomes, None if no file)."""
    build = home.warehouse_build
    if not build.exists():
        return None
    _checkpointed(build)
    lake = _lake(home)
    target = _published(lake)
    if lake.is_remote:
        with build.open("rb") as src, lake.fs.open(target.path, "wb") as sink:
            shutil.copyfileobj(src, sink, CHUNK_BYTES)
            version = sink.attempt
        # This machine already holds that version: seed the readers' cache with it.
        _copy(build, _cache_dir(home) / f"{version}.duckdb")
    else:
        _copy(build, target)
        version = str(target.stat().st_mtime_ns)
    (home.root / VERSION_FILE).write_text(version)
    return version


def pull_for_build(home: AssayHome) -> str | None:
    """Before a dbt build: make the build file the latest published version (no-op when it is
    that version already, or when nothing was published yet). Returns the version pulled."""
    lake = _lake(home)
    version = published_version(home, lake)
    marker = home.root / VERSION_FILE
    held = marker.read_text().strip() if marker.exists() else None
    if version is None or version == held:
        return None
    source = reading_path(home) if lake.is_remote else _published(lake)
    _copy(source, home.warehouse_build)
    home.warehouse_build.with_name(home.warehouse_build.name + ".wal").unlink(missing_ok=True)
    marker.write_text(version)
    return version


def _cache_dir(home: AssayHome) -> Path:
    return home.root / "cache" / "warehouse"


def reading_path(home: AssayHome) -> Path:
    """The warehouse file a reader opens (read-only): the latest published version, fetched
    to this machine's cache once; the build file while nothing is published."""
    lake = _lake(home)
    if not lake.is_remote:
        target = _published(lake)
        return target if target.exists() else home.warehouse_build
    try:
        info = lake.fs.info(_published(lake).path)
    except FileNotFoundError:
        return home.warehouse_build
    cache = _cache_dir(home)
    local = cache / f"{info['attempt']}.duckdb"
    if not local.exists():
        cache.mkdir(parents=True, exist_ok=True)
        staged = staged_path(cache, local.name)
        try:
            lake.fs.s3.get_file(info["object"], str(staged))
            os.replace(staged, local)
        finally:
            staged.unlink(missing_ok=True)
        # Older versions go (newest kept); one still open elsewhere stays readable (POSIX).
        for old in sorted(cache.glob("*.duckdb"), key=lambda p: p.stat().st_mtime)[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)
    return local
