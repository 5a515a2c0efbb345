"""`failures`: the day's failing scores, classified into the failure taxonomy."""

from typing import Any

import dagster as dg
from assay.assets._metadata import count_by, counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.partitions import daily_partitions
from assay.assets.scoring import decode_row
from dagster import AssetExecutionContext

from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.failure import FAILURE_ARROW_SCHEMA, FAILURE_JSON_COLUMNS
from assay.contracts.taxonomy import DEFAULT_SEVERITY

# An evaluator that names no category still produced a failure; it is filed here rather
# than dropped, so it shows up and someone can classify the evaluator.
UNCLASSIFIED_CATEGORY = "reasoning_error"


def classify_failures(calls: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One failure row per completed, failing score, with the call's input and output."""
    by_id = {c["call_id"]: c for c in calls}
    failures = []
    for score in scores:
        if score["status"] != "completed" or score["passed"] is not False:
            continue
        call = by_id.get(score["subject_id"])
        if call is None:
            continue
        category = score.get("failure_category") or UNCLASSIFIED_CATEGORY
        failures.append(
            {
                "call_id": call["call_id"],
                "ts": call["ts"],
                "app": call["app"],
                "feature": call["feature"],
                "model": call["model"],
                "prompt_version": call.get("prompt_version"),
                "evaluator": score["evaluator"],
                "metric": score["metric"],
                "failure_category": category,
                "severity": DEFAULT_SEVERITY.get(category, "medium"),
                "evidence": score.get("explanation"),
                "messages": call.get("messages"),
                "input_text": call.get("input_text"),
                "context": call.get("context"),
                "tools": call.get("tools"),
                "output_text": call.get("output_text"),
            }
        )
    return failures


@dg.asset(partitions_def=daily_partitions, deps=["call_scores"], group_name="evaluate", kinds={"parquet"})
def failures(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """The day's failing scores with category, severity, evidence and the call's input/output."""
    partition = {"day": context.partition_key}
    sampled = assay.lake.read_partition("sampled_calls", partition)
    scores = assay.lake.read_partition("call_scores", partition)
    calls = [decode_row(r, CALL_JSON_COLUMNS) for r in (sampled.to_pylist() if sampled is not None else [])]
    rows = classify_failures(calls, scores.to_pylist() if scores is not None else [])
    path = assay.lake.write_partition(
        "failures", rows, partition=partition, schema=FAILURE_ARROW_SCHEMA, json_columns=FAILURE_JSON_COLUMNS
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "failing_calls": len({r["call_id"] for r in rows}),
            "by_category": counts_table(count_by(rows, "failure_category"), "failure_category"),
        }
    )
