"""The Parquet lake: a partition write replaces atomically, leaves no temp files, and keeps a
zero-row schema file that readers skip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay.lake as lake_module
from assay.contracts._arrow import UTC_TIMESTAMP, rows_to_table
from assay.lake import PART_FILE, SCHEMA_PARTITION, Lake

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),
        ("ts", UTC_TIMESTAMP),
        ("latency_ms", pa.float64()),
        ("messages", pa.string()),
    ]
)


def _rows(prefix: str, n: int) -> list[dict]:
    return [
        {
            "call_id": f"{prefix}-{i}",
            "ts": datetime(2026, 11, 21, 12, i, tzinfo=UTC),
            "latency_ms": 100.0 + i,
            "messages": [{"role": "user", "content": f"question {i}"}],
        }
        for i in range(n)
    ]


def _write(lake: Lake, rows: list[dict], day: str = "2026-11-21"):
    return lake.write_partition(
        "calls", rows, partition={"day": day}, schema=SCHEMA, json_columns={"messages"}
    )


def _temp_files(lake: Lake) -> list[str]:
    return sorted(str(p) for p in lake.root.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".partial"))


def test_write_then_replace_a_partition(tmp_path):
    lake = Lake(tmp_path)
    first = _write(lake, _rows("old", 3))
    assert first == tmp_path / "calls" / "day=2026-11-21" / PART_FILE

    second = _write(lake, _rows("new", 2))
    assert second == first
    table = lake.read_partition("calls", {"day": "2026-11-21"})
    assert sorted(table.column("call_id").to_pylist()) == ["new-0", "new-1"]
    # One file per partition: a re-run replaced, it did not append.
    assert sorted(p.name for p in first.parent.iterdir()) == [PART_FILE]
    assert _temp_files(lake) == []


def test_partition_value_is_a_string_column_and_json_columns_are_text(tmp_path):
    lake = Lake(tmp_path)
    _write(lake, _rows("a", 2))
    table = lake.read_partition("calls", {"day": "2026-11-21"})
    assert table.schema.names == [*SCHEMA.names, "day"]
    assert table.schema.field("day").type == pa.string()
    assert table.column("day").to_pylist() == ["2026-11-21", "2026-11-21"]
    assert table.column("messages").to_pylist()[0] == '[{"content": "question 0", "role": "user"}]'
    assert table.schema.field("ts").type == UTC_TIMESTAMP


def test_arrow_table_input_is_cast_to_the_contract(tmp_path):
    lake = Lake(tmp_path)
    data = pa.table(
        {
            "messages": ["[]"],
            "latency_ms": pa.array([5], pa.int64()),
            "ts": pa.array([datetime(2026, 11, 21, tzinfo=UTC)], UTC_TIMESTAMP),
            "call_id": ["x"],
            "extra": [1],
        }
    )
    lake.write_partition("calls", data, partition={"day": "2026-11-21"}, schema=SCHEMA)
    table = lake.read_partition("calls", {"day": "2026-11-21"})
    assert table.schema.names == [*SCHEMA.names, "day"]
    assert table.column("latency_ms").to_pylist() == [5.0]


def test_schema_file_has_zero_rows_and_the_partition_column(tmp_path):
    lake = Lake(tmp_path)
    _write(lake, _rows("a", 2))
    schema_file = tmp_path / "calls" / SCHEMA_PARTITION / PART_FILE
    assert schema_file.exists()
    table = pq.read_table(schema_file)
    assert table.num_rows == 0
    assert table.schema.names == [*SCHEMA.names, "day"]
    # The lake glob covers it, so a DuckDB read over the glob never matches nothing.
    assert lake.glob("calls") == str(tmp_path / "calls" / "*" / PART_FILE)


def test_ensure_table_before_any_partition(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure_table("calls", SCHEMA, ["day"])
    table = pq.read_table(tmp_path / "calls" / SCHEMA_PARTITION / PART_FILE)
    assert table.num_rows == 0 and "day" in table.schema.names
    assert lake.read_table("calls") is None
    assert lake.partitions("calls", "day") == []


def test_read_table_reads_every_partition_and_skips_the_schema_file(tmp_path):
    lake = Lake(tmp_path)
    _write(lake, _rows("d1", 2), day="2026-11-20")
    _write(lake, _rows("d2", 3), day="2026-11-21")
    table = lake.read_table("calls")
    assert table.num_rows == 5
    assert sorted(set(table.column("day").to_pylist())) == ["2026-11-20", "2026-11-21"]


def test_partitions_lists_values_with_data_sorted(tmp_path):
    lake = Lake(tmp_path)
    assert lake.partitions("calls", "day") == []
    for day in ("2026-11-21", "2026-11-19", "2026-11-20"):
        _write(lake, _rows(day, 1), day=day)
    (tmp_path / "calls" / "day=2026-11-22").mkdir()  # a folder without data is not a partition
    assert lake.partitions("calls", "day") == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert lake.partitions("calls", "candidate") == []


def test_empty_partition_write_replaces_old_rows(tmp_path):
    lake = Lake(tmp_path)
    _write(lake, _rows("old", 3))
    _write(lake, [])
    table = lake.read_partition("calls", {"day": "2026-11-21"})
    assert table.num_rows == 0
    assert lake.read_table("calls").num_rows == 0


@pytest.mark.parametrize("value", ["../escape", "a/b", ".hidden"])
def test_unsafe_partition_values_are_refused(tmp_path, value):
    lake = Lake(tmp_path)
    with pytest.raises(ValueError, match="not a safe folder name"):
        _write(lake, _rows("a", 1), day=value)


def test_failed_conversion_leaves_previous_partition_intact(tmp_path):
    lake = Lake(tmp_path)
    target = _write(lake, _rows("old", 3))
    before = target.read_bytes()
    bad = _rows("new", 2)
    bad[1]["latency_ms"] = "fast"  # Arrow cannot make a float64 of this
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        _write(lake, bad)
    assert target.read_bytes() == before
    assert sorted(lake.read_partition("calls", {"day": "2026-11-21"}).column("call_id").to_pylist()) == [
        "old-0",
        "old-1",
        "old-2",
    ]
    assert _temp_files(lake) == []


def test_failure_while_writing_the_file_leaves_previous_partition_and_no_temp_file(
    tmp_path, monkeypatch
):
    lake = Lake(tmp_path)
    target = _write(lake, _rows("old", 3))
    before = target.read_bytes()
    real_write_table = pq.write_table

    def write_half_then_fail(table, where, **kwargs):
        real_write_table(table.slice(0, 1), where, **kwargs)  # a partial file on disk...
        raise OSError("disk full")  # ...then the write dies

    monkeypatch.setattr(lake_module.pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        _write(lake, _rows("new", 5))
    assert target.read_bytes() == before
    assert lake.read_partition("calls", {"day": "2026-11-21"}).num_rows == 3
    assert _temp_files(lake) == []


def test_partition_writer_streams_pieces_and_replaces_on_success(tmp_path):
    lake = Lake(tmp_path)
    first = rows_to_table(_rows("a", 3), SCHEMA, frozenset({"messages"}))
    with lake.partition_writer("calls", partition={"day": "2026-11-21"}, schema=SCHEMA) as writer:
        writer.write(first)
        writer.write(first.to_batches()[0].slice(0, 1))
        assert not (writer.path).exists()  # nothing visible before the block ends
    assert writer.rows == 4
    written = lake.read_partition("calls", {"day": "2026-11-21"})
    assert written.column("call_id").to_pylist() == ["a-0", "a-1", "a-2", "a-0"]
    assert written.column("day").to_pylist() == ["2026-11-21"] * 4
    assert pq.read_schema(tmp_path / "calls" / SCHEMA_PARTITION / PART_FILE).names == [*SCHEMA.names, "day"]

    with pytest.raises(RuntimeError):
        with lake.partition_writer("calls", partition={"day": "2026-11-21"}, schema=SCHEMA) as writer:
            writer.write(rows_to_table(_rows("b", 2), SCHEMA, frozenset({"messages"})))
            raise RuntimeError("failed midway")
    assert lake.read_partition("calls", {"day": "2026-11-21"}).equals(written)
    assert [p.name for p in (tmp_path / "calls" / "day=2026-11-21").iterdir()] == [PART_FILE]

    with lake.partition_writer("calls", partition={"day": "2026-11-22"}, schema=SCHEMA):
        pass
    empty = lake.read_partition("calls", {"day": "2026-11-22"})
    assert empty.num_rows == 0 and empty.column_names == [*SCHEMA.names, "day"]


# --- a writer killed mid-write (issue 23) ---------------------------------------------------

KILLED_WRITER = """
import os, signal, sys
from datetime import UTC, datetime
import pyarrow as pa
from assay.contracts._arrow import UTC_TIMESTAMP, rows_to_table
from assay.lake import Lake
schema = pa.schema([("call_id", pa.string()), ("ts", UTC_TIMESTAMP), ("latency_ms", pa.float64()), ("messages", pa.string())])
rows = [{"call_id": f"new-{i}", "ts": datetime(2026, 11, 21, tzinfo=UTC), "latency_ms": 1.0, "messages": "[]"} for i in range(50)]
with Lake(sys.argv[1]).partition_writer("calls", partition={"day": "2026-11-21"}, schema=schema) as writer:
    writer.write(rows_to_table(rows, schema, frozenset()))
    os.kill(os.getpid(), signal.SIGKILL)  # mid-write: the staged file has no footer yet
"""


def _dbt_source_sql(lake: Lake, table: str) -> str:
    """The dbt source's `external_location` for `table`, as dbt renders it for this lake."""
    import yaml

    sources = yaml.safe_load((ROOT / "dbt_project" / "models" / "staging" / "_sources.yml").read_text())
    location = sources["sources"][0]["meta"]["external_location"]
    import jinja2

    def env_var(name: str, default: str | None = None) -> str:
        return {"ASSAY_LAKE": str(lake.root)}.get(name, default)

    return jinja2.Template(location).render(env_var=env_var).replace("{name}", table)


def _every_reader_sees(lake: Lake) -> list[list[str]]:
    import duckdb

    return [
        sorted(lake.read_table("calls").column("call_id").to_pylist()),
        sorted(r[0] for r in duckdb.sql(f"select call_id from read_parquet('{lake.glob('calls')}')").fetchall()),
        sorted(r[0] for r in duckdb.sql(f"select call_id from {_dbt_source_sql(lake, 'calls')}").fetchall()),
    ]


def test_a_killed_writer_leaves_nothing_a_reader_sees_and_the_next_start_sweeps_it(tmp_path):
    import signal
    import subprocess
    import sys

    lake = Lake(tmp_path / "lake")
    _write(lake, _rows("old", 3))
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(lake.root)], cwd=ROOT, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    (leftover,) = _temp_files(lake)  # the killed writer's staged file, outside every table folder
    assert leftover.startswith(str(lake.staging_dir)) and leftover.endswith(".partial")
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(leftover)  # it really is half a Parquet file

    assert _every_reader_sees(lake) == [["old-0", "old-1", "old-2"]] * 3

    assert [str(p) for p in lake.sweep()] == [leftover]
    assert _temp_files(lake) == []


def test_sweep_keeps_the_files_of_a_live_writer_and_removes_earlier_versions_temp_files(tmp_path):
    from assay.lake import staged_path

    lake = Lake(tmp_path / "lake")
    _write(lake, _rows("old", 2))
    partition = lake.partition_dir("calls", {"day": "2026-11-21"})
    # An earlier version's leftover inside the partition folder: 4 bytes, no footer.
    legacy = partition / ".tmp-k2j3h4.parquet"
    legacy.write_bytes(b"PAR1")
    mine = staged_path(lake.staging_dir, "calls.day=2026-11-21.part.parquet")  # this live process's
    mine.write_bytes(b"PAR1")
    pointer_leftover = staged_path(partition, "_landing.json")
    pointer_leftover.write_text("{")

    assert _every_reader_sees(lake) == [["old-0", "old-1"]] * 3
    assert lake.sweep() == [legacy]
    assert mine.exists() and pointer_leftover.exists()  # their writer (this test) is alive


def test_staged_files_of_a_dead_pid_are_abandoned_and_other_hosts_only_when_stale(tmp_path):
    import os
    import time

    from assay.lake import STALE_PARTIAL_S, is_abandoned, staged_path, sweep_partial_files

    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    mine = staged_path(tmp_path, "report.md")
    ours_dead = tmp_path / mine.name.replace(f"-{os.getpid()}.", f"-{dead}.")
    other_host = tmp_path / f".report.md.elsewhere-{dead}.0a1b2c3d.partial"
    for path in (mine, ours_dead, other_host):
        path.write_text("half")
    assert [is_abandoned(p) for p in (mine, ours_dead, other_host)] == [False, True, False]
    assert is_abandoned(other_host, now=time.time() + STALE_PARTIAL_S + 60)
    assert sweep_partial_files(tmp_path) == [ours_dead]
