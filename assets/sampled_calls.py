"""`sampled_calls`: which of the day's calls get scored.

Sampling is deterministic (a hash of call_id against the rate) so a re-run picks the same
calls and a backfill is reproducible. Errors and negatively rated calls are always kept:
they are the calls most likely to become regression cases. Exact repeats of a call (a
client retry logged twice: same user, input and output) are scored once.
"""

from typing import Any

import dagster as dg
import pyarrow as pa
from assay.assets._metadata import count_by, counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.partitions import daily_partitions
from dagster import AssetExecutionContext

from assay.config import SamplingConfig
from assay.contracts._arrow import to_json_text
from assay.contracts.call import CALL_ARROW_SCHEMA, CALL_JSON_COLUMNS
from assay.selection import hash_fraction


def sample_calls(calls: list[dict[str, Any]], sampling: SamplingConfig) -> list[dict[str, Any]]:
    """The sampled calls, each with `sample_reason` (rate | error | negative_feedback)."""
    kept: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for call in sorted(calls, key=lambda c: (c["ts"], c["call_id"])):
        fingerprint = (
            call.get("user_id"),
            call.get("model"),
            call.get("input_text"),
            call.get("output_text"),
            # A tool call's output is its tool calls: different calls are not a repeat.
            to_json_text(call.get("tool_calls")),
        )
        # Only a repeat of a call already kept is dropped: a negatively rated retry of a call
        # the rate did not pick is still always included.
        if call.get("status") == "success" and fingerprint in seen:
            continue
        reason = None
        if sampling.always_include_errors and call.get("status") == "error":
            reason = "error"
        elif sampling.always_include_negative_feedback and (call.get("feedback_score") or 0) < 0:
            reason = "negative_feedback"
        elif hash_fraction(call["call_id"]) < sampling.per_feature.get(
            call["feature"], sampling.rate
        ):
            reason = "rate"
        if reason:
            seen.add(fingerprint)
            kept.append(call | {"sample_reason": reason})
    return kept


SAMPLED_SCHEMA = CALL_ARROW_SCHEMA.append(pa.field("sample_reason", pa.string()))


@dg.asset(
    partitions_def=daily_partitions, deps=["raw_calls"], group_name="evaluate", kinds={"parquet"}
)
def sampled_calls(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """The day's calls chosen for scoring: a stable hash sample plus every error and every
    negatively rated call, exact repeats removed."""
    partition = {"day": context.partition_key}
    raw = assay.lake.read_partition("raw_calls", partition)
    calls = raw.to_pylist() if raw is not None else []
    sampled = sample_calls(calls, assay.config.sampling)
    path = assay.lake.write_partition(
        "sampled_calls",
        sampled,
        partition=partition,
        schema=SAMPLED_SCHEMA,
        json_columns=CALL_JSON_COLUMNS,
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(sampled)),
            "sampled_share": len(sampled) / len(calls) if calls else 0.0,
            "by_reason": counts_table(count_by(sampled, "sample_reason"), "reason"),
        }
    )
