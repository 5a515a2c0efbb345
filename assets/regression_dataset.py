"""`regression_dataset`: production failures promoted to replayable cases, versioned by content.

A case is one distinct input (messages + context + tools, normalised): every failing call
with that input adds an occurrence. Failures of the moment (provider errors, latency and cost
breaches) are promoted too, so every kind of failure the day had is in the dataset and each
candidate is replayed on those inputs, but only as `edge` cases and never critical: a replay
cannot be expected to reproduce them. A sample of passing calls per feature joins the failures, so the dataset
also guards what works today. The version is a hash of the content: the same failures give
the same version, and a re-run writes nothing new.
"""

import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from assay.assets._metadata import count_by, counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource
from assay.assets.sampled_calls import SAMPLED_SCHEMA
from assay.assets.scoring import decode_row
from assay.evaluators.golden import configured_cases
from dagster import AssetExecutionContext

from assay.case_files import CaseFileError
from assay.case_labels import CASE_LABELS_TABLE, apply_case_labels, latest_case_labels
from assay.config import AssayConfig, DatasetConfig
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.case import CASE_ARROW_SCHEMA, CASE_JSON_COLUMNS, new_case
from assay.contracts.failure import FAILURE_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA
from assay.dataset_pointer import CURRENT_POINTER, current_version, read_cases
from assay.lake import Lake, atomic_write_text, connect_duckdb
from assay.near_duplicates import group_near_duplicates
from assay.selection import hash_fraction

OPERATIONAL_CATEGORIES = frozenset({"provider_error", "latency_breach", "cost_breach"})
"""Failures of the moment, not of the input: promoted as `edge`, never critical."""


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


@dataclass
class CurationStats:
    """How raw failures became cases: what exact and near-duplicate merging each took away."""

    failure_rows: int = 0
    """Failing (call, evaluator) rows read."""
    promoted_rows: int = 0
    promoted_calls: int = 0
    """Distinct failing calls whose failure a replay can reproduce."""
    exact_cases: int = 0
    """Distinct normalised inputs among them (after exact dedupe)."""
    failure_cases: int = 0
    """Cases after near-duplicate grouping."""
    passing_cases: int = 0
    golden_cases: int = 0
    redteam_cases: int = 0
    label_effects: dict[str, int] = field(default_factory=dict)

    @property
    def merged_by_exact_hash(self) -> int:
        return self.promoted_calls - self.exact_cases

    @property
    def merged_by_near_duplicate(self) -> int:
        return self.exact_cases - self.failure_cases

    def as_dict(self) -> dict[str, int]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "label_effects"},
            "merged_by_exact_hash": self.merged_by_exact_hash,
            "merged_by_near_duplicate": self.merged_by_near_duplicate,
            **{f"labels_{k}": v for k, v in self.label_effects.items()},
        }


def near_duplicate_text(messages: list[dict[str, Any]] | None) -> str:
    """What near-duplicate grouping compares: the conversation without system messages. A
    system prompt (often holding the retrieved documents) is shared by unrelated questions and
    would make them look alike."""
    return " ".join(
        normalise_text(str(m.get("content") or "")) for m in messages or [] if m.get("role") != "system"
    )


def _failure_case(cid: str, rows: list[dict[str, Any]], representative_rows: list[dict[str, Any]],
                  merged: list[str], config: DatasetConfig) -> dict[str, Any]:
    call_ids = sorted({r["call_id"] for r in rows})
    categories = Counter(r["failure_category"] for r in rows)
    # Sorted before anything reads rows[0], so the case (and the version) depends on the
    # failures only, never on the order they were read in.
    rows.sort(key=lambda r: (r["ts"], r["call_id"], r["evaluator"]))
    first = min(representative_rows, key=lambda r: (r["ts"], r["call_id"], r["evaluator"]))
    feature = first["feature"]
    occurrences = len(call_ids)
    operational_only = set(categories) <= OPERATIONAL_CATEGORIES
    critical = not operational_only and (
        bool(set(categories) & set(config.critical_categories)) or feature in config.critical_features
    )
    if operational_only:
        tier = "edge"
    elif critical or occurrences >= config.smoke_min_occurrences:
        tier = "smoke"
    elif occurrences >= 2:
        tier = "core"
    else:
        tier = "edge"
    return new_case(
        case_id=cid,
        input=first.get("messages") or [],
        context=first.get("context"),
        tools=first.get("tools"),
        assertions=sorted({r["evaluator"] for r in rows}),
        tier=tier,
        critical=critical,
        # The most frequent category; ties broken by name so the version is stable.
        failure_category=sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
        source_call_ids=call_ids,
        first_seen=rows[0]["ts"],
        last_seen=max(r["ts"] for r in rows),
        occurrences=occurrences,
        feature=feature,
        near_duplicates=merged,
        **agent_case_fields(first),
    )


def agent_case_fields(failure: dict[str, Any]) -> dict[str, Any]:
    """Tags and metadata of a case promoted from an agent run or a conversation (none for a
    call's, so existing cases and dataset versions are unchanged). A conversation's case is
    multi-turn: its input is the conversation up to the failing turn as recorded, and the
    candidate answers that turn (`replay_turn`) with the recorded history before it. An agent
    run's case replays the run's first model call (its task and tools): assay does not execute
    the application's tools, so the candidate's first step is what is compared."""
    kind = failure.get("subject_kind")
    if kind == "session":
        history = len([m for m in failure.get("messages") or [] if m.get("role") in ("user", "assistant")]) - 1
        return {"tags": ["multi_turn"], "metadata": {"subject_kind": "session", "session_id": failure["subject_id"],
                                                     "replay_turn": failure.get("turn"), "history_messages": history}}
    if kind == "trace":
        return {"tags": ["agent_run"], "metadata": {"subject_kind": "trace", "trace_id": failure["subject_id"]}}
    return {}


def build_dataset(
    failures: list[dict[str, Any]],
    passing_calls: list[dict[str, Any]],
    config: DatasetConfig,
    *,
    golden: list[dict[str, Any]] = (),
    case_labels: dict[str, dict[str, Any]] | None = None,
) -> tuple[str, list[dict[str, Any]], CurationStats]:
    """(dataset_version, cases, stats) from decoded failure rows, decoded passing calls, golden
    and red-team cases (`assay.evaluators.golden`) and the latest human case labels."""
    stats = CurationStats(failure_rows=len(failures))
    exact: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # A call the provider failed produced no output: what output checks said about it (a
    # missing tool call, an empty answer) is an artefact of the error, not of the input.
    errored = {f["call_id"] for f in failures if f["failure_category"] == "provider_error"}
    for failure in failures:
        if failure["call_id"] in errored and failure["failure_category"] != "provider_error":
            continue
        cid = case_id_for(failure.get("messages"), failure.get("context"), failure.get("tools"))
        exact[cid].append(failure)
    stats.promoted_rows = sum(len(rows) for rows in exact.values())
    stats.promoted_calls = len({r["call_id"] for rows in exact.values() for r in rows})
    stats.exact_cases = len(exact)

    # Near-duplicates: exact cases in order of first appearance, so the earliest represents.
    order = sorted(exact, key=lambda cid: (min(r["ts"] for r in exact[cid]), cid))
    representatives = group_near_duplicates(
        [near_duplicate_text(exact[cid][0].get("messages")) for cid in order],
        config.near_duplicate_threshold,
        keys=[f"{exact[cid][0]['feature']}|{case_id_for(None, None, exact[cid][0].get('tools'))}" for cid in order],
    )
    members: dict[str, list[str]] = defaultdict(list)
    for cid, rep_index in zip(order, representatives, strict=True):
        members[order[rep_index]].append(cid)
    cases: dict[str, dict[str, Any]] = {}
    for rep, group in members.items():
        rows = [r for cid in group for r in exact[cid]]
        cases[rep] = _failure_case(rep, rows, exact[rep], sorted(c for c in group if c != rep), config)
    stats.failure_cases = len(cases)

    # Passing calls grouped by case, per feature; the sample is the lowest hashes of the case
    # ids, so it depends on content only, never on the order rows were read in.
    passing: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for call in passing_calls:
        cid = case_id_for(call.get("messages"), call.get("context"), call.get("tools"))
        if cid not in exact:
            passing[call["feature"]][cid].append(call)
    for feature, by_case in sorted(passing.items()):
        chosen = sorted(by_case, key=lambda cid: (hash_fraction(cid), cid))[: config.passing_samples_per_feature]
        for cid in chosen:
            rows = sorted(by_case[cid], key=lambda c: (c["ts"], c["call_id"]))
            cases[cid] = new_case(
                case_id=cid,
                input=rows[0].get("messages") or [],
                context=rows[0].get("context"),
                tools=rows[0].get("tools"),
                tier="core",
                critical=feature in config.critical_features,
                source_call_ids=[r["call_id"] for r in rows],
                first_seen=rows[0]["ts"],
                last_seen=rows[-1]["ts"],
                occurrences=len(rows),
                feature=feature,
            )
            stats.passing_cases += 1

    for case in golden:
        if case["case_id"] in cases:
            raise ValueError(f"{case['source']} case id {case['case_id']!r} is used by another case; case ids must be unique")
        cases[case["case_id"]] = dict(case)
        stats.golden_cases += case["source"] == "golden"
        stats.redteam_cases += case["source"] == "redteam"

    ordered = [cases[k] for k in sorted(cases)]
    ordered, stats.label_effects = apply_case_labels(ordered, case_labels or {})
    version = dataset_version_of(ordered)
    for case in ordered:
        case["dataset_version"] = version
    return version, ordered, stats


def build_cases(
    failures: list[dict[str, Any]],
    passing_calls: list[dict[str, Any]],
    config: DatasetConfig,
    **extra: Any,
) -> tuple[str, list[dict[str, Any]]]:
    """(dataset_version, cases): `build_dataset` without the stats."""
    version, cases, _ = build_dataset(failures, passing_calls, config, **extra)
    return version, cases


def dataset_version_of(cases: list[dict[str, Any]]) -> str:
    content = json.dumps(
        [{k: v for k, v in c.items() if k != "dataset_version"} for c in cases],
        sort_keys=True,
        default=str,
    )
    return "ds-" + hashlib.sha256(content.encode()).hexdigest()[:12]


DIFF_FIELDS = ("tier", "critical", "occurrences", "human_label", "failure_category", "reference_output", "assertions")
"""What makes a case that is in both versions `changed` (its call ids and timestamps move with
occurrences; its input cannot change, the id is its hash)."""


def diff_cases(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """Case ids added and removed between two versions, and per changed case the fields that
    changed as (old, new)."""
    old_by_id = {c["case_id"]: c for c in old}
    new_by_id = {c["case_id"]: c for c in new}
    changed = {}
    for cid in sorted(new_by_id.keys() & old_by_id.keys()):
        fields = {f: (old_by_id[cid].get(f), new_by_id[cid].get(f)) for f in DIFF_FIELDS
                  if old_by_id[cid].get(f) != new_by_id[cid].get(f)}
        if fields:
            changed[cid] = fields
    return {
        "added": sorted(new_by_id.keys() - old_by_id.keys()),
        "removed": sorted(old_by_id.keys() - new_by_id.keys()),
        "changed": changed,
    }


def diff_versions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, int]:
    """Added / removed / changed case counts between two versions (see `diff_cases`)."""
    diff = diff_cases(old, new)
    return {key: len(diff[key]) for key in ("added", "removed", "changed")}


def diff_markdown(diff: dict[str, Any], new: list[dict[str, Any]], old: list[dict[str, Any]], *, max_rows: int = 50) -> str:
    """The diff as Markdown: counts, then one table row per added, removed or changed case
    (the first `max_rows`; the counts are always complete)."""
    by_id = {c["case_id"]: c for c in old} | {c["case_id"]: c for c in new}
    lines = [
        f"**{len(diff['added'])} added, {len(diff['removed'])} removed, {len(diff['changed'])} changed**",
        "",
        "| change | case_id | source | feature | tier | critical | occurrences | what changed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    entries = [("added", cid, "") for cid in diff["added"]] + [("removed", cid, "") for cid in diff["removed"]]
    entries += [
        ("changed", cid, "; ".join(f"{f}: {_cell(a)} → {_cell(b)}" for f, (a, b) in fields.items()))
        for cid, fields in diff["changed"].items()
    ]
    for change, cid, what in entries[:max_rows]:
        c = by_id[cid]
        lines.append(
            f"| {change} | {cid} | {c.get('source') or 'production'} | {c.get('feature') or ''} | {c.get('tier')} | "
            f"{c.get('critical')} | {c.get('occurrences')} | {what} |"
        )
    if len(entries) > max_rows:
        lines.append(f"| … | {len(entries) - max_rows} more | | | | | | |")
    if not entries:
        lines.append("| (none) | | | | | | | |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 40 else text[:39] + "…"


def passing_calls(lake: Lake) -> list[dict[str, Any]]:
    """Sampled successful calls with at least one completed score and no failing one."""

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
    with connect_duckdb(lake.root) as con:
        rows = con.sql(sql).arrow().read_all().to_pylist()
    return [decode_row(r, CALL_JSON_COLUMNS) for r in rows]


def load_case_labels(lake: Lake) -> dict[str, dict[str, Any]]:
    table = lake.read_table(CASE_LABELS_TABLE)
    return latest_case_labels(table.to_pylist()) if table is not None else {}


@dataclass
class Materialised:
    version: str
    previous: str | None
    cases: list[dict[str, Any]]
    previous_cases: list[dict[str, Any]]
    stats: CurationStats
    diff: dict[str, Any]
    path: Any
    build_seconds: float


def materialise_dataset(lake: Lake, config: AssayConfig, config_file: Path | str) -> Materialised:
    """Read the lake's failures, passing calls and case labels, add the configured golden and
    red-team cases, write the content-hashed version and point CURRENT at it. The same inputs
    give the same version (the partition is rewritten with the same content)."""
    failure_table = lake.read_table("failures")
    failure_rows = [decode_row(r, FAILURE_JSON_COLUMNS) for r in (failure_table.to_pylist() if failure_table else [])]
    lake.ensure_table("sampled_calls", SAMPLED_SCHEMA, ["day"])
    lake.ensure_table("call_scores", SCORE_ARROW_SCHEMA, ["day"])
    golden = configured_cases(config, config_file)
    started = time.perf_counter()
    version, cases, stats = build_dataset(
        failure_rows, passing_calls(lake), config.dataset, golden=golden, case_labels=load_case_labels(lake)
    )
    build_seconds = time.perf_counter() - started
    previous = current_version(lake)
    previous_cases = read_cases(lake, previous) if previous else []
    path = lake.write_partition(
        "regression_dataset", cases, partition={"version": version}, schema=CASE_ARROW_SCHEMA, json_columns=CASE_JSON_COLUMNS
    )
    atomic_write_text(lake.table_dir("regression_dataset") / CURRENT_POINTER, version + "\n")
    return Materialised(
        version, previous, cases, previous_cases, stats, diff_cases(previous_cases, cases), path, build_seconds
    )


@dg.asset(deps=["failures", "call_scores"], group_name="curate", kinds={"parquet"})
def regression_dataset(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """Failures of every ingested day promoted to cases (exact and near-duplicates merged,
    tiered, critical-flagged), a stable sample of passing calls, the golden scenarios and the
    red-team pack, with human case labels applied; a new content-hashed version when anything
    changed."""
    try:
        m = materialise_dataset(assay.lake, assay.config, assay.config_file)
    except CaseFileError as exc:  # a golden file or the red-team pack
        raise dg.Failure(str(exc)) from None
    stats, cases = m.stats, m.cases
    context.log.info(
        f"regression dataset {m.version}: {len(cases)} cases (previous: {m.previous}); "
        f"{stats.promoted_calls} failing calls -> {stats.exact_cases} exact -> {stats.failure_cases} after near-duplicates"
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(m.path, len(cases)),
            "dataset_version": m.version,
            "previous_version": m.previous or "",
            "critical_cases": sum(1 for c in cases if c["critical"]),
            "by_tier": counts_table(count_by(cases, "tier"), "tier"),
            "by_source": counts_table(count_by(cases, "source"), "source"),
            "by_category": counts_table(count_by(cases, "failure_category"), "failure_category"),
            "curation": dg.MetadataValue.json(stats.as_dict()),
            "merged_by_exact_hash": stats.merged_by_exact_hash,
            "merged_by_near_duplicate": stats.merged_by_near_duplicate,
            "build_seconds": round(m.build_seconds, 3),
            "diff_vs_previous": dg.MetadataValue.json({k: len(v) for k, v in m.diff.items()}),
            "diff_table": dg.MetadataValue.md(diff_markdown(m.diff, cases, m.previous_cases)),
        },
        data_version=dg.DataVersion(m.version),
    )
