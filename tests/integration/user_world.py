"""A team that is not the demo: a travel-booking assistant with its own config, golden set,
candidates and logs exported from three tools, written by the tests in each tool's shape.

Nothing here comes from `assay/demo`: the app, features, wording, models and formats are the
user's. Candidate models and the judge are served by the local OpenAI-compatible HTTP server
(`assay.testing.llm_server`), not the `sim/` provider.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from tests.unit.test_formats import typed  # the OTLP/JSON AnyValue encoding the format tests use

APP = "travel-bot"
FEATURE = "booking_help"

QUESTIONS = [
    "How do I cancel my hotel booking?",
    "Can I change the date of my flight?",
    "How many bags can I bring on a basic fare?",
    "Where do I find my boarding pass?",
    "Is breakfast included in my room rate?",
    "How do I add a child to my booking?",
    "Can I get a refund for a non-refundable room?",
    "What time is check-in at the Lisbon hotel?",
    "How do I request a wheelchair at the airport?",
    "Can I pay for my trip in instalments?",
    "Why was my card charged twice for one booking?",
    "How do I change the name on a ticket?",
]
REFUSAL = "I'm sorry, but I can't help with that."

# Scripted candidate models on the test server (`LLMTestServer(answers=...)`): the current
# model and the challenger answer alike; the refuser refuses everything.
HELPFUL_ANSWER = "Happy to help with that: {last_user} Open My Trips, pick the booking and follow the steps shown."
SCRIPTED_MODELS = {
    "model-current": HELPFUL_ANSWER,
    "model-challenger": HELPFUL_ANSWER,
    "model-refuser": REFUSAL,
}
PRICE = {"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7}


def config_text(api_base: str, extra_candidates: list[dict[str, Any]] = (), templates: dict[str, str] | None = None) -> str:
    """The team's own assay.yaml (none of the demo's evaluators, features or models);
    `templates`: a prompt template for some of the candidates, by id."""
    config = {
        "project": {"app": APP},
        "sampling": {"rate": 1.0},
        "judge": {"model": "openai/judge-model", "params": {"api_base": api_base}, "max_concurrency": 8,
                  "timeout_s": 10, "max_retries": 1, "budget_usd": 1.0},
        "evaluators": [
            {"name": "provider_ok", "type": "provider_status"},
            {"name": "no_refusal", "type": "refusal"},
            {"name": "helpful", "type": "answer_relevance", "applies_to": {"features": [FEATURE]}},
            {"name": "matches_reference", "type": "token_f1", "params": {"threshold": 0.05},
             "applies_to": {"subjects": ["cases"], "tags": ["golden"]}},
        ],
        "slos": {"latency_p95_ms": 5000, "cost_per_request_usd": 0.01, "error_rate": 0.2},
        "dataset": {"golden_dir": "golden", "redteam_pack": None, "passing_samples_per_feature": 5},
        "pricing": {f"openai/{name}": PRICE for name in SCRIPTED_MODELS},
        "candidates": [
            {"candidate_id": "current", "model": "openai/model-current", "params": {"api_base": api_base},
             "is_baseline": True},
            {"candidate_id": "challenger", "model": "openai/model-challenger", "params": {"api_base": api_base}},
            {"candidate_id": "refuser", "model": "openai/model-refuser", "params": {"api_base": api_base}},
            *extra_candidates,
        ],
        "gate": {"min_cases": 10, "quality_margin": 0.05, "bootstrap_resamples": 500},
    }
    for candidate in config["candidates"]:
        if candidate["candidate_id"] in (templates or {}):
            candidate["prompt_template"] = templates[candidate["candidate_id"]]
    return "# travel-bot's evaluation config\n" + yaml.safe_dump(config, sort_keys=False)


def golden_cases() -> list[dict[str, Any]]:
    cases = []
    for i, question in enumerate(QUESTIONS):
        cases.append({
            "id": f"travel-{i:02d}",
            "feature": FEATURE,
            "input": question,
            "reference_output": f"Open My Trips, pick the booking and follow the steps shown. ({question})",
            "tier": "smoke" if i < 3 else "core",
            "critical": i < 2,
            "tags": ["golden"],
        })
    return cases


def write_project(
    folder: Path, api_base: str, extra_candidates: list[dict[str, Any]] = (), templates: dict[str, str] | None = None
) -> Path:
    """assay.yaml and golden/travel.yaml in `folder`; returns the config path."""
    (folder / "golden").mkdir(parents=True, exist_ok=True)
    (folder / "golden" / "travel.yaml").write_text(yaml.safe_dump({"cases": golden_cases()}, sort_keys=False))
    config = folder / "assay.yaml"
    config.write_text(config_text(api_base, extra_candidates, templates))
    return config


def _epoch(day: date, seconds: int) -> float:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp() + seconds


def litellm_payloads(days: list[date], per_day: int) -> list[dict[str, Any]]:
    """litellm StandardLoggingPayloads (what `assay.instrument` or a litellm proxy writes):
    every 5th answer a refusal, every 10th call a failure."""
    payloads = []
    for day in days:
        for i in range(per_day):
            question = QUESTIONS[i % len(QUESTIONS)]
            start = _epoch(day, 60 * i)
            failed = i % 10 == 9
            answer = REFUSAL if i % 5 == 4 else f"Sure. {question.rstrip('?')}: open My Trips and choose the booking."
            payloads.append({
                "id": f"chatcmpl-{day.isoformat()}-{i}",
                "trace_id": f"trace-{day.isoformat()}-{i}",
                "call_type": "acompletion",
                "status": "failure" if failed else "success",
                "custom_llm_provider": "openai",
                "startTime": start,
                "endTime": start + 1.2,
                "completionStartTime": start + 0.3,
                "model": "gpt-4o-mini",
                "metadata": {"requester_metadata": {"assay_app": APP, "assay_feature": FEATURE,
                                                    "session_id": f"s-{i}"}},
                "response_cost": None if failed else 0.00012,
                "prompt_tokens": 0 if failed else 20 + i,
                "completion_tokens": 0 if failed else 15,
                "end_user": f"traveller-{i % 4}",
                "messages": [{"role": "user", "content": question}],
                "response": None if failed else {
                    "id": f"chatcmpl-{day.isoformat()}-{i}",
                    "created": int(start),
                    "model": "gpt-4o-mini",
                    "object": "chat.completion",
                    "choices": [{"finish_reason": "stop", "index": 0,
                                 "message": {"content": answer, "role": "assistant"}}],
                    "usage": {"completion_tokens": 15, "prompt_tokens": 20 + i, "total_tokens": 35 + i},
                },
                "model_parameters": {"temperature": 0.2},
                "error_str": "Timeout: upstream took too long" if failed else None,
                "error_information": {"error_class": "Timeout" if failed else "",
                                      "error_message": "upstream took too long" if failed else ""},
            })
    return payloads


def langfuse_export(day: date, generations: int) -> dict[str, Any]:
    """One Langfuse trace export (`{"trace", "observations"}`), as the UI downloads it."""
    trace_id = f"lf{day.strftime('%Y%m%d')}trace"
    stamp = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)

    def iso(seconds: float) -> str:
        return (stamp + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    observations: list[dict[str, Any]] = [
        {"id": "root", "traceId": trace_id, "type": "SPAN", "name": "trip-agent", "parentObservationId": None,
         "startTime": iso(0), "endTime": iso(30), "level": "DEFAULT", "metadata": {}},
        {"id": "lookup", "traceId": trace_id, "type": "TOOL", "name": "find_booking", "parentObservationId": "root",
         "startTime": iso(1), "endTime": iso(2), "input": {"booking": "BK-2231"}, "output": {"status": "confirmed"},
         "level": "DEFAULT"},
    ]
    for i in range(generations):
        question = QUESTIONS[(i + 3) % len(QUESTIONS)]
        observations.append({
            "id": f"gen-{i}", "traceId": trace_id, "type": "GENERATION", "name": "ChatOpenAI",
            "parentObservationId": "root", "startTime": iso(3 + 5 * i), "endTime": iso(4.5 + 5 * i),
            "completionStartTime": iso(3.4 + 5 * i), "model": "gpt-4o-mini",
            "modelParameters": {"temperature": 0.2}, "level": "DEFAULT",
            "input": [{"role": "user", "content": question}],
            "output": {"role": "assistant", "content": f"Here is what to do about it: {question.lower()}"},
            "usageDetails": {"input": 30 + i, "output": 12, "total": 42 + i},
            "costDetails": {"total": 0.0001}, "totalCost": 0.0001,
        })
    return {
        "trace": {"id": trace_id, "name": FEATURE, "timestamp": iso(0), "userId": "traveller-9",
                  "sessionId": "sess-9", "tags": ["web"], "metadata": {"assay_app": APP, "assay_feature": FEATURE}},
        "observations": observations,
    }


def otlp_envelope(day: date, llm_spans: int) -> dict[str, Any]:
    """An OTLP/JSON export (`resourceSpans`) with OTel GenAI chat spans under an agent span."""
    t0 = int(_epoch(day, 3600 * 5)) * 10**9
    trace_id = "7A" * 16

    def span(span_id: str, parent: str | None, name: str, attrs: dict[str, Any], offset_s: int) -> dict[str, Any]:
        out = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
               "startTimeUnixNano": str(t0 + offset_s * 10**9),
               "endTimeUnixNano": str(t0 + offset_s * 10**9 + 900_000_000),
               "attributes": [{"key": k, "value": typed(v)} for k, v in attrs.items()]}
        if parent:
            out["parentSpanId"] = parent
        return out

    spans = [span("B" * 15 + "0", None, FEATURE, {"gen_ai.operation.name": "invoke_agent"}, 0)]
    for i in range(llm_spans):
        question = QUESTIONS[(i + 6) % len(QUESTIONS)]
        spans.append(span(f"{'C' * 15}{i + 1:x}", "B" * 15 + "0", "chat gpt-4o-mini", {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 25,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                {"type": "text", "content": f"You can do that online: {question.lower()}"}]}]),
        }, 2 + i))
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": APP}}]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": spans}],
    }]}


def write_exports(folder: Path, days: list[date]) -> dict[str, tuple[Path, int]]:
    """The three exports, each in the shape its tool writes: {name: (path, LLM calls in it)}."""
    folder.mkdir(parents=True, exist_ok=True)
    payloads = litellm_payloads(days, per_day=20)
    litellm_path = folder / "litellm-calls.jsonl"
    litellm_path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    langfuse_path = folder / "langfuse-trace.json"  # pretty-printed, as Langfuse's UI downloads it
    langfuse_path.write_text(json.dumps(langfuse_export(days[-1], generations=4), indent=2))
    otlp_path = folder / "otel-export.json"  # compact, one document
    otlp_path.write_text(json.dumps(otlp_envelope(days[0], llm_spans=3)))
    return {"litellm": (litellm_path, len(payloads)), "langfuse": (langfuse_path, 4), "otlp": (otlp_path, 3)}


# A fake credential: litellm's openai provider insists on one; the local server ignores it.
FAKE_KEY = "-".join(["local", "test", "server"])


def lake_rows(home: Path, table: str) -> list[dict]:
    """Every row of a lake table under `home`, read straight from its Parquet files."""
    files = [p for p in (home / "lake" / table).glob("*=*/*.parquet")]
    return [row for path in files for row in pq.read_table(path).to_pylist()]
