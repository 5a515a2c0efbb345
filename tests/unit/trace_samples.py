"""Records in the shape of each supported format, written by the tests themselves, with the
number of calls and trace spans each set must give. Used by the format, landing and CLI
tests; the real third-party exports are checked separately (test_formats_shared_fixtures)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

from tests.unit.test_formats import (
    langfuse_export,
    litellm_failure,
    litellm_success,
    openai_pair,
    openinference_attributes,
    otlp_envelope,
)

DAY = "2025-03-01"


def native_calls() -> list[dict[str, Any]]:
    return [
        {"call_id": f"native-{i}", "ts": f"{DAY}T10:0{i}:00Z", "app": "shop", "feature": "faq", "model": "gpt-4o-mini",
         "input_text": f"question {i}", "output_text": f"answer {i}", "input_tokens": 10, "output_tokens": 5}
        for i in range(3)
    ]


def openai_pairs() -> list[dict[str, Any]]:
    second = openai_pair(ts=f"{DAY}T12:00:09Z")
    second["response"] = copy.deepcopy(second["response"]) | {"id": "chatcmpl-second"}
    return [openai_pair(), second]


def phoenix_spans() -> list[dict[str, Any]]:
    """Spans as Phoenix's REST API (`GET /v1/projects/{p}/spans`) and client return them: the
    span kind moved out of the attributes into `span_kind`, attributes flat."""
    trace = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"

    def span(span_id: str, parent: str | None, name: str, kind: str, attributes: dict, **extra: Any) -> dict:
        return {
            "id": f"U3BhbjoI{span_id[-2:]}", "name": name,
            "context": {"trace_id": trace, "span_id": span_id}, "span_kind": kind, "parent_id": parent,
            "start_time": f"{DAY}T12:00:00.120000+00:00", "end_time": f"{DAY}T12:00:01.870000+00:00",
            "status_code": "OK", "status_message": "", "attributes": attributes, "events": [], **extra,
        }

    llm_attributes = {k: v for k, v in openinference_attributes().items() if k != "openinference.span.kind"}
    return [
        span("1a2b3c4d5e6f7a01", None, "support-agent", "CHAIN",
             {"input.value": "Weather in Oslo?", "output.value": "It is snowing."}),
        span("1a2b3c4d5e6f7a02", "1a2b3c4d5e6f7a01", "ChatCompletion", "LLM", llm_attributes),
        span("1a2b3c4d5e6f7a03", "1a2b3c4d5e6f7a01", "get_weather", "TOOL",
             {"tool.name": "get_weather", "input.value": '{"city": "Oslo"}', "output.value": "snow, -3C"}),
        span("1a2b3c4d5e6f7a04", "1a2b3c4d5e6f7a01", "ChatCompletion", "LLM",
             {"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 12, "llm.token_count.completion": 0,
              "input.value": "hi"},
             status_code="ERROR", status_message="Rate limit reached",
             events=[{"name": "exception", "timestamp": f"{DAY}T12:00:01.800000+00:00",
                      "attributes": {"exception.type": "RateLimitError", "exception.message": "429"}}]),
    ]


def observation_rows() -> list[dict[str, Any]]:
    """Rows of Langfuse's enriched-observations blob export (`observations_v2/*.jsonl`)."""
    trace_fields = {
        "trace_id": "7f3c9a2e", "project_id": "proj-1", "environment": "production", "trace_name": "support-chat",
        "user_id": "u-1", "session_id": "s-1", "tags": ["beta"], "release": "v3", "bookmarked": False,
        "public": False,
    }

    def row(obs_id: str, obs_type: str, name: str, parent: str, **fields: Any) -> dict[str, Any]:
        base = {
            "id": obs_id, "type": obs_type, "name": name, "parent_observation_id": parent,
            "start_time": f"{DAY} 12:00:00.250000", "end_time": f"{DAY} 12:00:01.450000",
            "completion_start_time": None, "metadata": {}, "level": "DEFAULT", "status_message": "", "version": "",
            "input": "", "output": "", "provided_model_name": "", "model_parameters": "", "usage_details": {},
            "cost_details": {}, "total_cost": 0, "prompt_id": "", "prompt_name": "", "prompt_version": None,
            "latency": 1.2, "time_to_first_token": None, "model_id": "", "created_at": f"{DAY} 12:00:02.000000",
            "updated_at": f"{DAY} 12:00:02.000000", "tool_calls": [], "tool_call_names": [], "tool_definitions": {},
            **trace_fields,
        }
        return base | fields

    return [
        row("obs-root", "AGENT", "support-agent", ""),
        row("obs-gen-1", "GENERATION", "ChatOpenAI", "obs-root", provided_model_name="gpt-4o-mini",
            model_parameters='{"temperature":0.2}', usage_details={"input": 50, "output": 10, "total": 60},
            cost_details={"input": 7.5e-06, "output": 6e-06, "total": 1.35e-05}, total_cost=1.35e-05,
            input='[{"role":"system","content":"You are support."},{"role":"user","content":"Where is my order?"}]',
            output='{"role":"assistant","content":"It ships today."}', prompt_name="support", prompt_version=2,
            completion_start_time=f"{DAY} 12:00:00.550000"),
        row("obs-tool-1", "TOOL", "lookup_order", "obs-root", input='{"order": "A1"}', output='"shipped"'),
        row("obs-gen-2", "GENERATION", "ChatOpenAI", "obs-root", provided_model_name="gpt-4o-mini",
            usage_details={"input": 20, "output": 0, "total": 20}, input="hi", level="ERROR",
            status_message="Request timed out"),
    ]


SAMPLES: dict[str, tuple[Any, int, int]] = {
    # format -> (records, calls, trace spans)
    "assay_jsonl": (native_calls, 3, 0),
    "openai_chat": (openai_pairs, 2, 0),
    "litellm_payload": (lambda: [litellm_success(), litellm_failure()], 2, 0),
    "otlp_json": (lambda: [otlp_envelope()], 2, 2),
    "langfuse": (lambda: [langfuse_export()], 3, 2),
    "langfuse_observations": (observation_rows, 2, 2),
    "phoenix_spans": (phoenix_spans, 2, 2),
}

SHAPES = ("jsonl", "ndjson", "json", "json-pretty", "jsonl.gz", "json.gz", "json-pretty.gz")
"""JSON Lines (as .jsonl and .ndjson), one whole JSON document (compact, pretty-printed),
and each gzip-compressed."""


def write_shape(folder: Path, name: str, records: list[Any], shape: str) -> Path:
    """`records` written as one file of `shape` (a document holds them as one JSON array, or
    the record itself when there is only one)."""
    base = shape.removesuffix(".gz")
    if base in ("jsonl", "ndjson"):
        text = "".join(json.dumps(r) + "\n" for r in records)
        suffix = f".{base}"
    else:
        document = records[0] if len(records) == 1 else records
        text = json.dumps(document, indent=2 if base == "json-pretty" else None)
        suffix = ".json"
    path = Path(folder) / f"{name}{suffix}"
    if shape.endswith(".gz"):
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path
