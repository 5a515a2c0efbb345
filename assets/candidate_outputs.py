"""`candidate_outputs`: the current regression dataset replayed through one candidate.

Replays go through the same LLM engine as judging (bounded concurrency, retries, cache): a
re-run of an unchanged (candidate, case) reads the cached answer, so it neither pays again
nor changes the outputs a decision was based on.
"""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
from assay.assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource, batches_open_check
from assay.assets.partitions import candidate_partitions
from assay.assets.quality import (
    CANDIDATE_OUTPUT_CHECKED_COLUMNS,
    validate_candidate_outputs_partition,
)
from dagster import AssetExecutionContext

from assay.config import AssayConfig, RedactionConfig
from assay.contracts.candidate import Candidate
from assay.contracts.candidate_output import (
    CANDIDATE_OUTPUT_ARROW_SCHEMA,
    CANDIDATE_OUTPUT_JSON_COLUMNS,
)
from assay.contracts.case import last_user_text
from assay.dataset_pointer import current_version, read_cases
from assay.glossary import BATCH_REPLAY_LATENCY, COST_RULE, LATENCY_RULE, round_sig
from assay.llm.engine import LLMRequest, LLMResult
from assay.outcomes import BAD_RESPONSE
from assay.privacy.redaction import Redactor


def replay_request(candidate: Candidate, case: dict[str, Any], sample: int = 0) -> LLMRequest:
    """The replay of one case; sample k > 0 of a regression run is its own request (its own
    cache key), while sample 0 keeps the key a single replay has always had."""
    messages = list(case["input"])
    if candidate.prompt_template:
        system = candidate.prompt_template.replace("{feature}", str(case.get("feature") or ""))
        messages = [{"role": "system", "content": system}, *messages]
    params = dict(candidate.params)
    if case.get("tools"):
        params["tools"] = case["tools"]
    return LLMRequest(
        model=candidate.model,
        messages=messages,
        params=params,
        cache_namespace=f"candidate:{candidate.candidate_id}:{candidate.prompt_version}" + (f"#sample{sample}" if sample else ""),
    )


EMPTY_REPLY = "empty reply: no text and no tool calls"


def usable_result(result: LLMResult) -> LLMResult:
    """A completed replay that carries neither text nor tool calls is a `bad_response` error:
    there is nothing to evaluate, and scoring the blank would let it pass every check that
    reads text (they skip for missing input) or fail it on quality for a provider's glitch."""
    blank = not (result.text or "").strip() and not result.tool_calls
    if result.status != "completed" or not blank:
        return result
    return replace(result, status="error", error_type=BAD_RESPONSE,
                   error_message=f"{EMPTY_REPLY} (finish_reason {result.finish_reason or 'none'})")


def output_row(
    candidate: Candidate, case: dict[str, Any], result: LLMResult, *, dataset_version: str
) -> dict[str, Any]:
    result = usable_result(result)
    cost_usd = result.cost_usd
    if candidate.price_override and result.status == "completed":
        cost_usd = (result.input_tokens or 0) * candidate.price_override.get("input_cost_per_token", 0) + (
            result.output_tokens or 0
        ) * candidate.price_override.get("output_cost_per_token", 0)
    return {
        "candidate_id": candidate.candidate_id,
        "candidate_fingerprint": candidate.fingerprint,
        "case_id": case["case_id"],
        "dataset_version": dataset_version,
        "model": candidate.model,
        "prompt_version": candidate.prompt_version,
        "output_text": result.text,
        "tool_calls": result.tool_calls,
        "finish_reason": result.finish_reason,
        "status": result.status,
        "error_type": result.error_type,
        "error_message": result.error_message,
        "latency_ms": result.latency_ms,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": cost_usd if result.status == "completed" else None,
        "is_cache_hit": result.is_cache_hit,
        "generated_at": datetime.now(UTC),
    }


def protect_outputs(rows: list[dict[str, Any]], redaction: RedactionConfig) -> Counter:
    """Redact replay outputs before they are stored, recording what the output held (the PII
    evaluator counts it: a candidate that leaks still fails after its text is masked)."""
    if not redaction.enabled:
        return Counter()
    redactor = Redactor.from_config(redaction)
    totals: Counter = Counter()
    for row in rows:
        row["output_text"], found = redactor.text(row["output_text"])
        if found:
            row["redactions"] = {"output_text": dict(found)}
            totals.update(found)
        totals.update(redactor.rows([row], ("tool_calls", "error_message")))
    return totals


def case_subject(case: dict[str, Any], output: dict[str, Any], baseline_output: str | None = None) -> dict[str, Any]:
    """A replayed case in the shape evaluators read (the call record's field names), with the
    baseline's answer to the same case for pairwise judges."""
    return {
        "baseline_output": baseline_output,
        "subject_id": case["case_id"],
        "feature": case.get("feature"),
        "messages": case["input"],
        "input_text": last_user_text(case["input"]),
        "context": case.get("context"),
        "tools": case.get("tools"),
        "expected_output": case.get("reference_output"),
        "output_text": output.get("output_text"),
        "tool_calls": output.get("tool_calls"),
        "status": "error" if output["status"] != "completed" else "success",
        "error_type": output.get("error_type"),
        "latency_ms": output.get("latency_ms"),
        "cost_usd": output.get("cost_usd"),
        # The case's own metadata (a red-team case's canary) and tags reach the evaluators, so
        # `canary_leak` and `applies_to: {tags: [...]}` work on replayed cases as on calls.
        "metadata": {**(case.get("metadata") or {}), "tags": list(case.get("tags") or []),
                     "redactions": output.get("redactions") or {}},
    }


def latency_values(rows: list[dict[str, Any]], timeout_s: float | None) -> tuple[list[float], dict[str, Any]]:
    """The latency distribution of LATENCY_RULE, and its counts. A completed replay without a
    latency (a recording without `latency_ms`) leaves no values: unknown, never guessed."""
    floor_ms = (timeout_s or 0.0) * 1000
    # Replay rows (`status`) or the candidate_case_scores mart's (`output_status`).
    completed = [r for r in rows if r.get("output_status", r.get("status")) == "completed"]
    failed = [r for r in rows if r.get("output_status", r.get("status")) == "error"]
    unknown = [r["case_id"] for r in completed if r.get("latency_ms") is None]
    breakdown = {"completed": len(completed), "failed_counted": len(failed), "failure_floor_ms": floor_ms,
                 "unknown_latency": len(unknown), "rule": LATENCY_RULE}
    values = [float(r["latency_ms"]) for r in completed if r.get("latency_ms") is not None]
    values += [max(float(r.get("latency_ms") or 0.0), floor_ms) for r in failed]
    return (values if not unknown else []), breakdown


def replay_measures(rows: list[dict[str, Any]], timeout_s: float | None, *, is_batch: bool = False) -> dict[str, Any]:
    """The replays' latency p95 and cost per request by the gate's rules, rounded, for the
    Dagster UI: an unknown one is said to be unknown, never shown as 0; a batch replay's
    latency is not measured (`is_batch`: its time is queue time)."""
    values, counts = latency_values(rows, timeout_s)
    completed = [r for r in rows if r["status"] == "completed"]
    costs = [r["cost_usd"] for r in completed if r["cost_usd"] is not None]
    measures: dict[str, Any] = {
        "definitions": dg.MetadataValue.md(
            f"- **latency_p95_ms**: {LATENCY_RULE}\n"
            f"- **cost_per_request_usd**: {COST_RULE}"
        ),
    }
    if is_batch:
        measures["latency_p95_ms"] = BATCH_REPLAY_LATENCY
    elif values:
        measures["latency_p95_ms"] = round(float(np.quantile(values, 0.95)), 1)
    else:
        measures["latency_p95_ms"] = f"unknown ({counts['unknown_latency']} completed replays without a latency)"
    if completed and len(costs) == len(completed):
        measures["cost_per_request_usd"] = round_sig(float(np.mean(costs)), 3)
    elif completed:
        measures["cost_per_request_usd"] = f"unknown ({len(completed) - len(costs)} completed replays without a known cost)"
    return measures


def load_candidate(config: AssayConfig, candidate_id: str) -> Candidate:
    for candidate in config.candidates:
        if candidate.candidate_id == candidate_id:
            return candidate
    known = ", ".join(c.candidate_id for c in config.candidates) or "none"
    raise dg.Failure(f"candidate {candidate_id!r} is not in the config's `candidates` (known: {known})")


CANDIDATE_OUTPUTS_SUITE = "candidate_outputs_expectations"

SAMPLES_TABLE = "candidate_output_samples"
"""Samples 1..n-1 of a regression run (sample 0 is `candidate_outputs` itself, so everything
downstream still sees one replay per case)."""
SAMPLE_OUTPUT_SCHEMA = CANDIDATE_OUTPUT_ARROW_SCHEMA.append(pa.field("sample", pa.int64()))


def replay_results(
    candidate: Candidate, cases: list[dict[str, Any]], engine, *, config_file: str
) -> list[list[LLMResult]]:
    """Per sample, one result per case: read from the recording, or replayed through the
    engine (every sample in one batch, so they share the engine's limits)."""
    if candidate.recorded:
        from assay.recorded_outputs import read_recorded_outputs, resolve_recorded_path

        recorded = read_recorded_outputs(resolve_recorded_path(candidate.recorded, config_file))
        return [[recorded.result_for(c["case_id"], last_user_text(c["input"])) for c in cases]]
    requests = [replay_request(candidate, case, sample) for sample in range(candidate.samples) for case in cases]
    results = engine.run(requests)
    return [results[k * len(cases) : (k + 1) * len(cases)] for k in range(candidate.samples)]


@dg.asset(
    partitions_def=candidate_partitions,
    deps=["regression_dataset"],
    group_name="regress",
    kinds={"parquet"},
    pool="llm",
    # replay_mode: batch: a run that submitted replay batches writes nothing; the
    # judge_batch_sensor re-runs the candidate once they are collected.
    output_required=False,
    check_specs=[
        blocking_suite_spec(
            CANDIDATE_OUTPUTS_SUITE,
            "candidate_outputs",
            candidate_partitions,
            "Great Expectations suite: one replay per case, a known status, an error type on every "
            "failed replay, non-negative latency, tokens and cost.",
        )
    ],
)
def candidate_outputs(context: AssetExecutionContext, assay: AssayResource):
    """The current regression dataset replayed through one candidate (model + prompt)."""
    candidate = load_candidate(assay.config, context.partition_key)
    version = current_version(assay.lake)
    if version is None:
        raise dg.Failure("no regression dataset yet: materialise regression_dataset first")
    cases = read_cases(assay.lake, version)
    engine = assay.llm_engine(context.log.info)
    if candidate.replays_in_batch:
        engine.batch = assay.batch_judge(engine, context.log.info)
        engine.batch_scope = f"candidate_outputs/candidate={candidate.candidate_id}/version={version}"
    how = f"read from {candidate.recorded}" if candidate.recorded else f"replayed through {candidate.model}"
    context.log.info(f"{len(cases)} cases of {version} x {candidate.samples} sample(s), {how}")
    try:
        per_sample = replay_results(candidate, cases, engine, config_file=assay.config_file)
    except ValueError as exc:  # a bad recorded file: its message names file, line and key
        raise dg.Failure(str(exc)) from None
    if engine.stats.batch_pending:
        yield batches_open_check(engine, assay, CANDIDATE_OUTPUTS_SUITE, context.log.info)
        return
    samples = [
        [output_row(candidate, case, result, dataset_version=version) for case, result in zip(cases, results, strict=True)]
        for results in per_sample
    ]
    rows = samples[0]
    redacted = Counter()
    for sample_rows in samples:
        redacted.update(protect_outputs(sample_rows, assay.config.redaction))
    extra = [row | {"sample": k} for k, sample_rows in enumerate(samples[1:], start=1) for row in sample_rows]
    # Always written (empty for one sample), so a run with fewer samples leaves no stale ones.
    assay.lake.write_partition(
        SAMPLES_TABLE, extra, partition={"candidate": candidate.candidate_id},
        schema=SAMPLE_OUTPUT_SCHEMA, json_columns=CANDIDATE_OUTPUT_JSON_COLUMNS,
    )
    path = assay.lake.write_partition(
        "candidate_outputs",
        rows,
        partition={"candidate": candidate.candidate_id},
        schema=CANDIDATE_OUTPUT_ARROW_SCHEMA,
        json_columns=CANDIDATE_OUTPUT_JSON_COLUMNS,
    )
    yield dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "dataset_version": version,
            "model": candidate.model,
            "samples": candidate.samples,
            "recorded": candidate.recorded or "",
            "missing_outputs": sum(1 for r in rows if r["error_type"] == "missing_output"),
            **replay_measures(rows, assay.config.judge.timeout_s, is_batch=candidate.replays_in_batch),
            "by_status": counts_table(Counter(r["status"] for r in rows), "status"),
            "by_error_type": counts_table(Counter(r["error_type"] for r in rows if r["error_type"]), "error_type"),
            "redacted_entities": counts_table(redacted, "entity"),
            **{f"llm_{k}": v for k, v in engine.stats.as_metadata().items()},
        },
        check_results=[
            suite_check_result(
                "candidate_outputs",
                CANDIDATE_OUTPUTS_SUITE,
                validate_candidate_outputs_partition(read_for_suite(path, CANDIDATE_OUTPUT_CHECKED_COLUMNS)),
            )
        ],
    )
