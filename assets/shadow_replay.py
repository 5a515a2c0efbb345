"""The shadow assets: past days' production calls replayed through a candidate, and scored
(`assay compare` runs them: `assay.orchestration.shadow_backfill`).

`shadow_outputs` / `shadow_scores` are partitioned day x candidate. A partition replays the
day's `sampled_calls` through the candidate (the production conversation, with the candidate's
system prompt in place of production's when it has one) through the LLM engine — the judge
section's provider limits, the run budget, and the response cache keyed by (candidate, prompt
version, messages, params), so re-running a partition pays nothing — then scores the answers
with the same evaluators, selected the same way, as that day's production responses. The
partition's metadata sets the candidate's pass rate beside production's on the same calls.
"""

from collections import Counter
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.candidate_outputs import load_candidate, output_row, protect_outputs
from assay.assets.partitions import shadow_partitions
from assay.assets.scoring import decode_row, score_subjects, scores_to_rows
from dagster import AssetExecutionContext

from assay.config import AssayConfig
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.candidate import Candidate
from assay.contracts.candidate_output import (
    CANDIDATE_OUTPUT_JSON_COLUMNS,
    SHADOW_OUTPUT_ARROW_SCHEMA,
)
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS
from assay.llm.engine import LLMRequest, LLMResult

SHADOW_SCORE_SCHEMA = SCORE_ARROW_SCHEMA.append(pa.field("candidate_id", pa.string()))


def shadow_partition(context: AssetExecutionContext) -> tuple[str, str]:
    """(day, candidate id) of the run's partition."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    return keys["day"], keys["candidate"]


def shadow_request(candidate: Candidate, call: dict[str, Any]) -> LLMRequest:
    """The production conversation as the candidate would get it. The namespace is the
    candidate replay's: the same question asked of the same candidate is the same answer."""
    messages = list(call.get("messages") or [])
    if not messages and call.get("input_text"):
        messages = [{"role": "user", "content": call["input_text"]}]
    if candidate.prompt_template:
        system = candidate.prompt_template.replace("{feature}", str(call.get("feature") or ""))
        messages = [{"role": "system", "content": system}, *(m for m in messages if m.get("role") != "system")]
    params = dict(candidate.params)
    if call.get("tools"):
        params["tools"] = call["tools"]
    return LLMRequest(
        model=candidate.model or "",
        messages=messages,
        params=params,
        cache_namespace=f"candidate:{candidate.candidate_id}:{candidate.prompt_version}",
    )


def shadow_results(candidate: Candidate, calls: list[dict[str, Any]], engine, *, config_file: str) -> list[LLMResult]:
    if candidate.recorded:
        from assay.recorded_outputs import read_recorded_outputs, resolve_recorded_path

        recorded = read_recorded_outputs(resolve_recorded_path(candidate.recorded, config_file))
        return [recorded.result_for(c["call_id"], c.get("input_text")) for c in calls]
    return engine.run([shadow_request(candidate, call) for call in calls])


def shadow_subject(call: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """The production call with the candidate's answer in place of production's: the shape
    (and selection fields) production's evaluators read."""
    return call | {
        "subject_id": call["call_id"],
        "model": output["model"],
        "output_text": output.get("output_text"),
        "tool_calls": output.get("tool_calls"),
        "finish_reason": output.get("finish_reason"),
        "status": "success" if output["status"] == "completed" else "error",
        "error_type": output.get("error_type"),
        "error_message": output.get("error_message"),
        "latency_ms": output.get("latency_ms"),
        "input_tokens": output.get("input_tokens"),
        "output_tokens": output.get("output_tokens"),
        "cost_usd": output.get("cost_usd"),
        "metadata": (call.get("metadata") or {}) | {"redactions": output.get("redactions") or {}},
    }


def read_calls(assay: AssayResource, day: str) -> list[dict[str, Any]]:
    table = assay.lake.read_partition("sampled_calls", {"day": day})
    if table is None:
        raise dg.Failure(f"no sampled_calls for {day}: run the daily job for that day first")
    return [decode_row(r, CALL_JSON_COLUMNS) for r in table.to_pylist()]


def production_scores(assay: AssayResource, day: str) -> list[dict[str, Any]] | None:
    table = assay.lake.read_partition("call_scores", {"day": day})
    return None if table is None else table.select(["subject_id", "evaluator", "status", "passed"]).to_pylist()


def same_evaluators(config: AssayConfig, production: list[dict[str, Any]] | None) -> AssayConfig:
    """The config with the evaluators that scored the day's production answers, so candidate
    and production are compared on the same checks (an evaluator added since, and not yet
    backfilled over that day, is left out). Without production scores: every evaluator."""
    if production is None:
        return config
    names = {r["evaluator"] for r in production}
    return config.model_copy(update={"evaluators": [e for e in config.evaluators if e.name in names]})


def pass_rate_on(production: list[dict[str, Any]], subject_ids: set[str], evaluators: set[str]) -> float | None:
    """Production's pass rate over the same calls and evaluators as the shadow run."""
    rows = [
        r for r in production
        if r["status"] == "completed" and r["subject_id"] in subject_ids and r["evaluator"] in evaluators
    ]
    return sum(1 for r in rows if r["passed"]) / len(rows) if rows else None


@dg.asset(
    partitions_def=shadow_partitions,
    deps=["sampled_calls"],
    group_name="compare",
    kinds={"parquet"},
    pool="llm",
)
def shadow_outputs(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """One past day's sampled production calls replayed through one candidate."""
    day, candidate_id = shadow_partition(context)
    candidate = load_candidate(assay.config, candidate_id)
    calls = read_calls(assay, day)
    engine = assay.llm_engine(context.log.info)
    try:
        results = shadow_results(candidate, calls, engine, config_file=assay.config_file)
    except ValueError as exc:  # a bad recorded file names its line and key
        raise dg.Failure(str(exc)) from None
    rows = []
    for call, result in zip(calls, results, strict=True):
        row = output_row(candidate, {"case_id": call["call_id"]}, result, dataset_version=day)
        rows.append({k: v for k, v in row.items() if k not in ("case_id", "dataset_version")} | {"call_id": call["call_id"]})
    redacted = protect_outputs(rows, assay.config.redaction)
    path = assay.lake.write_partition(
        "shadow_outputs", rows, partition={"candidate": candidate_id, "day": day},
        schema=SHADOW_OUTPUT_ARROW_SCHEMA, json_columns=CANDIDATE_OUTPUT_JSON_COLUMNS,
    )
    latencies = [r["latency_ms"] for r in rows if r["latency_ms"] is not None]
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "model": candidate.model,
            "latency_p95_ms": float(np.quantile(latencies, 0.95)) if latencies else 0.0,
            "by_status": counts_table(Counter(r["status"] for r in rows), "status"),
            "redacted_entities": counts_table(redacted, "entity"),
            **{f"llm_{k}": v for k, v in engine.stats.as_metadata().items()},
        }
    )


@dg.asset(
    partitions_def=shadow_partitions,
    deps=["shadow_outputs", "call_scores"],
    group_name="compare",
    kinds={"parquet"},
    pool="llm",
)
def shadow_scores(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """The candidate's answers to a past day's calls, scored by that day's production evaluators."""
    day, candidate_id = shadow_partition(context)
    load_candidate(assay.config, candidate_id)
    partition = {"candidate": candidate_id, "day": day}
    table = assay.lake.read_partition("shadow_outputs", partition)
    if table is None:
        raise dg.Failure(f"no shadow_outputs for {candidate_id} on {day}: materialise shadow_outputs first")
    outputs = {o["call_id"]: o for o in (decode_row(r, CANDIDATE_OUTPUT_JSON_COLUMNS) for r in table.to_pylist())}
    subjects = [shadow_subject(call, outputs[call["call_id"]]) for call in read_calls(assay, day) if call["call_id"] in outputs]
    production_rows = production_scores(assay, day)
    config = same_evaluators(assay.config, production_rows)
    engine = assay.llm_engine(context.log.info, budget_usd=config.judge.budget_usd)
    scores = score_subjects(subjects, config, "calls", engine, run_id=context.run_id, log=context.log.info)
    rows = scores_to_rows(scores, candidate_id=candidate_id)
    path = assay.lake.write_partition(
        "shadow_scores", rows, partition=partition, schema=SHADOW_SCORE_SCHEMA, json_columns=SCORE_JSON_COLUMNS
    )
    completed = [s for s in scores if s.status == "completed"]
    pass_rate = sum(1 for s in completed if s.passed) / len(completed) if completed else 0.0
    production = (
        pass_rate_on(production_rows, {s["subject_id"] for s in subjects}, {e.name for e in config.evaluators})
        if production_rows is not None
        else None
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "pass_rate": pass_rate,
            "evaluators": ", ".join(e.name for e in config.evaluators),
            "production_pass_rate": production if production is not None else float("nan"),
            "pass_rate_delta": pass_rate - production if production is not None else float("nan"),
            "by_status": counts_table(Counter(s.status for s in scores), "status"),
            "failures_by_evaluator": counts_table(Counter(s.evaluator for s in completed if s.passed is False), "evaluator"),
            **{f"judge_{k}": v for k, v in engine.stats.as_metadata().items()},
        }
    )
