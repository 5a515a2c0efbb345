"""Every format in every file shape users have: JSON Lines / NDJSON, one whole JSON document
(compact or pretty-printed), and any of these gzip-compressed. Each gives every call, told by
content; and the two sources added for real exports (Phoenix spans, Langfuse's blob export)
normalise as the formats they extend."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.formats import FORMATS, UnknownFormatError, read_records, sniff_format
from tests.unit.trace_samples import SAMPLES, SHAPES, observation_rows, phoenix_spans, write_shape

DEFAULT_TS = datetime(2025, 3, 1, tzinfo=UTC)


def read(path: Path, fmt: str | None = None):
    items = list(read_records(path, fmt, default_app="shop", default_ts=DEFAULT_TS))
    return ([i.call for i in items if i.call], [i.span for i in items if i.span],
            [(i.offset, i.reason) for i in items if i.reason])


def test_every_format_has_samples():
    assert set(SAMPLES) == set(FORMATS)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_every_format_in_every_shape_gives_every_call(tmp_path, fmt, shape):
    make, calls_expected, spans_expected = SAMPLES[fmt]
    path = write_shape(tmp_path, "export", make(), shape)
    assert sniff_format(path) == fmt
    calls, spans, rejected = read(path)
    assert rejected == []
    assert (len(calls), len(spans)) == (calls_expected, spans_expected)
    assert all(c["source_format"] == fmt for c in calls)


def test_a_compact_array_on_one_line_numbers_its_records(tmp_path):
    path = write_shape(tmp_path, "pairs", SAMPLES["openai_chat"][0](), "json")
    assert len(path.read_text().splitlines()) == 1
    calls, _, _ = read(path)
    assert [c["source_offset"] for c in calls] == [1, 2]  # records of the array, not line 1 twice


def test_a_damaged_gzip_file_is_a_reason_not_a_crash(tmp_path):
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in SAMPLES["assay_jsonl"][0]()).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) - 12])  # the gzip trailer (and some data) cut off
    assert sniff_format(path) == "assay_jsonl"
    calls, _, rejected = read(path)
    assert rejected and "gzip stream is damaged" in rejected[-1][1]


def test_a_binary_file_is_named_as_such(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnknownFormatError, match="binary file, not JSON text"):
        sniff_format(path)


# --- Phoenix ----------------------------------------------------------------------------------


def test_phoenix_llm_spans_become_calls_the_rest_trace_spans(tmp_path):
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(phoenix_spans(), indent=2))
    calls, spans, rejected = read(path)
    assert rejected == []
    ok, failed = calls
    assert ok["call_id"] == "1a2b3c4d5e6f7a02" and ok["trace_id"] == "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
    assert ok["parent_span_id"] == "1a2b3c4d5e6f7a01"
    assert (ok["input_tokens"], ok["output_tokens"], ok["model"]) == (40, 9, "gpt-4-0613")
    assert ok["input_text"] == "Weather in Oslo?" and ok["output_text"] == "It is snowing."
    assert ok["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert ok["feature"] == "support-agent"  # the trace's root span, as for OTLP
    assert ok["latency_ms"] == pytest.approx(1750.0)
    assert (failed["status"], failed["error_type"], failed["error_message"]) == (
        "error", "RateLimitError", "Rate limit reached")
    assert [(s["kind"], s["name"]) for s in spans] == [("chain", "support-agent"), ("tool", "get_weather")]
    assert spans[1]["tool_name"] == "get_weather" and spans[1]["parent_span_id"] == "1a2b3c4d5e6f7a01"


def test_phoenix_api_page_dataframe_rows_and_nested_attributes_read_alike(tmp_path):
    spans = phoenix_spans()
    reference, _, _ = read(write_shape(tmp_path, "list", spans, "json"))
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"data": spans, "next_cursor": None}))
    # get_spans_dataframe().reset_index().to_json(orient="records"): flat columns, epoch ms.
    frame_rows = []
    for span in spans:
        row = {k: v for k, v in span.items() if k not in ("context", "attributes")}
        row["context.trace_id"], row["context.span_id"] = span["context"]["trace_id"], span["context"]["span_id"]
        row["start_time"] = int(datetime.fromisoformat(span["start_time"]).timestamp() * 1000)
        row["end_time"] = int(datetime.fromisoformat(span["end_time"]).timestamp() * 1000)
        row.update({f"attributes.{k}": v for k, v in span["attributes"].items()})
        frame_rows.append(row)
    frame = tmp_path / "frame.json"
    frame.write_text(json.dumps(frame_rows))
    # How Phoenix stores attributes (and its older span JSON wrote them): nested objects.
    nested_spans = []
    for span in spans:
        nested: dict = {}
        for key, value in span["attributes"].items():
            *parents, leaf = key.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        nested_spans.append(span | {"attributes": nested})
    nested = write_shape(tmp_path, "nested", nested_spans, "jsonl")
    for path in (page, frame, nested):
        assert sniff_format(path) == "phoenix_spans"
        calls, spans_read, rejected = read(path)
        assert rejected == [] and len(spans_read) == 2
        for got, want in zip(calls, reference, strict=True):
            keep = ("call_id", "model", "input_tokens", "output_tokens", "input_text", "output_text", "tool_calls",
                    "status", "ts")
            assert {k: got[k] for k in keep} == {k: want[k] for k in keep}


def test_a_phoenix_span_without_ids_is_a_reason(tmp_path):
    broken = phoenix_spans()[1]
    broken["context"] = {"trace_id": "t"}
    path = write_shape(tmp_path, "broken", [phoenix_spans()[0], broken], "jsonl")
    calls, spans, rejected = read(path, "phoenix_spans")
    assert rejected == [(2, rejected[0][1])] and "`context.span_id`: required field is missing" in rejected[0][1]


# --- Langfuse enriched observations -------------------------------------------------------------


def test_enriched_observations_read_as_their_trace_export(tmp_path):
    path = write_shape(tmp_path, "2025-03-01T12:00:00.000Z", observation_rows(), "jsonl")
    calls, spans, rejected = read(path)
    assert rejected == []
    ok, failed = calls
    assert (ok["call_id"], ok["trace_id"], ok["parent_span_id"]) == ("obs-gen-1", "7f3c9a2e", "obs-root")
    assert (ok["model"], ok["input_tokens"], ok["output_tokens"]) == ("gpt-4o-mini", 50, 10)
    assert ok["cost_usd"] == pytest.approx(1.35e-05)
    assert ok["ts"] == datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert ok["latency_ms"] == pytest.approx(1200.0) and ok["ttft_ms"] == pytest.approx(300.0)
    assert ok["input_text"] == "Where is my order?" and ok["output_text"] == "It ships today."
    assert ok["messages"][0] == {"role": "system", "content": "You are support."}
    assert ok["params"] == {"temperature": 0.2}
    assert (ok["prompt_id"], ok["prompt_version"]) == ("support", "2")
    # The trace's fields, copied onto each row, land where a trace export puts them.
    assert (ok["feature"], ok["user_id"], ok["session_id"], ok["environment"]) == (
        "support-chat", "u-1", "s-1", "production")
    assert ok["metadata"]["tags"] == ["beta"] and ok["metadata"]["release"] == "v3"
    assert (failed["status"], failed["error_message"]) == ("error", "Request timed out")
    assert [(s["kind"], s["span_id"], s["parent_span_id"]) for s in spans] == [
        ("agent", "obs-root", None), ("tool", "obs-tool-1", "obs-root")]
    assert json.loads(spans[1]["input"]) == {"order": "A1"}


def test_public_api_observations_page_reads_the_same(tmp_path):
    camel = []
    for row in observation_rows():
        camel.append({
            "id": row["id"], "traceId": row["trace_id"], "type": row["type"], "name": row["name"],
            "parentObservationId": row["parent_observation_id"] or None, "startTime": row["start_time"],
            "endTime": row["end_time"], "providedModelName": row["provided_model_name"] or None,
            "usageDetails": row["usage_details"], "costDetails": row["cost_details"], "input": row["input"],
            "output": row["output"], "level": row["level"], "userId": row["user_id"],
            "sessionId": row["session_id"], "updatedAt": row["updated_at"],
        })
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"data": camel, "meta": {"cursor": None}}))
    assert sniff_format(path) == "langfuse_observations"
    calls, spans, rejected = read(path)
    assert rejected == [] and (len(calls), len(spans)) == (2, 2)
    assert [(c["call_id"], c["input_tokens"], c["user_id"]) for c in calls] == [
        ("obs-gen-1", 50, "u-1"), ("obs-gen-2", 20, "u-1")]
