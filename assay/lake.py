"""The lake: one Parquet file per table partition, replaced atomically.

Layout: `<lake>/<table>/<key>=<value>/part.parquet`. A partition is written to a staged file
in `<lake>/_staging/` and renamed over the old one, so a reader sees the old partition or the
new one, never half of either, and a re-run replaces rather than appends. Each table also
holds a zero-row `_schema/part.parquet` so globs over the table always match at least one
file with the right columns (DuckDB errors on a glob that matches nothing).

A writer killed mid-write (kill -9, out of memory) leaves its staged file behind. No reader
can see it: it lies outside every table folder, its name ends in `.partial`, and readers
(`Lake.glob`, the dbt sources, `read_table`) match only the committed name `part.parquet`,
which exists only by rename. `Lake.sweep()` (run when a run starts) deletes the leftovers of
writers that are gone: each staged name carries its writer's host and pid.

A lake on object storage (`storage.lake: s3://bucket/prefix`) has no rename: there each
partition is written to a unique attempt prefix and committed by one PUT of a small manifest
that readers follow (`assay.object_lake`). The same `Lake` methods work on both; paths of a
remote lake are `RemotePath`s (`assaylake://...`), which DuckDB reads on a connection from
`connect_duckdb` and dbt through its profile's plugin.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from assay.contracts._arrow import rows_to_table
from assay.object_lake import RemotePath, is_object_url

PART_FILE = "part.parquet"
SCHEMA_PARTITION = "_schema"
STAGING_DIR = "_staging"
"""Beside the tables: where partitions are written before the rename that commits them."""
PARTIAL_SUFFIX = ".partial"
"""The suffix of every file being written (Parquet or text): no reader pattern matches it."""
LEGACY_TEMP_PREFIX = ".tmp-"
"""What earlier versions named their temporary files, in the partition folder itself (a
killed one there broke every later run: DuckDB's globs include dot-files)."""
STALE_PARTIAL_S = 24 * 3600
"""A staged file of another host (whose pid cannot be checked) is deleted after this long."""


def _host() -> str:
    # The name is a file-name part: no dots (the separator) or slashes.
    return socket.gethostname().replace(".", "_").replace("/", "_") or "localhost"


def staged_path(directory: Path, name: str) -> Path:
    """A fresh staged-file path in `directory` for a file that will become `name`:
    `.<name>.<host>-<pid>.<random>.partial`."""
    return Path(directory) / f".{name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"


def _writer_of(path: Path) -> tuple[str, int] | None:
    """(host, pid) of the process that staged `path`, None when the name does not say."""
    parts = path.name.rsplit(".", 3)
    if len(parts) != 4 or "." + parts[3] != PARTIAL_SUFFIX:
        return None
    host, _, pid = parts[1].rpartition("-")
    return (host, int(pid)) if host and pid.isdigit() else None


def process_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the process's name (which may hold spaces), the
    state first (field 3 of proc(5)); None when the process has ended or there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_is_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (signal 0 probes, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_abandoned(path: Path, *, now: float | None = None) -> bool:
    """A staged `.partial` file whose writer is gone: of a dead pid on this host, or of
    another host (whose pids cannot be checked) once older than `STALE_PARTIAL_S`."""
    writer = _writer_of(path)
    if writer is None:
        return False
    host, pid = writer
    if host == _host():
        return not process_is_alive(pid)
    try:
        age_s = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age_s > STALE_PARTIAL_S


def sweep_partial_files(directory: Path, *, depth: int = 0, legacy: bool = False) -> list[Path]:
    """Delete the abandoned staged files (`is_abandoned`) in `directory` and, with `depth`,
    in its sub-folders that many levels down; with `legacy`, also every `.tmp-*` file (what
    earlier versions of the lake left; only the lake may be swept so: the LLM cache still
    names its own temporary files so). Returns what was deleted."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if depth > 0:
                removed += sweep_partial_files(path, depth=depth - 1, legacy=legacy)
        elif (legacy and entry.name.startswith(LEGACY_TEMP_PREFIX)) or (
            entry.name.endswith(PARTIAL_SUFFIX) and is_abandoned(path)
        ):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


LAKE_ENV = "ASSAY_LAKE"
"""Where the lake is when `storage.lake` says so (set by `load_config`; every process assay
starts, dbt included, inherits it). Unset: `<ASSAY_HOME>/lake`."""


def connect_duckdb(*paths: object, **kwargs: Any):
    """`duckdb.connect(**kwargs)` that can read the lake: with a lake on object storage
    (one of `paths` is remote, or the configured lake is), its committed view is registered
    on the connection (DuckDB 2.0's httpfs cannot be installed here; fsspec can). Meant for
    short reads: the connection sees each file as it was when the connection first read it."""
    import duckdb

    con = duckdb.connect(**kwargs)
    if any(isinstance(p, RemotePath) or is_object_url(p) for p in (*paths, os.environ.get(LAKE_ENV, ""))):
        from assay.committed_fs import committed_filesystem

        # Pinned: the connection reads each file as the version it first saw, whatever
        # commits land while it runs (see `CommittedFileSystem.pinned_view`).
        con.register_filesystem(committed_filesystem().pinned_view())
    return con


def read_parquet_file(path: Path | RemotePath, columns: list[str] | None = None) -> pa.Table:
    """One lake Parquet file, local or remote (raises FileNotFoundError when it is not there)."""
    if isinstance(path, RemotePath):
        with path.open("rb") as handle:
            return pq.read_table(handle, columns=columns)
    return pq.read_table(path, columns=columns)


class Lake:
    def __init__(self, root: Path | str | RemotePath):
        self.fs = None
        if isinstance(root, RemotePath):
            self.fs, self.root = root.fs, root
        elif is_object_url(root):
            from assay.committed_fs import committed_filesystem
            from assay.object_lake import reader_url

            self.fs = committed_filesystem()
            self.root = RemotePath(self.fs, reader_url(str(root)))
        else:
            self.root = Path(root)

    @property
    def is_remote(self) -> bool:
        """On object storage (attempt + manifest commits) rather than a local folder (renames)."""
        return self.fs is not None

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def partition_dir(self, table: str, partition: dict[str, str]) -> Path:
        path = self.table_dir(table)
        for key, value in partition.items():
            if "/" in value or value.startswith("."):
                raise ValueError(f"partition value {value!r} for {key!r} is not a safe folder name")
            path = path / f"{key}={value}"
        return path

    def glob(self, table: str) -> str:
        """A glob over every committed partition of a table (one level of partition folders):
        only the name a rename gives, so nothing being written can match."""
        return str(self.table_dir(table) / "*" / PART_FILE)

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING_DIR

    def _staged(self, table: str, partition_folder: str) -> Path:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return staged_path(self.staging_dir, f"{table}.{partition_folder}.{PART_FILE}")

    def sweep(self) -> list[Path]:
        """Delete what killed writers left: staged files and the temporary files of earlier
        versions inside table and partition folders (text files too: pointers, fingerprints).
        Safe while other processes write: a live writer's files are kept. On object storage:
        abandoned and superseded attempt prefixes (`CommittedFileSystem.sweep`)."""
        if self.fs is not None:
            return self.fs.sweep(self.root.path, is_alive=process_is_alive)
        removed = sweep_partial_files(self.staging_dir)
        try:
            tables = [entry.path for entry in os.scandir(self.root) if entry.is_dir() and entry.name != STAGING_DIR]
        except FileNotFoundError:
            return removed
        for table_dir in tables:
            removed += sweep_partial_files(Path(table_dir), depth=1, legacy=True)
        return removed

    def write_partition(
        self,
        table: str,
        data: pa.Table | list[dict[str, Any]],
        *,
        partition: dict[str, str],
        schema: pa.Schema,
        json_columns: Iterable[str] = (),
    ) -> Path:
        """Replace one partition with `data` (rows or an Arrow table in the contract schema).

        Partition values are also stored as columns (strings), so a reader of the glob
        knows each row's partition without parsing folder names.
        """
        if isinstance(data, list):
            data = rows_to_table(data, schema, frozenset(json_columns))
        else:
            data = data.select(schema.names).cast(schema)
        for key, value in partition.items():
            if key not in data.column_names:
                data = data.append_column(key, pa.array([value] * data.num_rows, pa.string()))
        self._ensure_schema_file(table, data.schema)
        target_dir = self.partition_dir(table, partition)
        target = target_dir / PART_FILE
        if self.fs is not None:
            _commit_remote_parquet(self.fs, data, target)
            return target
        target_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_parquet(data, target, self._staged(table, target_dir.name))
        return target

    @contextmanager
    def partition_writer(
        self, table: str, *, partition: dict[str, str], schema: pa.Schema
    ) -> Iterator[PartitionWriter]:
        """Replace one partition with data written in pieces (`writer.write(table_or_batch)`),
        so a day larger than memory never has to be held at once.

        Same atomicity as `write_partition`: the pieces go to a staged file, renamed over the
        partition when the block exits normally and deleted if it raises. An empty block
        writes an empty partition. The partition values are appended as string columns, as in
        `write_partition`.
        """
        extra = [key for key in partition if key not in schema.names]
        stored = schema
        for key in extra:
            stored = stored.append(pa.field(key, pa.string()))
        self._ensure_schema_file(table, stored)
        target_dir = self.partition_dir(table, partition)
        target = target_dir / PART_FILE
        constants = {key: partition[key] for key in extra}
        if self.fs is not None:
            # The attempt object is the staged file; its manifest commits it (assay.object_lake).
            sink = self.fs.open(target.path, "wb")
            writer = PartitionWriter(sink, target, schema, stored, constants)
            try:
                yield writer
            except BaseException:
                try:
                    writer.close()
                finally:
                    sink.discard()
                raise
            writer.close()
            sink.close()
            return
        target_dir.mkdir(parents=True, exist_ok=True)
        staged = self._staged(table, target_dir.name)
        writer = PartitionWriter(str(staged), target, schema, stored, constants)
        try:
            yield writer
            writer.close()
            _commit(staged, target)
        except BaseException:
            writer.close()
            staged.unlink(missing_ok=True)
            raise

    def read_partition(self, table: str, partition: dict[str, str]) -> pa.Table | None:
        path = self.partition_dir(table, partition) / PART_FILE
        if self.fs is not None:
            try:
                return read_parquet_file(path)
            except FileNotFoundError:
                return None
        return pq.read_table(path) if path.exists() else None

    def _committed_files(self, table: str, key: str = "*") -> list[RemotePath]:
        """The committed partition files of a remote table, sorted (what the manifests name)."""
        assert self.fs is not None
        pattern = f"{self.table_dir(table).path}/{key}/{PART_FILE}"
        return [RemotePath(self.fs, p) for p in sorted(self.fs.glob(pattern))]

    def partitions(self, table: str, key: str) -> list[str]:
        """Values of one partition key that have data, sorted."""
        prefix = f"{key}="
        if self.fs is not None:
            return sorted(p.parent.name[len(prefix) :] for p in self._committed_files(table, f"{prefix}*"))
        table_dir = self.table_dir(table)
        if not table_dir.exists():
            return []
        return sorted(
            p.name[len(prefix) :]
            for p in table_dir.iterdir()
            if p.name.startswith(prefix) and (p / PART_FILE).exists()
        )

    def read_table(self, table: str) -> pa.Table | None:
        """Every partition of a table in one Arrow table (None when nothing was written)."""
        table_dir = self.table_dir(table)
        if self.fs is not None:
            files = self._committed_files(table)
        else:
            files = sorted(table_dir.glob(f"*/{PART_FILE}")) if table_dir.exists() else []
        files = [f for f in files if f.parent.name != SCHEMA_PARTITION]
        if not files:
            return None
        return pa.concat_tables([read_parquet_file(f) for f in files], promote_options="default")

    def _ensure_schema_file(self, table: str, schema: pa.Schema) -> None:
        path = self.table_dir(table) / SCHEMA_PARTITION / PART_FILE
        if self.fs is not None:
            try:
                with path.open("rb") as handle:
                    if pq.read_schema(handle).equals(schema, check_metadata=False):
                        return
            except FileNotFoundError:
                pass
            _commit_remote_parquet(self.fs, schema.empty_table(), path)
            return
        if path.exists() and pq.read_schema(path).equals(schema, check_metadata=False):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_parquet(schema.empty_table(), path, self._staged(table, SCHEMA_PARTITION))

    def ensure_table(self, table: str, schema: pa.Schema, partition_keys: Iterable[str]) -> None:
        """Create a table's schema file before any partition exists (dbt sources need it)."""
        for key in partition_keys:
            if key not in schema.names:
                schema = schema.append(pa.field(key, pa.string()))
        self._ensure_schema_file(table, schema)


class PartitionWriter:
    """Appends Arrow data to one partition's temporary Parquet file (see
    `Lake.partition_writer`); `rows` counts what was written, `path` is the partition file."""

    def __init__(self, tmp_name: Any, target: Path | RemotePath, schema: pa.Schema, stored: pa.Schema, constants: dict[str, str]):
        self.path = target
        self.rows = 0
        self._schema = schema
        self._constants = constants
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(tmp_name, stored, compression="zstd")

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        if self._writer is None:
            raise ValueError("the partition writer is closed")
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        for missing in (f for f in self._schema if f.name not in data.column_names):
            # Rows kept from a partition written before a contract gained a field (fields are
            # only ever added): the new field is null for them.
            data = data.append_column(missing.name, pa.nulls(data.num_rows, missing.type))
        data = data.select(self._schema.names).cast(self._schema)
        for key, value in self._constants.items():
            data = data.append_column(key, pa.array([value] * data.num_rows, pa.string()))
        self._writer.write_table(data)
        self.rows += data.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _commit(staged: Path, target: Path) -> None:
    """Rename a finished staged file over its target. A table folder on another filesystem
    than the staging folder (a symlinked table) gets a second staged copy beside the target
    first: a rename never crosses filesystems, and the copy's name is as invisible."""
    try:
        os.replace(staged, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        local = staged_path(target.parent, target.name)
        try:
            with staged.open("rb") as source, local.open("wb") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            os.replace(local, target)
        finally:
            local.unlink(missing_ok=True)
            staged.unlink(missing_ok=True)


def _commit_remote_parquet(fs: Any, data: pa.Table, target: RemotePath) -> None:
    """Write one remote lake Parquet file: an attempt object, then its manifest (on success only)."""
    with fs.open(target.path, "wb") as sink:
        pq.write_table(data, sink, compression="zstd")


def _atomic_write_parquet(data: pa.Table, target: Path, staged: Path) -> None:
    try:
        pq.write_table(data, staged, compression="zstd")
        _commit(staged, target)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small text file (report, pointer) by rename, so readers never see half. The
    file being written is `.<name>.<host>-<pid>.<random>.partial` beside it: no reader's
    pattern matches that, and `sweep_partial_files` deletes it if its writer died. In a lake on
    object storage: one PUT, atomic as it is."""
    if isinstance(path, RemotePath):
        path.write_text(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_path(path.parent, path.name)
    try:
        with staged.open("w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
