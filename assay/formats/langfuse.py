"""Langfuse trace exports: `{"trace": {...}, "observations": [...]}`, per file or per line.

GENERATION observations become calls; every other observation (SPAN, AGENT, TOOL, CHAIN,
RETRIEVER, EVENT, ...) becomes a span record, so the tree survives: trace_id = the trace id,
span_id = the observation id, parent_span_id = `parentObservationId`.

Generations: `model`; tokens from `usageDetails` (else `inputUsage` / `outputUsage`, else the
older `usage`); cost from `costDetails.total` (else `totalCost` / `calculatedTotalCost`; a zero
cost with no cost details means Langfuse could not price the model and stays None);
`startTime` / `endTime` / `completionStartTime` -> ts, latency_ms, ttft_ms; `input` / `output`
in any common message shape, or the OpenInference messages Langfuse keeps under
`metadata.attributes` when present; `promptName` / `promptVersion` -> prompt_id /
prompt_version; `level: ERROR` -> status error with `statusMessage`.

Trace: `userId`, `sessionId`, `tags` (-> metadata.tags), `release` / `version` (-> metadata),
`environment` (Langfuse's placeholder "default" falls back to the trace metadata `environment`,
else unset), other trace metadata -> metadata.trace_metadata. app = trace metadata
`assay_app`, else the OTel resource `service.name` Langfuse recorded (unless
`unknown_service...`), else the configured default; feature = trace metadata `assay_feature`,
else the trace name, else "default".
"""

from __future__ import annotations

from typing import Any

from assay.formats.base import (
    AdapterItem,
    Source,
    compact_json,
    derive,
    json_text,
    make_call,
    make_span,
    maybe_json,
    millis_between,
    normalise_messages,
    normalise_params,
    normalise_tools,
    not_an_object,
    output_messages,
    reject,
    timestamp,
)
from assay.formats.otlp import indexed_messages

FORMAT = "langfuse"

_SPAN_KINDS = {
    "SPAN": "span",
    "AGENT": "agent",
    "TOOL": "tool",
    "CHAIN": "chain",
    "RETRIEVER": "retriever",
    "EVENT": "event",
    "EMBEDDING": "embedding",
    "EVALUATOR": "evaluator",
    "GUARDRAIL": "guardrail",
}
_OPENINFERENCE_KINDS = {"TOOL": "tool", "AGENT": "agent", "CHAIN": "chain", "RETRIEVER": "retriever",
                        "EMBEDDING": "embedding", "RERANKER": "reranker"}
_DROPPED_ATTRIBUTES = frozenset({"input.value", "output.value", "tool_arguments", "tool_response"})


def langfuse(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    whole = 1 if offset is None else offset
    if (problem := not_an_object(record)) is not None:
        return [reject(whole, raw, problem)]
    trace = record.get("trace")
    if not isinstance(trace, dict):
        return [reject(whole, raw, "`trace`: required object is missing (expected "
                       "{\"trace\": {...}, \"observations\": [...]})")]
    observations = record.get("observations", trace.get("observations"))
    if not isinstance(observations, list):
        return [reject(whole, raw, f"`observations`: expected a list, got "
                       f"{type(observations).__name__}")]
    context = _trace_context(trace)
    items = []
    for index, observation in enumerate(observations, start=1):
        where = index if offset is None else offset
        if not isinstance(observation, dict):
            item = reject(where, raw, f"observations[{index - 1}]: expected an object, "
                          f"got {type(observation).__name__}")
        else:
            label = f"observation {observation.get('id') or index - 1}: "
            if observation.get("type") == "GENERATION":
                item = _generation(observation, context, where, raw, source, label)
            else:
                item = _span(observation, context, where, raw, source, label)
        if item.reason is not None and len(observations) > 1:
            item.raw = compact_json(observation)  # quarantine the observation, not the export
        items.append(item)
    return items


def _trace_context(trace: dict[str, Any]) -> dict[str, Any]:
    metadata = _as_dict(trace.get("metadata"))
    resource = metadata.get("resourceAttributes")
    service = resource.get("service.name") if isinstance(resource, dict) else None
    if not isinstance(service, str) or service.startswith("unknown_service"):
        service = None
    extra: dict[str, Any] = {}
    if trace.get("tags"):
        extra["tags"] = trace["tags"]
    for key in ("release", "version"):
        if trace.get(key):
            extra[key] = trace[key]
    environment = trace.get("environment")
    if environment in (None, "", "default"):
        environment = metadata.get("environment")
    user_metadata = {
        k: v for k, v in metadata.items()
        if k not in ("resourceAttributes", "scope", "attributes", "environment")
        and not k.startswith("assay_")
    }
    if user_metadata:
        extra["trace_metadata"] = user_metadata
    return {
        "trace_id": trace.get("id"),
        "app": metadata.get("assay_app") or service,
        "feature": metadata.get("assay_feature") or trace.get("name"),
        "environment": environment or None,
        "user_id": trace.get("userId"),
        "session_id": trace.get("sessionId"),
        "extra": extra,
    }


def _times(
    observation: dict[str, Any], source: Source
) -> tuple[Any, Any, Any, dict[str, Any], str | None]:
    start, problem = timestamp(observation.get("startTime"), "startTime")
    end, problem_end = timestamp(observation.get("endTime"), "endTime")
    first, problem_first = timestamp(observation.get("completionStartTime"), "completionStartTime")
    problem = problem or problem_end or problem_first
    extra: dict[str, Any] = {}
    if problem is None and start is None:
        if source.default_ts is None:
            problem = "`startTime`: required field is missing"
        else:
            start = source.default_ts
            extra["ts_assumed"] = True
    return start, end, first, extra, problem


def _generation(
    obs: dict[str, Any], context: dict[str, Any], offset: int, raw: str, source: Source, label: str,
    fmt: str = FORMAT,
) -> AdapterItem:
    start, end, first, extra, problem = _times(obs, source)
    if problem:
        return reject(offset, raw, label + problem)
    metadata = _as_dict(obs.get("metadata"))
    attrs = metadata.get("attributes") if isinstance(metadata.get("attributes"), dict) else {}

    messages = indexed_messages(attrs, "llm.input_messages.", "message.") if attrs else []
    found_tools: list[dict[str, Any]] = []
    if not messages:
        messages, found_tools = normalise_messages(obs.get("input"))
    outputs = (indexed_messages(attrs, "llm.output_messages.", "message.", default_role="assistant")
               if attrs else [])
    finish = None
    if obs.get("output") is not None:
        parsed_outputs, finish = output_messages(obs["output"])
        outputs = outputs or parsed_outputs
    input_text, output_text, tool_calls = derive(messages, outputs)

    usage = obs.get("usageDetails") if isinstance(obs.get("usageDetails"), dict) else {}
    input_tokens = _first(usage, "input", "prompt_tokens", "input_tokens")
    output_tokens = _first(usage, "output", "completion_tokens", "output_tokens")
    if input_tokens is None and output_tokens is None:
        legacy = obs.get("usage") if isinstance(obs.get("usage"), dict) else {}
        input_tokens = _first(obs, "inputUsage", "promptTokens") or _first(legacy, "input")
        output_tokens = _first(obs, "outputUsage", "completionTokens") or _first(legacy, "output")
    costs = obs.get("costDetails") if isinstance(obs.get("costDetails"), dict) else {}
    cost = costs.get("total")
    if cost is None:
        cost = _first(obs, "totalCost", "calculatedTotalCost")
        if cost == 0 and not costs and not obs.get("providedCostDetails"):
            cost = None  # Langfuse could not price the model: unknown, not free

    provider = (metadata.get("ls_provider") or attrs.get("gen_ai.provider.name")
                or attrs.get("gen_ai.system") or attrs.get("llm.provider") or attrs.get("llm.system"))
    tools = normalise_tools(
        [attrs[k] for k in sorted(attrs) if k.startswith("llm.tools.") and k.endswith(".tool.json_schema")]
    )
    raw_input = obs.get("input")
    if tools is None and isinstance(raw_input, dict):
        tools = normalise_tools(raw_input.get("tools"))
    if tools is None:
        tools = normalise_tools(_tool_definitions(obs.get("toolDefinitions")))
    level = obs.get("level")
    failed = level == "ERROR"
    if level not in (None, "DEFAULT", "DEBUG", "ERROR"):
        extra["level"] = level
    if obs.get("name"):
        extra["name"] = obs["name"]
    environment = obs.get("environment")
    fields = {
        "call_id": obs.get("id"),
        "trace_id": context["trace_id"] or obs.get("traceId"),
        "span_id": obs.get("id"),
        "parent_span_id": obs.get("parentObservationId"),
        "ts": start,
        "app": metadata.get("assay_app") or context["app"],
        "feature": metadata.get("assay_feature") or context["feature"],
        "environment": context["environment"] if environment in (None, "", "default") else environment,
        "prompt_id": obs.get("promptName") or obs.get("promptId"),
        "prompt_version": None if obs.get("promptVersion") is None else str(obs["promptVersion"]),
        "provider": provider.lower() if isinstance(provider, str) else None,
        "model": obs.get("model") or attrs.get("gen_ai.response.model") or attrs.get("llm.model_name"),
        "params": normalise_params(obs.get("modelParameters")),
        "messages": messages,
        "input_text": input_text,
        "tools": tools or normalise_tools(found_tools),
        "tool_calls": tool_calls,
        "output_text": output_text,
        "finish_reason": finish,
        "status": "error" if failed else "success",
        "error_message": obs.get("statusMessage") if failed else None,
        "latency_ms": millis_between(start, end) if "ts_assumed" not in extra else None,
        "ttft_ms": millis_between(start, first) if "ts_assumed" not in extra else None,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": cost,
        "user_id": context["user_id"],
        "session_id": context["session_id"],
        "metadata": {**context["extra"], **extra} or None,
    }
    return make_call(fields, fmt=fmt, offset=offset, raw=raw, source=source, where=label)


def _span(
    obs: dict[str, Any], context: dict[str, Any], offset: int, raw: str, source: Source, label: str,
    fmt: str = FORMAT,
) -> AdapterItem:
    start, end, _, extra, problem = _times(obs, source)
    if problem:
        return reject(offset, raw, label + problem)
    obs_type = obs.get("type")
    output = obs.get("output")
    metadata = _as_dict(obs.get("metadata"))
    attrs = metadata.get("attributes") if isinstance(metadata.get("attributes"), dict) else {}
    kind = _SPAN_KINDS.get(obs_type, "span") if isinstance(obs_type, str) else "span"
    if kind == "span":
        oi_kind = attrs.get("openinference.span.kind")
        if isinstance(oi_kind, str) and oi_kind.upper() in _OPENINFERENCE_KINDS:
            kind = _OPENINFERENCE_KINDS[oi_kind.upper()]
        elif "gen_ai.tool.name" in attrs or "tool.name" in attrs:
            kind = "tool"
        elif "gen_ai.agent.name" in attrs:
            kind = "agent"
        elif isinstance(output, dict) and output.get("type") == "tool" and output.get("tool_call_id"):
            kind = "tool"  # a LangChain ToolMessage: the span ran a tool
    tool_call_id = attrs.get("gen_ai.tool.call.id")
    if tool_call_id is None and isinstance(output, dict):
        tool_call_id = output.get("tool_call_id")
    tool_name = attrs.get("gen_ai.tool.name") or attrs.get("tool.name")
    if tool_name is None and kind == "tool":
        tool_name = output.get("name") if isinstance(output, dict) and output.get("name") else obs.get("name")
    attributes = {k: v for k, v in metadata.items() if k not in ("resourceAttributes", "scope")}
    if attrs:
        attributes["attributes"] = {k: v for k, v in attrs.items() if k not in _DROPPED_ATTRIBUTES}
    if obs_type:
        attributes["langfuse.type"] = obs_type
    attributes.update(extra)
    failed = obs.get("level") == "ERROR"
    fields = {
        "trace_id": context["trace_id"] or obs.get("traceId"),
        "span_id": obs.get("id"),
        "parent_span_id": obs.get("parentObservationId"),
        "ts": start,
        "end_ts": end,
        "kind": kind,
        "name": obs.get("name"),
        "tool_name": None if tool_name is None else str(tool_name),
        "tool_call_id": None if tool_call_id is None else str(tool_call_id),
        "input": json_text(obs.get("input")),
        "output": json_text(output),
        "status": "error" if failed else "success",
        "error_message": obs.get("statusMessage") if failed else None,
        "attributes": attributes or None,
    }
    return make_span(fields, fmt=fmt, offset=offset, raw=raw, source=source, where=label)


def _tool_definitions(value: Any) -> list[Any] | None:
    """The enriched export's `tool_definitions` (tool name -> its schema, as an object or JSON
    text) as a list of definitions."""
    value = maybe_json(value)
    if isinstance(value, list):
        return value
    if not isinstance(value, dict) or not value:
        return None
    out = []
    for name, definition in value.items():
        definition = maybe_json(definition)
        if isinstance(definition, dict):
            out.append(definition if definition.get("name") or "function" in definition else {"name": name, **definition})
        else:
            out.append({"name": name, "description": None if definition is None else str(definition)})
    return out


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def _as_dict(value: Any) -> dict[str, Any]:
    """Langfuse metadata is an object, or JSON text of one (trace metadata in exports)."""
    value = maybe_json(value)
    return value if isinstance(value, dict) else {}


# --- enriched observations: Langfuse's scheduled blob-storage export ---------------------------

OBSERVATIONS_FORMAT = "langfuse_observations"

_ROW_KEYS = {
    # enriched-observation column (snake_case) -> the observation key the readers above use
    "trace_id": "traceId",
    "parent_observation_id": "parentObservationId",
    "start_time": "startTime",
    "end_time": "endTime",
    "completion_start_time": "completionStartTime",
    "status_message": "statusMessage",
    "provided_model_name": "model",
    "providedModelName": "model",
    "model_parameters": "modelParameters",
    "usage_details": "usageDetails",
    "cost_details": "costDetails",
    "total_cost": "totalCost",
    "prompt_id": "promptId",
    "prompt_name": "promptName",
    "prompt_version": "promptVersion",
    "tool_definitions": "toolDefinitions",
}
_TRACE_KEYS = {
    "trace_name": "name", "traceName": "name", "user_id": "userId", "userId": "userId",
    "session_id": "sessionId", "sessionId": "sessionId", "tags": "tags", "release": "release",
}


def is_observation_row(record: Any) -> bool:
    """An enriched observation (`observations_v2/` row) or a public-API observation."""
    if not isinstance(record, dict) or "id" not in record or "type" not in record:
        return False
    return ("trace_id" in record and "start_time" in record) or (
        "traceId" in record and "startTime" in record and "observations" not in record
    )


def observation_rows(record: Any) -> list[Any] | None:
    """The rows of a document: a list (the export's JSON file format), the public API's
    `{"data": [...]}` page, or None for a single row."""
    if isinstance(record, list):
        return record
    if isinstance(record, dict) and isinstance(record.get("data"), list) and not is_observation_row(record):
        return record["data"]
    return None


def observation_version(row: Any) -> tuple[str, str] | None:
    """(observation id, its `updated_at` text, "" when absent) of one row, for picking the
    version that wins when overlapping exports carry the same observation twice."""
    if not isinstance(row, dict) or not row.get("id"):
        return None
    updated = row.get("updated_at", row.get("updatedAt"))
    return str(row["id"]), "" if updated is None else str(updated)


def langfuse_observations(record: Any, *, offset: int | None, raw: str, source: Source) -> list[AdapterItem]:
    """Enriched observations, Langfuse's blob-storage export (`observations_v2/`, JSONL or JSON):
    one observation per row with its trace's fields copied onto it (`trace_name`, `user_id`,
    `session_id`, `tags`, `release`, `environment`); snake_case columns, timestamps as
    `YYYY-MM-DD HH:MM:SS.ffffff` UTC, empty strings for unset text. Rows of the public API
    (`GET /api/public/v2/observations`, camelCase) read the same way. GENERATION rows become
    calls and the others spans, exactly as in a trace export (see `langfuse`)."""
    rows = observation_rows(record)
    if rows is None:
        return [_observation_row(record, offset=1 if offset is None else offset, raw=raw, source=source)]
    items = []
    for index, row in enumerate(rows, start=1):
        item = _observation_row(row, offset=index if offset is None else offset, raw=raw, source=source)
        if item.reason is not None:
            item.raw = compact_json(row)  # quarantine the row, not the whole export
        items.append(item)
    return items


def _observation_row(row: Any, *, offset: int, raw: str, source: Source) -> AdapterItem:
    if (problem := not_an_object(row)) is not None:
        return reject(offset, raw, problem)
    if not is_observation_row(row):
        keys = ", ".join(list(row)[:10]) or "none"
        return reject(offset, raw, "expected a Langfuse observation row (`id`, `trace_id`, `type`, `start_time`, ...); "
                      f"got keys: {keys}")
    observation: dict[str, Any] = {}
    trace: dict[str, Any] = {"id": row.get("trace_id", row.get("traceId"))}
    for key, value in row.items():
        if value == "":
            continue  # the export writes unset text as ""
        if key in _TRACE_KEYS:
            trace[_TRACE_KEYS[key]] = value
        observation[_ROW_KEYS.get(key, key)] = maybe_json(value) if key in ("input", "output") else value
    observation.pop("userId", None)
    observation.pop("sessionId", None)
    if observation.get("environment"):
        trace["environment"] = observation["environment"]
    context = _trace_context(trace)
    label = f"observation {row.get('id')}: "
    if observation.get("type") == "GENERATION":
        return _generation(observation, context, offset, raw, source, label, OBSERVATIONS_FORMAT)
    return _span(observation, context, offset, raw, source, label, OBSERVATIONS_FORMAT)
