"""Landing files by hand: each record to the day of its own timestamp, verbatim, idempotent."""

import json
from datetime import date

from assay.formats import FORMATS
from assay.landing import land_file
from tests.unit.test_formats import langfuse_export

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


def test_cli_format_choices_match_the_adapters():
    from orchestration.cli import INGEST_FORMATS

    assert INGEST_FORMATS == list(FORMATS)
