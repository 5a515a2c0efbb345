"""Landing files by hand: each record to the day of its own timestamp, verbatim, idempotent,
all of a file or none of it."""

import gzip
import json
from datetime import date

import pytest

from assay.formats import FORMATS
from assay.landing import LandingError, first_partition_day, land_file, landed_days, read_note
from tests.unit.test_formats import langfuse_export
from tests.unit.trace_samples import observation_rows, write_shape

TODAY = date(2026, 11, 22)


def _native(call_id: str, ts: str) -> str:
    return json.dumps({"call_id": call_id, "ts": ts, "app": "a", "feature": "f", "model": "m"})


def test_a_jsonl_file_is_split_by_day_verbatim(tmp_path):
    lines = [
        _native("a", "2026-11-19T23:59:59Z"),
        "{not json at all",  # undated: travels with the line before it
        _native("b", "2026-11-20T00:00:01Z"),
        _native("c", "2026-11-20T08:00:00+02:00"),  # 06:00 UTC: still the 20th
    ]
    source = tmp_path / "calls.jsonl"
    source.write_text("\n".join(lines) + "\n")
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert landed.format == "assay_jsonl"
    assert sorted(landed.files) == ["2026-11-19", "2026-11-20"]
    assert landed.files["2026-11-19"].read_text().splitlines() == lines[:2]
    assert landed.files["2026-11-20"].read_text().splitlines() == lines[2:]
    assert all(p.parent.parent.name == "manual" for p in landed.files.values())


def test_landing_the_same_file_again_rewrites_rather_than_appends(tmp_path):
    source = tmp_path / "calls.jsonl"
    source.write_text(_native("a", "2026-11-19T10:00:00Z") + "\n")
    first = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    second = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert first.files == second.files
    assert len(first.files["2026-11-19"].read_text().splitlines()) == 1


def test_same_name_from_two_folders_does_not_collide(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "calls.jsonl").write_text(_native(folder, "2026-11-19T10:00:00Z") + "\n")
    a = land_file(tmp_path / "x" / "calls.jsonl", tmp_path / "landing", default_app="a", today=TODAY)
    b = land_file(tmp_path / "y" / "calls.jsonl", tmp_path / "landing", default_app="a", today=TODAY)
    assert a.files["2026-11-19"] != b.files["2026-11-19"]


def test_a_json_document_goes_whole_to_its_earliest_day(tmp_path):
    source = tmp_path / "trace.json"
    source.write_text(json.dumps(langfuse_export(), indent=2))
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert landed.format == "langfuse"
    (day,) = landed.files
    assert landed.files[day].read_text() == source.read_text()


def test_cli_and_config_formats_match_the_adapters(capsys):
    import typing

    from assay.orchestration.cli import main

    from assay.config import SourceFormat

    # The CLI spells the formats out (so `--help` loads no adapter): its refusal lists them.
    assert main(["ingest", "--format", "no-such-format", "x.jsonl"]) == 1
    listed = capsys.readouterr().err.strip().rsplit("valid formats: ", 1)[1].split(", ")
    assert listed == list(FORMATS)
    assert list(typing.get_args(SourceFormat)) == list(FORMATS)


# --- what landing keeps: the user's lines, every day of a document, all or nothing ------------


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_a_split_file_remembers_the_users_file_and_lines(tmp_path):
    lines = [
        _native("a", "2026-11-19T10:00:00Z"),
        _native("b", "2026-11-20T10:00:00Z"),
        "",  # blank: not a record
        "{truncated",  # travels with line 2's day
        _native("c", "2026-11-19T11:00:00Z"),
    ]
    source = tmp_path / "calls.jsonl"
    source.write_text("\n".join(lines) + "\n")
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    first, second = landed.files["2026-11-19"], landed.files["2026-11-20"]
    assert first.read_text().splitlines() == [lines[0], lines[4]]
    assert second.read_text().splitlines() == [lines[1], lines[3]]
    note = read_note(first)
    assert note.original == str(source.resolve()) and note.days == ["2026-11-19", "2026-11-20"]
    assert [note.original_line(n) for n in (1, 2)] == [1, 5]
    assert [read_note(second).original_line(n) for n in (1, 2)] == [2, 4]


def test_a_one_day_file_is_copied_as_it_is_gzip_kept(tmp_path):
    source = tmp_path / "calls.jsonl.gz"
    source.write_bytes(gzip.compress((_native("a", "2026-11-19T10:00:00Z") + "\n").encode()))
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    (target,) = landed.files.values()
    assert target.name.endswith(".jsonl.gz") and target.read_bytes() == source.read_bytes()
    assert read_note(target).line_runs is None


def test_a_document_over_several_days_is_copied_to_each(tmp_path):
    rows = observation_rows()
    rows[2] = rows[2] | {"start_time": "2025-03-02 00:00:01.000000", "end_time": "2025-03-02 00:00:02.000000"}
    source = write_shape(tmp_path, "export", rows, "json-pretty")
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert sorted(landed.files) == ["2025-03-01", "2025-03-02"]
    for target in landed.files.values():
        assert target.read_bytes() == source.read_bytes()
        assert read_note(target).shape == "document" and read_note(target).days == ["2025-03-01", "2025-03-02"]


def test_undated_records_land_today_and_are_counted(tmp_path):
    from tests.unit.test_formats import genai_attributes

    source = tmp_path / "span.json"
    source.write_text(json.dumps(genai_attributes()))
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert list(landed.files) == [TODAY.isoformat()]
    assert (landed.calls, landed.undated) == (1, 1)
    assert read_note(landed.files[TODAY.isoformat()]).default_day == TODAY.isoformat()


def test_records_outside_the_partitions_land_at_the_edge_to_be_quarantined(tmp_path):
    source = tmp_path / "calls.jsonl"
    source.write_text("\n".join([
        _native("old", "2024-12-31T23:00:00Z"),
        _native("in", "2025-01-02T10:00:00Z"),
        _native("future", "2026-11-30T10:00:00Z"),
    ]) + "\n")
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY, start_day=date(2025, 1, 1))
    assert sorted(landed.files) == ["2025-01-01", "2025-01-02", TODAY.isoformat()]
    assert landed.outside == 2


@pytest.mark.parametrize("case", ["before_start_day", "future", "empty", "binary", "directory", "missing",
                                  "damaged_gzip", "nothing_in_it"])
def test_a_file_that_cannot_be_landed_leaves_nothing(tmp_path, case):
    landing = tmp_path / "home" / "landing"
    land_file(_write(tmp_path / "ok.jsonl", [_native("a", "2026-11-19T10:00:00Z")]), landing, default_app="a",
              today=TODAY)
    before = _tree(tmp_path / "home")
    path = tmp_path / f"{case}.jsonl"
    expected = {
        "before_start_day": "every record is dated before project.start_day 2025-01-01",
        "future": "every record is dated after today",
        "empty": "the file is empty",
        "binary": "a binary file, not JSON text",
        "directory": "is a directory, not a file",
        "missing": "no such file",
        "damaged_gzip": "a damaged or incomplete gzip file",
        "nothing_in_it": "no records in it",
    }[case]
    if case == "before_start_day":
        _write(path, [_native("x", "2024-06-01T10:00:00Z"), _native("y", "2024-06-02T10:00:00Z")])
    elif case == "future":
        _write(path, [_native("x", "2027-01-01T10:00:00Z")])
    elif case == "empty":
        path.write_text("")
    elif case == "binary":
        path.write_bytes(b"\x00\x01PK\x03\x04" * 200)
    elif case == "directory":
        path.mkdir()
    elif case == "damaged_gzip":
        whole = gzip.compress((_native("x", "2026-11-19T10:00:00Z") + "\n").encode() * 50)
        path.write_bytes(whole[:-20])
    elif case == "nothing_in_it":
        path.write_text(json.dumps({"resourceSpans": []}))
    with pytest.raises(LandingError) as error:
        land_file(path, landing, default_app="a", today=TODAY, start_day=date(2025, 1, 1))
    message = str(error.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert _tree(tmp_path / "home") == before  # landing/ as it was, no staging left behind


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_landing_again_drops_days_the_file_no_longer_touches(tmp_path):
    source = _write(tmp_path / "calls.jsonl", [_native("a", "2026-11-19T10:00:00Z"), _native("b", "2026-11-20T10:00:00Z")])
    landing = tmp_path / "landing"
    land_file(source, landing, default_app="a", today=TODAY)
    _write(source, [_native("b", "2026-11-20T10:00:00Z")])
    again = land_file(source, landing, default_app="a", today=TODAY)
    assert list(again.files) == ["2026-11-20"]
    assert not list((landing / "manual" / "2026-11-19").iterdir())


def test_first_partition_day(tmp_path):
    landing = tmp_path / "landing"
    assert first_partition_day(None, landing, TODAY) == TODAY  # nothing landed: no empty past
    (landing / "otel" / "2025-06-11").mkdir(parents=True)
    (landing / "manual" / "2025-08-22").mkdir(parents=True)
    (landing / "manual" / "notes").mkdir(parents=True)
    assert landed_days(landing) == ["2025-06-11", "2025-08-22"]
    assert first_partition_day(None, landing, TODAY) == date(2025, 6, 11)
    assert first_partition_day(date(2025, 1, 1), landing, TODAY) == date(2025, 1, 1)


@pytest.mark.parametrize("shape", ["jsonl", "json-pretty", "jsonl.gz", "json.gz"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_landed_by_hand_then_read_by_day_gives_every_call(tmp_path, fmt, shape):
    """What `assay ingest FILE` does before Dagster runs the days: land, then the day's read."""
    from assay.assets.day_ingest import ingest_day

    from tests.unit.trace_samples import SAMPLES

    make, calls, spans = SAMPLES[fmt]
    landed = land_file(write_shape(tmp_path, "export", make(), shape), tmp_path / "landing", default_app="shop",
                       today=TODAY)
    assert (landed.calls, landed.spans) == (calls, spans)
    (day,) = landed.files
    ingested = ingest_day(tmp_path / "landing", date.fromisoformat(day), default_app="shop")
    assert (ingested.call_count, ingested.span_count, ingested.rejected) == (calls, spans, [])
