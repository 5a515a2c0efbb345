"""ingest_day: which landing lines become calls, which are rejected and why, and what is kept."""

import collections
import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from assay.assets import day_ingest, raw_calls
from assay.assets.day_ingest import NATIVE_FORMAT, ingest_day
from assay.assets.raw_calls import materialise_day

from assay.config import RedactionConfig
from assay.contracts.call import CALL_ARROW_SCHEMA
from assay.lake import Lake
from assay.pricing import fill_missing_costs
from assay.privacy.redaction import Redactor

DAY = date(2025, 3, 10)
NO_REDACTION = RedactionConfig(enabled=False)


def call(call_id: str, **fields) -> dict:
    record = {
        "call_id": call_id,
        "ts": "2025-03-10T12:00:00Z",
        "app": "shop",
        "feature": "rag_answer",
        "model": "sim/support-v1",
        "messages": [{"role": "user", "content": "Where is my order?"}],
        "params": {"temperature": 0.2, "max_tokens": 400},
        "latency_ms": 812.5,
        "input_tokens": 12,
        "output_tokens": 30,
        "cost_usd": 0.0001,
    }
    record.update(fields)
    return record


def land(root: Path, source: str, name: str, lines: list[str], day: date = DAY) -> Path:
    path = root / source / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def rows(ingested) -> list[dict]:
    return ingested.calls.to_pylist()


def rejected_by_line(ingested) -> dict[int, dict]:
    return {row["source_offset"]: row for row in ingested.rejected}


def test_good_lines_become_calls_with_their_source(tmp_path):
    land(tmp_path, "native", "calls.jsonl", [json.dumps(call("c1")), json.dumps(call("c2"))])
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    assert ingested.calls.schema.equals(CALL_ARROW_SCHEMA)
    got = rows(ingested)
    assert [r["call_id"] for r in got] == ["c1", "c2"]
    assert [r["source_offset"] for r in got] == [1, 2]
    assert {r["source_file"] for r in got} == {"native/2025-03-10/calls.jsonl"}
    assert {r["source_format"] for r in got} == {NATIVE_FORMAT}
    assert got[0]["ts"] == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert got[0]["latency_ms"] == 812.5 and got[0]["input_tokens"] == 12
    assert got[0]["environment"] == "production"  # contract default
    # Nested values are stored as compact JSON text, keys in the order received.
    assert got[0]["messages"] == '[{"role":"user","content":"Where is my order?"}]'
    assert got[0]["params"] == '{"temperature":0.2,"max_tokens":400}'
    assert got[0]["context"] is None
    assert ingested.rejected == []
    assert [(f.path, f.calls, f.rejected) for f in ingested.files] == [
        ("native/2025-03-10/calls.jsonl", 2, 0)
    ]


def test_the_source_of_a_line_wins_over_what_the_record_claims(tmp_path):
    line = json.dumps(call("c1", source_file="elsewhere.jsonl", source_offset=99))
    land(tmp_path, "native", "calls.jsonl", [line])
    (got,) = rows(ingest_day(tmp_path, DAY, default_app="fallback"))
    assert (got["source_file"], got["source_offset"]) == ("native/2025-03-10/calls.jsonl", 1)


BAD_LINES = {
    # line number -> (line, words the reason must contain)
    2: ('{"call_id": "t1", "ts": "2025-03-10T1', ["not valid JSON"]),
    3: (json.dumps({k: v for k, v in call("x").items() if k != "call_id"}), ["`call_id`", "missing"]),
    4: (json.dumps(call("neg", latency_ms=-3.5)), ["`latency_ms`", "greater than or equal to 0"]),
    5: (json.dumps(call("unk", colour="red")), ["`colour`", "unknown field", "valid fields", "call_id"]),
    6: (json.dumps(call("typ", input_tokens="many")), ["`input_tokens`", "valid integer"]),
    7: (json.dumps(call("late", ts="2025-03-11T00:00:01Z")), ["`ts`", "outside the partition day 2025-03-10"]),
    8: ("[1, 2]", ["expected a JSON object", "list"]),
}


@pytest.fixture
def mixed_day(tmp_path):
    lines = [json.dumps(call("ok1"))]
    lines += [BAD_LINES[n][0] for n in sorted(BAD_LINES)]
    lines += ["", "   ", json.dumps(call("ok2")), json.dumps(call("ok1", feature="again"))]
    land(tmp_path, "native", "calls.jsonl", lines)
    return ingest_day(tmp_path, DAY, default_app="fallback")


def test_bad_lines_are_rejected_with_a_reason_naming_the_field(mixed_day):
    rejected = rejected_by_line(mixed_day)
    for line_no, (line, words) in BAD_LINES.items():
        row = rejected[line_no]
        for word in words:
            assert word in row["reason"], (line_no, row["reason"])
        assert row["raw"] == line  # verbatim, without the newline
        assert row["source_file"] == "native/2025-03-10/calls.jsonl"
        assert row["source_format"] == NATIVE_FORMAT
    assert [r["call_id"] for r in rows(mixed_day)] == ["ok1", "ok2"]


def test_blank_lines_are_skipped_but_still_counted(mixed_day):
    # Lines 9 and 10 are blank: neither a call nor a rejection, and line numbers stay true.
    assert set(rejected_by_line(mixed_day)) == set(BAD_LINES) | {12}
    assert [r["source_offset"] for r in rows(mixed_day)] == [1, 11]
    assert [(f.calls, f.rejected) for f in mixed_day.files] == [(2, len(BAD_LINES) + 1)]


def test_a_repeated_call_id_rejects_the_second_occurrence(mixed_day):
    duplicate = rejected_by_line(mixed_day)[12]
    assert duplicate["reason"] == (
        "duplicate call_id 'ok1' (first at native/2025-03-10/calls.jsonl:1)"
    )
    (first,) = [r for r in rows(mixed_day) if r["call_id"] == "ok1"]
    assert first["feature"] == "rag_answer"  # the first one is kept


def test_several_sources_and_files_in_a_stable_order(tmp_path):
    land(tmp_path, "zeta", "b.jsonl", [json.dumps(call("z1"))])
    land(tmp_path, "alpha", "b.ndjson", [json.dumps(call("a2")), json.dumps(call("z1"))])
    land(tmp_path, "alpha", "a.jsonl", [json.dumps(call("a1"))])
    # Told by content, not by name: a `.txt` export is read, never silently skipped.
    land(tmp_path, "alpha", "notes.txt", [json.dumps(call("from-txt"))])
    land(tmp_path, "alpha", ".notes.jsonl.swp", [json.dumps(call("editor-swap"))])  # hidden: not data
    land(tmp_path, "alpha", "other.jsonl", [json.dumps(call("other-day"))], day=date(2025, 3, 9))
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    got = rows(ingested)
    assert [(r["source_file"], r["call_id"]) for r in got] == [
        ("alpha/2025-03-10/a.jsonl", "a1"),
        ("alpha/2025-03-10/b.ndjson", "a2"),
        ("alpha/2025-03-10/b.ndjson", "z1"),
        ("alpha/2025-03-10/notes.txt", "from-txt"),
    ]
    # The same call_id in another file of the day is a duplicate, pointing at the first.
    (dup,) = ingested.rejected
    assert dup["source_file"] == "zeta/2025-03-10/b.jsonl"
    assert "first at alpha/2025-03-10/b.ndjson:2" in dup["reason"]
    assert [(f.path, f.calls, f.rejected) for f in ingested.files] == [
        ("alpha/2025-03-10/a.jsonl", 1, 0),
        ("alpha/2025-03-10/b.ndjson", 2, 0),
        ("alpha/2025-03-10/notes.txt", 1, 0),
        ("zeta/2025-03-10/b.jsonl", 0, 1),
    ]


def test_app_defaults_from_config_only_when_absent(tmp_path):
    without_app = {k: v for k, v in call("no-app").items() if k != "app"}
    lines = [json.dumps(without_app), json.dumps(call("own-app")), json.dumps(call("null", app=None))]
    land(tmp_path, "native", "calls.jsonl", lines)
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    assert {r["call_id"]: r["app"] for r in rows(ingested)} == {"no-app": "fallback", "own-app": "shop"}
    (null_app,) = ingested.rejected
    assert null_app["source_offset"] == 3 and "`app`" in null_app["reason"]


def test_timestamps_are_stored_in_utc_and_judged_in_utc(tmp_path):
    lines = [
        json.dumps(call("east", ts="2025-03-11T00:30:00+01:00")),  # 23:30 UTC on the day
        json.dumps(call("west", ts="2025-03-10T23:30:00-01:00")),  # 00:30 UTC the next day
        json.dumps(call("naive", ts="2025-03-10T08:00:00")),  # naive is taken as UTC
    ]
    land(tmp_path, "native", "calls.jsonl", lines)
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    assert {r["call_id"]: r["ts"] for r in rows(ingested)} == {
        "east": datetime(2025, 3, 10, 23, 30, tzinfo=UTC),
        "naive": datetime(2025, 3, 10, 8, tzinfo=UTC),
    }
    assert [r["source_offset"] for r in ingested.rejected] == [2]


def test_json_the_fast_parser_refuses_is_decided_like_json_loads(tmp_path):
    # NaN and huge ints are valid for json.loads; an unpaired surrogate cannot be stored.
    big = call("big", metadata={"n": 10**20, "x": float("nan")})
    lines = [json.dumps(big), json.dumps(call("sur", output_text="\ud800"))]
    land(tmp_path, "native", "calls.jsonl", lines)
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    (got,) = rows(ingested)
    assert got["metadata"] == '{"n":100000000000000000000,"x":NaN}'
    (surrogate,) = ingested.rejected
    assert "`output_text`" in surrogate["reason"] and "surrogate" in surrogate["reason"]
    assert surrogate["raw"] == lines[1]


def test_nested_json_text_is_compact_json_in_the_order_received():
    values = [
        {"b": 1, "a": [1.5, -0.0, 1e-07, 10**20, True, None, "é ✓ 😀"], "c": {"z": {}, "y": []}},
        [{"role": "user", "content": 'quote " and \\ and \n newline'}],
        {"inf": math.inf, "nan": math.nan},
    ]
    for value in values:
        assert day_ingest._encode_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_batches_and_the_written_partitions(tmp_path, monkeypatch):
    monkeypatch.setattr(day_ingest, "BATCH_ROWS", 2)  # several record batches
    lines = [json.dumps(call(f"c{i}")) for i in range(5)] + ["{broken"]
    land(tmp_path / "landing", "native", "calls.jsonl", lines)
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="fallback")
    assert ingested.calls.num_rows == 5
    assert [r["call_id"] for r in rows(ingested)] == [f"c{i}" for i in range(5)]
    lake = Lake(tmp_path / "lake")
    materialise_day(lake, tmp_path / "landing", DAY, default_app="fallback", prices={}, redaction=NO_REDACTION)
    written = lake.read_partition("raw_calls", {"day": DAY.isoformat()})
    assert written.num_rows == 5 and written.column("day").to_pylist() == ["2025-03-10"] * 5
    expected, _ = fill_missing_costs(ingested.calls, {})  # the asset's path fills costs too
    assert written.drop_columns(["day"]).equals(expected.combine_chunks())
    rejected = lake.read_partition("rejected_calls", {"day": DAY.isoformat()})
    assert rejected.column("raw").to_pylist() == ["{broken"]
    assert rejected.column("source_offset").to_pylist() == [6]


def test_an_empty_day_gives_empty_tables(tmp_path):
    ingested = ingest_day(tmp_path, DAY, default_app="fallback")
    assert ingested.files == [] and ingested.rejected == []
    assert ingested.calls.num_rows == 0 and ingested.calls.schema.equals(CALL_ARROW_SCHEMA)
    done = materialise_day(Lake(tmp_path / "lake"), tmp_path, DAY, default_app="fallback", prices={}, redaction=NO_REDACTION)
    assert pq.read_table(done.calls_path).num_rows == 0


def test_epoch_timestamps_are_read_and_odd_types_rejected_not_crashing(tmp_path):
    noon = datetime(2025, 3, 10, 12, tzinfo=UTC).timestamp()
    lines = [
        json.dumps(call("secs", ts=noon)),
        json.dumps(call("millis", ts=int(noon * 1000))),
        json.dumps(call("listy", ts=[2025, 3, 10])),
        json.dumps(call("flag", ts=True)),
    ]
    land(tmp_path, "native", "calls.jsonl", lines)
    day = ingest_day(tmp_path, DAY, default_app="shop")
    assert sorted(day.calls.column("call_id").to_pylist()) == ["millis", "secs"]
    assert {r["source_offset"] for r in day.rejected} == {3, 4}
    assert all("`ts`" in r["reason"] for r in day.rejected)


def test_a_day_mixing_trace_formats_ingests_calls_spans_and_rejections(tmp_path):
    """Landing files in every format, sniffed per file; the day rules apply to all of them."""
    from tests.unit.test_formats import DAY as FORMATS_DAY
    from tests.unit.test_formats import langfuse_export, litellm_success, openai_pair, otlp_envelope

    day = FORMATS_DAY.date()
    folder = tmp_path / "mixed" / day.isoformat()
    folder.mkdir(parents=True)
    (folder / "openai.jsonl").write_text(json.dumps(openai_pair()) + "\n" + "{broken\n")
    (folder / "litellm.jsonl").write_text(json.dumps(litellm_success()) + "\n")
    (folder / "otlp.jsonl").write_text(json.dumps(otlp_envelope()) + "\n")
    (folder / "langfuse.jsonl").write_text(json.dumps(langfuse_export()) + "\n")
    (folder / "native.jsonl").write_text(json.dumps(call("n1", ts=f"{day.isoformat()}T09:00:00Z")) + "\n")
    (folder / "mystery.jsonl").write_text(json.dumps({"hello": "world"}) + "\n")

    ingested = ingest_day(tmp_path, day, default_app="shop")
    by_file = {Path(f.path).name: f for f in ingested.files}
    assert {name: f.format for name, f in by_file.items() if f.format} == {
        "openai.jsonl": "openai_chat",
        "litellm.jsonl": "litellm_payload",
        "otlp.jsonl": "otlp_json",
        "langfuse.jsonl": "langfuse",
        "native.jsonl": NATIVE_FORMAT,
    }
    assert all(by_file[name].calls >= 1 for name in ("openai.jsonl", "litellm.jsonl", "otlp.jsonl", "langfuse.jsonl"))
    assert by_file["otlp.jsonl"].spans + by_file["langfuse.jsonl"].spans == len(ingested.spans) > 0
    formats = set(ingested.calls.column("source_format").to_pylist())
    assert formats == {"openai_chat", "litellm_payload", "otlp_json", "langfuse", NATIVE_FORMAT}
    reasons = {Path(r["source_file"]).name: r["reason"] for r in ingested.rejected}
    assert "not valid JSON" in reasons["openai.jsonl"] or "JSON" in reasons["openai.jsonl"]
    assert "mystery.jsonl" in reasons and "assay_jsonl" in reasons["mystery.jsonl"]  # names the known formats
    for span in ingested.spans:
        assert span["source_file"].startswith("mixed/") and span["trace_id"]


def test_a_hostile_day_ingests_the_good_quarantines_the_rest_and_reruns_identically(tmp_path):
    """Truncated JSON, wrong types, bad encodings, a 50 MB line, another day's timestamps and
    duplicate ids, between good lines: never a crash, every bad line quarantined with why."""
    folder = tmp_path / "native" / DAY.isoformat()
    folder.mkdir(parents=True)
    good = [json.dumps(call(f"ok{i}")).encode() for i in range(3)]
    huge = json.dumps(call("huge", output_text="x" * (50 * 1024 * 1024))).encode()
    bad = [
        b'{"call_id": "trunc", "ts": "2025-03-10T12:00',  # truncated JSON
        json.dumps(call("types", latency_ms="fast", input_tokens=[1])).encode(),  # wrong types
        json.dumps(call("enc", output_text="caf\u00e9")).encode().replace(b"\\u00e9", b"\xe9"),  # latin-1 byte
        json.dumps(call("yesterday", ts="2025-03-09T23:00:00Z")).encode(),  # another day
        json.dumps(call("ok0")).encode(),  # duplicate id
    ]
    (folder / "day.jsonl").write_bytes(b"\n".join([good[0], *bad[:3], huge, good[1], *bad[3:], good[2]]) + b"\n")

    first = ingest_day(tmp_path, DAY, default_app="shop")
    accepted = first.calls.column("call_id").to_pylist()
    assert accepted == ["ok0", "huge", "ok1", "ok2"]  # a big but valid record is a record
    reasons = [r["reason"] for r in first.rejected]
    assert len(reasons) == len(bad)
    assert "not valid JSON" in reasons[0]
    assert "`latency_ms`" in reasons[1] and "`input_tokens`" in reasons[1]
    assert "not valid UTF-8" in reasons[2]
    assert "outside the partition day" in reasons[3]
    assert "duplicate call_id 'ok0'" in reasons[4]
    assert all(r["raw"] for r in first.rejected)

    second = ingest_day(tmp_path, DAY, default_app="shop")
    assert second.calls.equals(first.calls)
    assert second.rejected == first.rejected


def test_streaming_writes_what_the_same_transforms_give_on_the_whole_day(tmp_path, monkeypatch):
    monkeypatch.setattr(day_ingest, "BATCH_ROWS", 2)  # several batches, each filled and redacted
    lines = [json.dumps(call(f"c{i}", output_text=f"mail me at user{i}@example.com")) for i in range(5)]
    lines += [json.dumps(call("c9", cost_usd=None, model="gpt-4o-mini")), "{broken", json.dumps(call("c1"))]
    land(tmp_path / "landing", "native", "calls.jsonl", lines)
    streamed = Lake(tmp_path / "streamed")
    done = materialise_day(
        streamed, tmp_path / "landing", DAY, default_app="fallback", prices={}, redaction=RedactionConfig()
    )
    assert done.calls == 6 and done.ingested.call_count == 6 and done.ingested.calls.num_rows == 0
    assert done.redacted == {"EMAIL": 5} and sum(done.cost_sources.values()) == 6
    assert [r["reason"][:9] for r in done.ingested.rejected] == ["not valid", "duplicate"]

    # The same transforms applied to the whole day at once give what the batches streamed.
    ingested = ingest_day(tmp_path / "landing", DAY, default_app="fallback")
    expected, sources = fill_missing_costs(ingested.calls, {})
    redactor = Redactor.from_config(RedactionConfig())
    expected, found = redactor.calls(expected)
    found.update(redactor.rejected(ingested.rejected))
    assert found == done.redacted and sources == done.cost_sources
    written = streamed.read_partition("raw_calls", {"day": DAY.isoformat()})
    assert written.drop_columns(["day"]).equals(expected.combine_chunks())
    rejected = streamed.read_partition("rejected_calls", {"day": DAY.isoformat()})
    assert rejected.column("raw").to_pylist() == [r["raw"] for r in ingested.rejected]
    assert day_ingest.ingested_fingerprint(streamed, DAY.isoformat()) == ingested.landing_fingerprint
    assert not list((tmp_path / "streamed").rglob(".tmp-*"))


def test_a_failed_streaming_day_leaves_the_previous_partition(tmp_path, monkeypatch):
    from assay.assets.raw_calls import materialise_day

    from assay.config import RedactionConfig

    land(tmp_path / "landing", "native", "calls.jsonl", [json.dumps(call("c1"))])
    lake = Lake(tmp_path / "lake")
    materialise_day(lake, tmp_path / "landing", DAY, default_app="f", prices={}, redaction=RedactionConfig())
    before = lake.read_partition("raw_calls", {"day": DAY.isoformat()})
    land(tmp_path / "landing", "native", "more.jsonl", [json.dumps(call("c2"))])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(raw_calls, "fill_missing_costs", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        materialise_day(lake, tmp_path / "landing", DAY, default_app="f", prices={}, redaction=RedactionConfig())
    assert lake.read_partition("raw_calls", {"day": DAY.isoformat()}).equals(before)
    assert not list((tmp_path / "lake").rglob(".tmp-*"))


def test_a_source_folder_configured_with_a_format_is_read_as_that_format(tmp_path):
    land(tmp_path, "forced", "calls.jsonl", [json.dumps(call("n1"))])
    sniffed = ingest_day(tmp_path, DAY, default_app="shop")
    assert sniffed.files[0].format == NATIVE_FORMAT and sniffed.calls.num_rows == 1
    forced = ingest_day(tmp_path, DAY, default_app="shop", formats_by_source={"forced": "openai_chat"})
    assert forced.files[0].format == "openai_chat"
    assert forced.calls.num_rows == 0 and len(forced.rejected) == 1  # a native record is no request/response pair
    assert forced.rejected[0]["source_format"] == "openai_chat"


def test_trace_spans_are_streamed_to_their_partition_redacted(tmp_path, monkeypatch):
    """A day's spans are written in batches as they are read (not held for the day)."""
    from tests.unit.test_formats import DAY as FORMATS_DAY
    from tests.unit.test_formats import langfuse_export

    monkeypatch.setattr(day_ingest, "BATCH_ROWS", 1)
    day = FORMATS_DAY.date()
    exports = []
    for i in range(3):
        text = json.dumps(langfuse_export()).replace('"tool1"', f'"tool1-{i}"').replace('"gen', f'"g{i}-gen')
        text = text.replace('{"query": "example"}', '{"query": "mail maria.gonzalez@example.com"}')
        exports.append(text.replace('"root"', f'"root-{i}"').replace("e1fde3efec57ce8a69bafd3fb928a7eb", f"{i:032x}"))
    land(tmp_path / "landing", "lf", "export.jsonl", exports, day=day)
    batches = []
    original = raw_calls.rows_to_table
    monkeypatch.setattr(raw_calls, "rows_to_table", lambda rows, *a: batches.append(len(rows)) or original(rows, *a))
    lake = Lake(tmp_path / "lake")
    done = materialise_day(
        lake, tmp_path / "landing", day, default_app="shop", prices={},
        redaction=RedactionConfig(), formats_by_source={"lf": "langfuse"},
    )
    stored = pq.read_table(lake.partition_dir("trace_spans", {"day": day.isoformat()}) / "part.parquet")
    assert stored.num_rows == done.ingested.span_count >= 3
    assert done.ingested.spans == []  # handed on, not kept
    assert len(batches) >= 3 and max(batches) == 1
    assert dict(done.ingested.span_kinds) == dict(collections.Counter(stored.column("kind").to_pylist()))
    inputs = " ".join(v for v in stored.column("input").to_pylist() if v)
    assert "[EMAIL]" in inputs and "maria.gonzalez" not in inputs
    assert done.redacted["EMAIL"] >= 3
