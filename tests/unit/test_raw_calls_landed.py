"""The daily read of landing/: any file shape dropped into a day folder ingests every call;
files `assay ingest` landed keep the user's line numbers and each record's own day; nothing is
silently skipped; overlapping Langfuse exports give each observation once."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest
from assay.assets.day_ingest import DayBounds, ingest_day

from assay.landing import land_file
from tests.unit.test_formats import genai_attributes
from tests.unit.trace_samples import SAMPLES, SHAPES, observation_rows, write_shape

DAY = date(2025, 3, 1)
TODAY = date(2025, 3, 10)


def _drop(landing, source: str, day: date, path):
    folder = landing / source / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.move(str(path), folder / path.name)


def _native(call_id: str, ts: str) -> str:
    return json.dumps({"call_id": call_id, "ts": ts, "app": "a", "feature": "f", "model": "m"})


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_any_format_and_shape_dropped_into_a_day_folder_ingests(tmp_path, fmt, shape):
    make, calls, spans = SAMPLES[fmt]
    _drop(tmp_path / "landing", "drop", DAY, write_shape(tmp_path, f"export-{fmt}", make(), shape))
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="shop")
    assert ingested.rejected == []
    assert (ingested.call_count, ingested.span_count) == (calls, spans)
    assert ingested.files[0].format == fmt


def test_a_file_that_yields_nothing_is_a_rejected_row_not_silence(tmp_path):
    landing = tmp_path / "landing"
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "no-spans.json").write_text(json.dumps({"resourceSpans": []}))
    _drop(landing, "drop", DAY, tmp_path / "empty.json")
    _drop(landing, "drop", DAY, tmp_path / "no-spans.json")
    ingested = ingest_day(landing, DAY, default_app="shop")
    reasons = {row["source_file"]: row["reason"] for row in ingested.rejected}
    assert "the file is empty" in reasons["drop/2025-03-01/empty.json"]
    assert reasons["drop/2025-03-01/no-spans.json"].startswith("drop/2025-03-01/no-spans.json: no records in it")
    assert all(row["source_offset"] == 0 for row in ingested.rejected)


def test_a_split_file_reports_the_users_own_lines(tmp_path):
    lines = [
        _native("a", "2025-02-28T23:59:00Z"),
        _native("b", "2025-03-01T00:00:01Z"),
        "{not json",
        _native("b", "2025-03-01T08:00:00Z"),  # a duplicate call_id
        _native("c", "2025-03-01T09:00:00Z"),
    ]
    source = tmp_path / "calls.jsonl"
    source.write_text("\n".join(lines) + "\n")
    landed = land_file(source, tmp_path / "landing", default_app="a", today=TODAY)
    assert sorted(landed.files) == ["2025-02-28", "2025-03-01"]
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="a")
    rows = ingested.calls.to_pylist()
    assert [(r["call_id"], r["source_offset"]) for r in rows] == [("b", 2), ("c", 5)]
    rejected = {r["source_offset"]: r["reason"] for r in ingested.rejected}
    assert sorted(rejected) == [3, 4]  # lines of calls.jsonl, not of the day's split file
    assert rejected[4] == f"duplicate call_id 'b' (first at {source.resolve()}:2)"  # the user's file and line


def test_a_document_copied_to_several_days_gives_each_day_its_own_records(tmp_path):
    rows = observation_rows()
    rows[1] = rows[1] | {"start_time": "2025-03-02 09:00:00.000000", "end_time": "2025-03-02 09:00:01.000000",
                         "completion_start_time": None}
    rows.append(rows[3] | {"id": "obs-early", "start_time": "2025-02-01 09:00:00.000000", "end_time": None})
    rows.append({"id": "broken"})
    source = write_shape(tmp_path, "export", rows, "json-pretty")
    land_file(source, tmp_path / "landing", default_app="a", today=TODAY, start_day=DAY)
    first = ingest_day(tmp_path / "landing", DAY, default_app="a", bounds=DayBounds(DAY, TODAY))
    second = ingest_day(tmp_path / "landing", date(2025, 3, 2), default_app="a", bounds=DayBounds(DAY, TODAY))
    assert [r["call_id"] for r in first.calls.to_pylist()] == ["obs-gen-2"]
    assert [r["call_id"] for r in second.calls.to_pylist()] == ["obs-gen-1"]
    assert second.rejected == []  # the out-of-range and broken records are quarantined once
    reasons = {r["source_offset"]: r["reason"] for r in first.rejected}
    assert sorted(reasons) == [5, 6]
    assert "before the first partition day 2025-03-01 (project.start_day)" in reasons[5]
    assert "expected a Langfuse observation row" in reasons[6]


def test_outside_reasons_say_which_bound(tmp_path):
    folder = tmp_path / "landing" / "drop" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "calls.jsonl").write_text("\n".join([
        _native("early", "2025-01-05T10:00:00Z"), _native("late", "2025-03-20T10:00:00Z"),
        _native("other", "2025-03-04T10:00:00Z"), _native("ok", "2025-03-01T10:00:00Z"),
    ]) + "\n")
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="a", bounds=DayBounds(date(2025, 2, 1), TODAY))
    reasons = [r["reason"] for r in ingested.rejected]
    assert "is before the first partition day 2025-02-01" in reasons[0]
    assert "is in the future (after today, 2025-03-10 UTC)" in reasons[1]
    assert "is outside the partition day 2025-03-01 (the day folder" in reasons[2]
    assert ingested.call_count == 1


def test_undated_records_in_a_day_folder_take_its_day_and_are_counted(tmp_path):
    (tmp_path / "span.json").write_text(json.dumps(genai_attributes()))
    _drop(tmp_path / "landing", "otel", DAY, tmp_path / "span.json")
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="a")
    (call,) = ingested.calls.to_pylist()
    assert call["ts"].date() == DAY and json.loads(call["metadata"])["ts_assumed"] is True
    assert ingested.undated == 1


def test_overlapping_langfuse_exports_give_each_observation_once_latest_update_wins(tmp_path):
    """Two hourly exports share their boundary: the generation is in both, updated in between
    (its output and usage arrived later); a third export re-sends it unchanged."""
    landing = tmp_path / "landing"
    rows = observation_rows()
    early = [rows[0], rows[1] | {"output": "", "usage_details": {}, "updated_at": "2025-03-01 12:00:01.000000"}]
    late = [rows[1] | {"updated_at": "2025-03-01 12:30:00.000000"}, rows[2], rows[3]]
    resent = [rows[1] | {"updated_at": "2025-03-01 12:30:00.000000", "name": "resent"}]
    for name, batch in (("2025-03-01T12:00:00.000Z", early), ("2025-03-01T13:00:00.000Z", late),
                        ("2025-03-01T14:00:00.000Z", resent)):
        _drop(landing, "langfuse", DAY, write_shape(tmp_path, name, batch, "jsonl"))
    ingested = ingest_day(landing, DAY, default_app="a", formats_by_source={"langfuse": "langfuse_observations"})
    calls = {c["call_id"]: c for c in ingested.calls.to_pylist()}
    assert sorted(calls) == ["obs-gen-1", "obs-gen-2"] and ingested.rejected == []
    winner = calls["obs-gen-1"]
    assert winner["output_text"] == "It ships today." and winner["input_tokens"] == 50
    # Same updated_at in the 13:00 and 14:00 exports: the later export wins.
    assert json.loads(winner["metadata"])["name"] == "resent"
    assert winner["source_file"].startswith("langfuse/2025-03-01/2025-03-01T14")
    assert ingested.superseded == 2 and ingested.span_count == 2
