"""The lake: one Parquet file per table partition, replaced atomically.

Layout: `<lake>/<table>/<key>=<value>/part.parquet`. A partition is written to a temporary
file in the same folder and renamed over the old one, so a reader sees the old partition or
the new one, never half of either, and a re-run replaces rather than appends. Each table also
holds a zero-row `_schema/part.parquet` so globs over the table always match at least one
file with the right columns (DuckDB errors on a glob that matches nothing).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from assay.contracts._arrow import rows_to_table

PART_FILE = "part.parquet"
SCHEMA_PARTITION = "_schema"


class Lake:
    def __init__(self, root: Path):
        self.root = Path(root)

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
        """A glob over every partition of a table (one level of partition folders)."""
        return str(self.table_dir(table) / "*" / "*.parquet")

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
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / PART_FILE
        _atomic_write_parquet(data, target)
        return target

    @contextmanager
    def partition_writer(
        self, table: str, *, partition: dict[str, str], schema: pa.Schema
    ) -> Iterator[PartitionWriter]:
        """Replace one partition with data written in pieces (`writer.write(table_or_batch)`),
        so a day larger than memory never has to be held at once.

        Same atomicity as `write_partition`: the pieces go to a temporary file in the
        partition's folder, renamed over the partition when the block exits normally and
        deleted if it raises. An empty block writes an empty partition. The partition values
        are appended as string columns, as in `write_partition`.
        """
        extra = [key for key in partition if key not in schema.names]
        stored = schema
        for key in extra:
            stored = stored.append(pa.field(key, pa.string()))
        self._ensure_schema_file(table, stored)
        target_dir = self.partition_dir(table, partition)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / PART_FILE
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target_dir)
        os.close(fd)
        writer = PartitionWriter(tmp_name, target, schema, stored, {key: partition[key] for key in extra})
        try:
            yield writer
            writer.close()
            os.replace(tmp_name, target)
        except BaseException:
            writer.close()
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def read_partition(self, table: str, partition: dict[str, str]) -> pa.Table | None:
        path = self.partition_dir(table, partition) / PART_FILE
        return pq.read_table(path) if path.exists() else None

    def partitions(self, table: str, key: str) -> list[str]:
        """Values of one partition key that have data, sorted."""
        prefix = f"{key}="
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
        files = sorted(table_dir.glob(f"*/{PART_FILE}")) if table_dir.exists() else []
        files = [f for f in files if f.parent.name != SCHEMA_PARTITION]
        if not files:
            return None
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    def _ensure_schema_file(self, table: str, schema: pa.Schema) -> None:
        path = self.table_dir(table) / SCHEMA_PARTITION / PART_FILE
        if path.exists() and pq.read_schema(path).equals(schema, check_metadata=False):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_parquet(schema.empty_table(), path)

    def ensure_table(self, table: str, schema: pa.Schema, partition_keys: Iterable[str]) -> None:
        """Create a table's schema file before any partition exists (dbt sources need it)."""
        for key in partition_keys:
            if key not in schema.names:
                schema = schema.append(pa.field(key, pa.string()))
        self._ensure_schema_file(table, schema)


class PartitionWriter:
    """Appends Arrow data to one partition's temporary Parquet file (see
    `Lake.partition_writer`); `rows` counts what was written, `path` is the partition file."""

    def __init__(self, tmp_name: str, target: Path, schema: pa.Schema, stored: pa.Schema, constants: dict[str, str]):
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
        data = data.select(self._schema.names).cast(self._schema)
        for key, value in self._constants.items():
            data = data.append_column(key, pa.array([value] * data.num_rows, pa.string()))
        self._writer.write_table(data)
        self.rows += data.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _atomic_write_parquet(data: pa.Table, target: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(data, tmp_name, compression="zstd")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small text file (report, pointer) by rename, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp_name, path)
