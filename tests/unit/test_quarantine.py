"""`assay rejected`'s summary: reasons grouped by kind, examples in the user's own file:line."""

from __future__ import annotations

import json
from datetime import date

from assay.contracts.rejected import REJECTED_ARROW_SCHEMA
from assay.lake import Lake
from assay.landing import land_file, split_partition_days
from assay.quarantine import format_summary, reason_kind, summarise


def test_reasons_of_one_kind_count_together():
    assert reason_kind("duplicate call_id 'a' (first at x.jsonl:3)") == reason_kind(
        "duplicate call_id 'b' (first at y.jsonl:12)")
    assert reason_kind("`ts` 2025-03-02T10:00:00+00:00 is outside the partition day 2025-03-01") == (
        "`ts` <time> is outside the partition day <day>")
    assert reason_kind("observation abc-1: `startTime`: bad") == "observation …: `startTime`: bad"


def test_summary_names_the_users_file_and_line(tmp_path):
    source = tmp_path / "calls.jsonl"
    source.write_text("\n".join(json.dumps({"call_id": c, "ts": f"2025-03-0{d}T10:00:00Z", "app": "a", "feature": "f",
                                            "model": "m"}) for c, d in (("a", 1), ("b", 2))) + "\n")
    landing = tmp_path / "landing"
    landed = land_file(source, landing, default_app="a", today=date(2025, 3, 9))
    lake = Lake(tmp_path / "lake")
    second = str(landed.files["2025-03-02"].relative_to(landing))
    rows = [{"source_file": second, "source_offset": 2, "source_format": "assay_jsonl", "raw": "{...}",
             "reason": f"not valid JSON: Expecting value at column {n}"} for n in (3, 7)]
    rows.append({"source_file": "drop/2025-03-02/x.json", "source_offset": 0, "source_format": "unknown",
                 "raw": "", "reason": "drop/2025-03-02/x.json: the file is empty"})
    lake.write_partition("rejected_calls", rows, partition={"day": "2025-03-02"}, schema=REJECTED_ARROW_SCHEMA)
    lake.write_partition("rejected_calls", [], partition={"day": "2025-03-01"}, schema=REJECTED_ARROW_SCHEMA)

    summary = summarise(lake, landing)
    assert (summary.total, summary.days, summary.days_with_rows) == (3, ["2025-03-01", "2025-03-02"], ["2025-03-02"])
    lines = format_summary(summary)
    assert lines[0] == "3 rejected record(s) in 2 file(s), days 2025-03-02"
    assert lines[2] == "     2  not valid JSON: Expecting value at column N"
    assert lines[3] == f"        {source.resolve()}:2: not valid JSON: Expecting value at column 3"
    only = summarise(lake, landing, file="x.json")
    assert (only.total, only.groups[0].examples[0].where) == (1, "drop/2025-03-02/x.json:0")
    assert summarise(lake, landing, file="calls.jsonl").total == 2  # the original's name matches too


def test_landing_days_without_a_partition_are_told_apart():
    inside, outside = split_partition_days(["2030-01-01", "2025-03-01", "2024-12-31"], date(2025, 1, 1),
                                           date(2025, 3, 9))
    assert (inside, outside) == (["2025-03-01"], ["2024-12-31", "2030-01-01"])
