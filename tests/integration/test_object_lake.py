"""The lake on object storage, against a real S3 endpoint (moto_server on 127.0.0.1, started
and stopped here): a re-run replaces a partition whole, a writer killed with SIGKILL in the
middle of a write leaves nothing any reader picks up (and `sweep` removes what it left), a
reader running beside a writer never sees two versions mixed, and the warehouse is shared
through the lake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow as pa
import pytest

from assay.lake import Lake, connect_duckdb
from assay.object_lake import SUPERSEDED_GRACE_S
from assay.testing.object_store import ObjectStore

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([("version", pa.int64()), ("row", pa.int64())])
DAY = {"day": "2026-01-01"}


@pytest.fixture(scope="module")
def store():
    with ObjectStore() as store, pytest.MonkeyPatch.context() as patch:
        for key, value in store.environ().items():
            patch.setenv(key, value)
        yield store


@pytest.fixture
def lake(store, request):
    bucket = store.create_bucket(request.node.name.replace("_", "-")[:60].lower())
    return Lake(f"s3://{bucket}/lake")


def version_rows(version: int) -> pa.Table:
    rows = 100 * version
    return pa.table({"version": [version] * rows, "row": list(range(rows))}, schema=SCHEMA)


def committed(lake: Lake) -> list[tuple[int, int]]:
    """(version, rows) of what a DuckDB reader of the table's glob sees."""
    with connect_duckdb(lake.root) as con:
        return con.sql(f"select version, count(*) from read_parquet('{lake.glob('events')}') "
                       "where version is not null group by all order by all").fetchall()


def test_a_rerun_replaces_the_partition_whole(lake, store):
    lake.write_partition("events", version_rows(1), partition=DAY, schema=SCHEMA)
    lake.write_partition("events", version_rows(2), partition=DAY, schema=SCHEMA)
    assert lake.read_partition("events", DAY).column("version").unique().to_pylist() == [2]
    assert lake.read_partition("events", DAY).num_rows == 200
    assert committed(lake) == [(2, 200)]
    assert lake.partitions("events", "day") == ["2026-01-01"]
    # Nothing is ever overwritten in place: two attempts, one manifest naming the second.
    bucket = lake.root.path.split("/")[0]
    attempts = [k for k in store.keys(bucket) if k.endswith("/part.parquet") and "/day=" in k]
    assert len(attempts) == 2
    # The superseded attempt goes once no reader can still be in it; the committed one stays.
    assert lake.sweep() == []
    swept = lake.fs.sweep(lake.root.path, is_alive=lambda pid: True, now=time.time() + SUPERSEDED_GRACE_S + 60)
    assert len(swept) == 1
    assert lake.read_partition("events", DAY).num_rows == 200


WRITER = """
import os, sys
import pyarrow as pa
from assay.lake import Lake

lake = Lake(sys.argv[1])
schema = pa.schema([("version", pa.int64()), ("row", pa.int64()), ("blob", pa.binary())])
with lake.partition_writer("events", partition={"day": "2026-01-01"}, schema=schema) as writer:
    for batch in range(10_000):
        # 1 MiB of incompressible bytes per batch: the upload's first 8 MiB part goes early.
        writer.write(pa.table({"version": [9] * 64, "row": list(range(64)),
                               "blob": [os.urandom(16384) for _ in range(64)]}, schema=schema))
        if batch == 12:
            print("writing", flush=True)
"""


def test_a_writer_killed_mid_write_leaves_nothing_a_reader_picks_up(lake, store):
    lake.write_partition("events", version_rows(1), partition=DAY, schema=SCHEMA)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, f"s3://{lake.root.path}"],
                              stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert writer.stdout.readline().strip() == "writing"
        bucket, _, prefix = lake.root.path.partition("/")
        uploads = store.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert uploads, "the killed writer should be in the middle of a multipart upload"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    # Readers still see the committed version only, through pyarrow and through DuckDB.
    assert lake.read_partition("events", DAY).column("version").unique().to_pylist() == [1]
    assert committed(lake) == [(1, 100)]
    leftovers = [k for k in store.keys(bucket) if "_attempts" in k and k.endswith("_writer.json")]
    assert sum(f"-{writer.pid}-" in k and "/day=" in k for k in leftovers) == 1  # never committed
    removed = lake.sweep()
    assert len(removed) == 1 and str(writer.pid) in removed[0]
    assert not store.client().list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not any(f"-{writer.pid}-" in key and "/day=" in key for key in store.keys(bucket))
    assert committed(lake) == [(1, 100)]


def test_a_reader_beside_a_rewriting_writer_never_sees_versions_mixed(lake):
    lake.write_partition("events", version_rows(1), partition=DAY, schema=SCHEMA)
    done = threading.Event()
    seen: list[tuple[int, int]] = []
    failures: list[str] = []

    def read() -> None:
        reader = Lake(f"s3://{lake.root.path}")
        try:
            while not done.is_set():
                table = reader.read_partition("events", DAY)
                versions = table.column("version").unique().to_pylist()
                if len(versions) != 1 or table.num_rows != 100 * versions[0]:
                    failures.append(f"pyarrow read {versions} with {table.num_rows} rows")
                seen.append((versions[0], table.num_rows))
                # A connection per query, as assay's readers use them; and one held across
                # queries, which keeps reading the version it first saw.
                for con in (connect_duckdb(reader.root), held):
                    rows = con.sql(f"select version, count(*) from read_parquet('{reader.glob('events')}') "
                                   "where version is not null group by all").fetchall()
                    if len(rows) != 1 or rows[0][1] != 100 * rows[0][0]:
                        failures.append(f"DuckDB read {rows}")
                    seen_by_duckdb.append(rows[0][0])
        except Exception as exc:  # a reader that fails is a failure, not a thread that stops
            failures.append(f"reader raised {type(exc).__name__}: {exc}")

    held = connect_duckdb(lake.root)
    seen_by_duckdb: list[int] = []

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for version in range(2, 8):
            lake.write_partition("events", version_rows(version), partition=DAY, schema=SCHEMA)
            time.sleep(0.05)
    finally:
        done.set()
        thread.join()
    held.close()
    assert not failures, failures[:5]
    assert seen and {v for v, _ in seen} <= set(range(1, 8))
    assert seen_by_duckdb and set(seen_by_duckdb) <= set(range(1, 8))
    assert committed(lake) == [(7, 700)]


def test_the_warehouse_is_shared_through_the_lake(lake, tmp_path, monkeypatch):
    from assay.runtime import AssayHome
    from assay.warehouse_store import publish, pull_for_build

    monkeypatch.setenv("ASSAY_LAKE", f"s3://{lake.root.path}")
    monkeypatch.setenv("ASSAY_WAREHOUSE", "lake")
    builder, reader = AssayHome(tmp_path / "builder"), AssayHome(tmp_path / "reader")
    for home in (builder, reader):
        home.root.mkdir()
    assert reader.warehouse == reader.warehouse_build  # nothing published yet
    with duckdb.connect(str(builder.warehouse_build)) as con:
        con.execute("create table slo_daily as select 1 as day")
    first = publish(builder)
    with duckdb.connect(str(reader.warehouse), read_only=True) as con:
        assert con.sql("select count(*) from slo_daily").fetchall() == [(1,)]
    # Another machine builds next, on top of what was published (incremental marts continue).
    assert pull_for_build(reader) == first
    with duckdb.connect(str(reader.warehouse_build)) as con:
        con.execute("insert into slo_daily values (2)")
    second = publish(reader)
    assert second != first and pull_for_build(reader) is None
    with duckdb.connect(str(builder.warehouse), read_only=True) as con:
        assert con.sql("select count(*) from slo_daily").fetchall() == [(2,)]
