"""`regression_dataset`: production failures promoted to replayable cases, versioned by content.

A case is one distinct input (messages + context + tools, normalised): every failing call
with that input adds an occurrence. Failures that a replay cannot reproduce (provider errors,
latency and cost breaches: properties of that moment, not of the input) stay in the SLO marts
and are not promoted. A sample of passing calls per feature joins the failures, so the dataset
also guards what works today. The version is a hash of the content: the same failures give
the same version, and a re-run writes nothing new.
"""

import hashlib
import json
import re
from collections import Counter, defaultdict
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assay.config import DatasetConfig
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS
from assay.contracts.failure import FAILURE_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.lake import Lake, atomic_write_text
from assay.selection import hash_fraction
from assets._metadata import count_by, counts_table, partition_metadata
from assets.resources import AssayResource
from assets.sampled_calls import SAMPLED_SCHEMA
from assets.scoring import decode_row

NOT_REPLAYABLE_CATEGORIES = frozenset({"provider_error", "latency_breach", "cost_breach"})
CURRENT_POINTER = "CURRENT"


def normalise_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def case_id_for(messages: list[dict[str, Any]] | None, context: list[str] | None, tools: Any) -> str:
    """Content hash of the normalised input: the same question is one case, whoever asked."""
    normalised = {
        "messages": [
            {"role": m.get("role"), "content": normalise_text(str(m.get("content") or ""))}
            for m in messages or []
        ],
        "context": [normalise_text(doc) for doc in context or []],
        "tools": sorted(t.get("function", t).get("name", "") for t in tools or [] if isinstance(t, dict)),
    }
    digest = hashlib.sha256(json.dumps(normalised, sort_keys=True).encode()).hexdigest()
    return f"case-{digest[:16]}"


def build_cases(
    failures: list[dict[str, Any]],
    passing_calls: list[dict[str, Any]],
    config: DatasetConfig,
) -> tuple[str, list[dict[str, Any]]]:
    """(dataset_version, cases) from decoded failure rows and decoded passing calls."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for failure in failures:
        if failure["failure_category"] in NOT_REPLAYABLE_CATEGORIES:
            continue
        cid = case_id_for(failure.get("messages"), failure.get("context"), failure.get("tools"))
        groups[cid].append(failure)

    cases: dict[str, dict[str, Any]] = {}
    for cid, rows in groups.items():
        call_ids = sorted({r["call_id"] for r in rows})
        categories = Counter(r["failure_category"] for r in rows)
        # Sorted before anything reads rows[0], so the case (and the version) depends on the
        # failures only, never on the order they were read in.
        rows.sort(key=lambda r: (r["ts"], r["call_id"], r["evaluator"]))
        feature = rows[0]["feature"]
        critical = bool(set(categories) & set(config.critical_categories)) or feature in config.critical_features
        occurrences = len(call_ids)
        if critical or occurrences >= config.smoke_min_occurrences:
            tier = "smoke"
        elif occurrences >= 2:
            tier = "core"
        else:
            tier = "edge"
        first = rows[0]
        cases[cid] = {
            "case_id": cid,
            "input": first.get("messages") or [],
            "context": first.get("context"),
            "tools": first.get("tools"),
            "reference_output": None,
            "assertions": sorted({r["evaluator"] for r in rows}),
            "rubric": None,
            "tier": tier,
            "critical": critical,
            # The most frequent category; ties broken by name so the version is stable.
            "failure_category": sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
            "source_call_ids": call_ids,
            "first_seen": min(r["ts"] for r in rows),
            "last_seen": max(r["ts"] for r in rows),
            "occurrences": occurrences,
            "human_label": None,
            "feature": feature,
        }

    # Passing calls grouped by case, per feature; the sample is the lowest hashes of the case
    # ids, so it depends on content only, never on the order rows were read in.
    passing: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for call in passing_calls:
        cid = case_id_for(call.get("messages"), call.get("context"), call.get("tools"))
        if cid not in cases:
            passing[call["feature"]][cid].append(call)
    for feature, by_case in sorted(passing.items()):
        chosen = sorted(by_case, key=lambda cid: (hash_fraction(cid), cid))[: config.passing_samples_per_feature]
        for cid in chosen:
            rows = sorted(by_case[cid], key=lambda c: (c["ts"], c["call_id"]))
            cases[cid] = {
                "case_id": cid,
                "input": rows[0].get("messages") or [],
                "context": rows[0].get("context"),
                "tools": rows[0].get("tools"),
                "reference_output": None,
                "assertions": [],
                "rubric": None,
                "tier": "core",
                "critical": feature in config.critical_features,
                "failure_category": None,
                "source_call_ids": [r["call_id"] for r in rows],
                "first_seen": rows[0]["ts"],
                "last_seen": rows[-1]["ts"],
                "occurrences": len(rows),
                "human_label": None,
                "feature": feature,
            }

    ordered = [cases[k] for k in sorted(cases)]
    version = dataset_version_of(ordered)
    for case in ordered:
        case["dataset_version"] = version
    return version, ordered


def dataset_version_of(cases: list[dict[str, Any]]) -> str:
    content = json.dumps(
        [{k: v for k, v in c.items() if k != "dataset_version"} for c in cases],
        sort_keys=True,
        default=str,
    )
    return "ds-" + hashlib.sha256(content.encode()).hexdigest()[:12]


def diff_versions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, int]:
    """Added / removed / changed case counts between two versions (changed: same id, new content)."""
    def content(c: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in c.items() if k != "dataset_version"}, sort_keys=True, default=str)

    old_by_id = {c["case_id"]: content(c) for c in old}
    new_by_id = {c["case_id"]: content(c) for c in new}
    return {
        "added": len(new_by_id.keys() - old_by_id.keys()),
        "removed": len(old_by_id.keys() - new_by_id.keys()),
        "changed": sum(1 for k in new_by_id.keys() & old_by_id.keys() if new_by_id[k] != old_by_id[k]),
    }


def current_version(lake: Lake) -> str | None:
    pointer = lake.table_dir("regression_dataset") / CURRENT_POINTER
    return pointer.read_text().strip() if pointer.exists() else None


def read_cases(lake: Lake, version: str) -> list[dict[str, Any]]:
    table = lake.read_partition("regression_dataset", {"version": version})
    if table is None:
        raise FileNotFoundError(f"regression dataset version {version} not found in {lake.table_dir('regression_dataset')}")
    return [decode_row(r, CASE_JSON_COLUMNS) for r in table.to_pylist()]


def passing_calls(lake: Lake) -> list[dict[str, Any]]:
    """Sampled successful calls with at least one completed score and no failing one."""
    import duckdb

    sql = f"""
        with scores as (
            select subject_id,
                   count(*) filter (where status = 'completed') as completed,
                   count(*) filter (where status = 'completed' and passed = false) as failed
            from read_parquet('{lake.glob("call_scores")}', union_by_name = true)
            group by subject_id
        )
        select calls.* exclude (sample_reason)
        from read_parquet('{lake.glob("sampled_calls")}', union_by_name = true) as calls
        join scores on scores.subject_id = calls.call_id
        where calls.status = 'success' and scores.completed > 0 and scores.failed = 0
    """
    with duckdb.connect() as con:
        rows = con.sql(sql).arrow().read_all().to_pylist()
    return [decode_row(r, CALL_JSON_COLUMNS) for r in rows]


@dg.asset(deps=["failures", "call_scores"], group_name="curate", kinds={"parquet"})
def regression_dataset(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """Failures of every ingested day promoted to cases (deduped, tiered, critical-flagged),
    plus a stable sample of passing calls; a new content-hashed version when anything changed."""
    lake = assay.lake
    failure_table = lake.read_table("failures")
    failure_rows = [decode_row(r, FAILURE_JSON_COLUMNS) for r in (failure_table.to_pylist() if failure_table else [])]
    lake.ensure_table("sampled_calls", SAMPLED_SCHEMA, ["day"])
    lake.ensure_table("call_scores", SCORE_ARROW_SCHEMA, ["day"])
    version, cases = build_cases(failure_rows, passing_calls(lake), assay.config.dataset)
    previous = current_version(lake)
    diff = diff_versions(read_cases(lake, previous) if previous else [], cases)
    path = lake.write_partition(
        "regression_dataset", cases, partition={"version": version}, schema=CASE_ARROW_SCHEMA, json_columns=CASE_JSON_COLUMNS
    )
    atomic_write_text(lake.table_dir("regression_dataset") / CURRENT_POINTER, version + "\n")
    context.log.info(f"regression dataset {version}: {len(cases)} cases (previous: {previous})")
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(cases)),
            "dataset_version": version,
            "previous_version": previous or "",
            "critical_cases": sum(1 for c in cases if c["critical"]),
            "by_tier": counts_table(count_by(cases, "tier"), "tier"),
            "by_category": counts_table(count_by(cases, "failure_category"), "failure_category"),
            "diff_vs_previous": dg.MetadataValue.json(diff),
        },
        data_version=dg.DataVersion(version),
    )
