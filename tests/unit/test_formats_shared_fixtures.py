"""The adapters against real third-party exports: ../shared/fixtures beside the repository.

Every developer machine and CI has `../shared/fixtures` next to the clone; these tests find it
relative to the repository and FAIL when it is missing (a skipped check is one that never runs).
The project's own format tests (test_formats.py, test_format_shapes.py) use fixtures they write
themselves; this module checks the adapters against real exports. The expected numbers are
the facts about each file: calls, their tokens (input + output) and the other spans.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.formats import read_records, sniff_format

REPOSITORY = Path(__file__).resolve().parents[2]
ROOT = REPOSITORY.parent / "shared" / "fixtures" / "trace_formats"
DAY = datetime(2025, 1, 1, tzinfo=UTC)

EXPECTED = {
    # file under trace_formats/ -> (format, calls, tokens, other spans)
    "langfuse/agno-2025-06-11.json": ("langfuse", 4, 3839, 2),
    "langfuse/langgraph-2025-08-22.json": ("langfuse", 2, 234, 7),
    "langfuse/openai-agents-2025-09-30.json": ("langfuse", 2, 184, 3),
    "langfuse/pydantic-ai-tools-2025-12-04.json": ("langfuse", 4, 1524, 8),
    "langfuse/llamaindex-2025-06-05.json": ("langfuse", 1, 94, 1),
    "otel_genai/otel_genai_client_span_tool_calls.json": ("otlp_json", 1, 149, 0),
    "otel_genai/openinference_client_span_tool_calls.json": ("otlp_json", 1, 149, 0),
    "litellm_standard_logging_payload.json": ("litellm_payload", 1, 30, 0),
    "otlp_example_trace.json": ("otlp_json", 0, 0, 1),
}


def test_the_shared_fixtures_are_beside_the_repository() -> None:
    assert ROOT.is_dir(), (f"{ROOT} is missing: clone the shared fixtures beside the repository "
                           "(../shared/fixtures); these checks must run, not skip")
    on_disk = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.json")}
    assert on_disk == set(EXPECTED), "a trace export was added or removed: give its expected counts here"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_export_gives_its_calls_and_tokens(name: str) -> None:
    fmt, calls_expected, tokens, spans_expected = EXPECTED[name]
    path = ROOT / name
    assert sniff_format(path) == fmt
    calls, spans, rejected = read(path)
    assert rejected == []
    assert (len(calls), sum(c["input_tokens"] + c["output_tokens"] for c in calls), len(spans)) == (
        calls_expected, tokens, spans_expected)


def read(path: Path) -> tuple[list[dict], list[dict], list[str]]:
    items = list(read_records(path, default_app="dev", default_ts=DAY))
    calls = [i.call for i in items if i.call]
    spans = [i.span for i in items if i.span]
    return calls, spans, [f"{i.offset}: {i.reason}" for i in items if i.reason]


def test_otel_genai_and_openinference_tool_call_spans_are_the_same_call() -> None:
    records = {}
    for name in ("otel_genai_client_span_tool_calls", "openinference_client_span_tool_calls"):
        path = ROOT / "otel_genai" / f"{name}.json"
        assert sniff_format(path) == "otlp_json"
        calls, spans, rejected = read(path)
        assert (len(calls), spans, rejected) == (1, [], [])
        records[name] = calls[0]
    genai = records["otel_genai_client_span_tool_calls"]
    oi = records["openinference_client_span_tool_calls"]
    assert (genai["input_tokens"], genai["output_tokens"]) == (97, 52)
    assert genai["tool_calls"] == [{"name": "get_weather", "arguments": {"location": "Paris"}}]
    assert genai["model"] == "gpt-4-0613" and genai["input_text"] == "Weather in Paris?"
    assert genai["metadata"].pop("convention") == "otel_genai"
    assert oi["metadata"].pop("convention") == "openinference"
    genai.pop("source_file")
    oi.pop("source_file")
    assert genai == oi


def test_litellm_standard_logging_payload() -> None:
    path = ROOT / "litellm_standard_logging_payload.json"
    assert sniff_format(path) == "litellm_payload"
    calls, _, rejected = read(path)
    assert rejected == [] and len(calls) == 1
    call = calls[0]
    payload = json.loads(path.read_text())
    assert call["call_id"] == payload["id"] and call["model"] == payload["model"]
    assert (call["input_tokens"], call["output_tokens"]) == (
        payload["prompt_tokens"], payload["completion_tokens"])
    assert call["cost_usd"] == payload["response_cost"]
    assert (call["input_text"], call["output_text"]) == ("Hello, world!", "hi")


def test_otlp_example_trace_is_one_plain_span() -> None:
    path = ROOT / "otlp_example_trace.json"
    assert sniff_format(path) == "otlp_json"
    calls, spans, rejected = read(path)
    assert (calls, rejected, len(spans)) == ([], [], 1)
    span = spans[0]
    assert (span["trace_id"], span["span_id"], span["parent_span_id"]) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173")
    assert span["ts"] == datetime(2018, 12, 13, 14, 51, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("langfuse/")))
def test_langfuse_export(name: str) -> None:
    path = ROOT / name
    export = json.loads(path.read_text())
    observations = export["observations"]
    generations = [o for o in observations if o["type"] == "GENERATION"]
    assert sniff_format(path) == "langfuse"
    calls, spans, rejected = read(path)
    assert rejected == []
    assert sorted(c["call_id"] for c in calls) == sorted(o["id"] for o in generations)
    assert len(spans) == len(observations) - len(generations)
    assert sum(c["input_tokens"] for c in calls) == sum(o["usageDetails"]["input"] for o in generations)
    assert sum(c["output_tokens"] for c in calls) == sum(o["usageDetails"]["output"] for o in generations)
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(sum(o["totalCost"] for o in generations))
    by_id = {o["id"]: o for o in observations}
    for record in (*calls, *spans):
        assert record["trace_id"] == export["trace"]["id"]
        assert record["parent_span_id"] == by_id[record["span_id"]]["parentObservationId"]
    for call in calls:
        assert call["model"] == by_id[call["call_id"]]["model"]
