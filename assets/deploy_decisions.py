"""`deploy_decisions`: each candidate decided against the baseline (`assay.assets.decision_gates`,
docs/architecture.md, "How a decision is made"): reads the evidence from the warehouse and the
lake, writes the decisions, their reports, the metric comparisons and the cost-quality frontier.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from assay.assets.assay_resource import AssayResource
from assay.assets.decision_gates import decide, policy_version, rank_decisions, replay_samples
from assay.assets.decision_metadata import decision_metadata
from assay.assets.run_failures import latest_run_failure
from assay.assets.scoring import is_judged
from dagster import AssetExecutionContext

from assay.calibration import judge_trust, jury_verdict_agreement, with_position_consistency
from assay.contracts.candidate_output import output_text
from assay.contracts.case import last_user_text
from assay.contracts.decision import (
    DECISION_ARROW_SCHEMA,
    DECISION_JSON_COLUMNS,
    Decision,
)
from assay.contracts.metric_comparison import METRIC_COMPARISON_ARROW_SCHEMA, OVERALL_METRIC
from assay.contracts.regression_confirmation import CONFIRMATION_SCHEMA, CONFIRMATIONS_TABLE
from assay.dataset_pointer import current_version, read_cases
from assay.frontier import build_frontier, write_frontier
from assay.imported_scores import IMPORTED_SCORES_TABLE
from assay.lake import Lake
from assay.metric_comparison import LAKE_TABLE as METRIC_TABLE
from assay.metric_comparison import load_rows
from assay.reports import write_reports


def read_outputs(lake: Lake, candidate_ids: list[str], dataset_version: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Each candidate's replay rows (`candidate_outputs`) of one dataset version, by case id
    (replays of an older version, left by a run that did not finish, are not this evidence)."""
    outputs = {}
    for cid in candidate_ids:
        table = lake.read_partition("candidate_outputs", {"candidate": cid})
        rows = table.to_pylist() if table is not None else []
        outputs[cid] = {r["case_id"]: r for r in rows if r.get("dataset_version") == dataset_version}
    return outputs


def missing_replays_reason(lake: Lake, candidate, dataset_version: str, config_file: str | Path) -> str:
    """Why a candidate has no replays of the current dataset version, as precisely as the lake
    and the config can say (the asset first asks Dagster whether its latest replay run failed,
    and why: `assay.assets.run_failures.latest_run_failure`)."""
    if candidate.recorded:
        from assay.recorded_outputs import resolve_recorded_path

        path = resolve_recorded_path(candidate.recorded, config_file)
        if not path.is_file():
            return f"its recorded outputs file {path} is missing"
    table = lake.read_partition("candidate_outputs", {"candidate": candidate.candidate_id})
    versions = sorted({v for v in table.column("dataset_version").to_pylist()}) if table is not None else []
    if versions:
        return (f"its latest replays are of dataset {', '.join(versions)}, not {dataset_version}: its candidate_job "
                "failed or has not run since the dataset changed")
    return "its candidate_job has not produced replays (it failed, or has not run yet)"


def judges_trust(lake: Lake, config, candidate_id: str, dataset_version: str) -> dict[str, dict[str, Any] | None]:
    """Each judge a candidate's verdict rests on — the config's LLM judges of cases, and imported
    scorers that name a judge model on its or the baseline's outputs — with its latest
    calibration (`assay.calibration.judge_trust`); a pairwise judge's position consistency is
    measured on the verdicts it gave this candidate (this dataset version) when there are any."""
    judge_models: dict[str, str | None] = {
        e.name: e.params.get("model") or config.judge.model
        for e in config.evaluators if "cases" in e.applies_to.subjects and is_judged(e.type)
    }
    sides = {candidate_id, config.baseline.candidate_id}
    imported = lake.read_table(IMPORTED_SCORES_TABLE)
    imported_rows = [r for r in (imported.to_pylist() if imported is not None else [])
                     if r.get("candidate_id") in sides and r.get("judge_model")]
    for row in imported_rows:
        judge_models.setdefault(row["evaluator"], row["judge_model"])
    table = lake.read_table("judge_calibration")
    trust = judge_trust(table.to_pylist() if table is not None else [], judge_models)
    scores = lake.read_partition("candidate_scores", {"candidate": candidate_id})
    own = [r for r in (scores.to_pylist() if scores is not None else []) if r.get("dataset_version") == dataset_version]
    for name in judge_models:
        given = [r for r in own + imported_rows if r["evaluator"] == name and r.get("candidate_id", candidate_id) == candidate_id]
        trust[name] = with_position_consistency(trust[name], given, source=f"its verdicts on {candidate_id}")
    return trust


def juries_agreement(lake: Lake, config, candidate_id: str, dataset_version: str) -> list[dict[str, Any]]:
    """Per evaluator of cases judged by a jury, its jurors' agreement (Fleiss' kappa) on the
    verdicts it gave the candidate's and the baseline's outputs of this dataset version."""
    juries = {e.name: e.params for e in config.evaluators
              if e.params.get("jury") and "cases" in e.applies_to.subjects and is_judged(e.type)}
    if not juries:
        return []
    sides = {}
    for side, cid in (("candidate", candidate_id), ("baseline", config.baseline.candidate_id)):
        table = lake.read_partition("candidate_scores", {"candidate": cid})
        sides[side] = [r for r in (table.to_pylist() if table is not None else [])
                       if r.get("dataset_version") == dataset_version and r["evaluator"] in juries]
    return jury_verdict_agreement(juries, sides)


def case_details(
    lake: Lake,
    version: str,
    candidate_id: str,
    baseline_id: str,
    rows_by_candidate: dict[str, list[dict[str, Any]]],
    outputs: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Input, both outputs and pass shares of every case, for the report's side-by-side view."""
    cases = {c["case_id"]: c for c in read_cases(lake, version)}
    scores = {cid: {r["case_id"]: r for r in rows_by_candidate.get(cid, [])} for cid in (candidate_id, baseline_id)}
    details = {}
    for case_id, case in cases.items():
        cand_out = outputs.get(candidate_id, {}).get(case_id, {})
        base_out = outputs.get(baseline_id, {}).get(case_id, {})
        details[case_id] = {
            "feature": case.get("feature"),
            "tier": case.get("tier"),
            "failure_category": case.get("failure_category"),
            "source": case.get("source"),
            "metadata": case.get("metadata"),
            "input_text": last_user_text(case["input"]),
            "candidate_output": output_text(cand_out) or cand_out.get("error_message"),
            "baseline_output": output_text(base_out) or base_out.get("error_message"),
            "candidate_pass_share": scores[candidate_id].get(case_id, {}).get("pass_share"),
            "baseline_pass_share": scores[baseline_id].get(case_id, {}).get("pass_share"),
            "candidate_failed": scores[candidate_id].get(case_id, {}).get("failed_evaluators"),
        }
    return details


@dg.asset(
    deps=[dg.AssetKey("candidate_case_scores"), dg.AssetKey("candidate_comparison"),
          dg.AssetKey("candidate_case_metrics"), dg.AssetKey("candidate_metric_comparison")],
    group_name="decide",
    kinds={"parquet"},
    pool="warehouse",
)
def deploy_decisions(context: AssetExecutionContext, assay: AssayResource) -> dg.MaterializeResult:
    """One decision per candidate (approved / rejected / insufficient_evidence) with its gates,
    reasons and a Markdown + HTML + JSON + JUnit report."""
    config, lake = assay.config, assay.lake
    baseline = config.baseline
    if baseline is None:
        raise dg.Failure("no baseline: mark one candidate in assay.yaml with `is_baseline: true`")
    version = current_version(lake)
    if version is None:
        raise dg.Failure("no regression dataset yet: materialise regression_dataset first")
    rows = load_rows(assay.home.warehouse, "candidate_case_scores", version)
    metrics = load_rows(assay.home.warehouse, "candidate_case_metrics", version)
    # The candidate_metric_comparison mart: the rows the quality gate, the reports and
    # `assay report` show; kept per dataset version in the lake below.
    stats = load_rows(assay.home.warehouse, "candidate_metric_comparison", version)
    for metric_rows in stats.values():
        metric_rows.sort(key=lambda r: (r["metric"] != OVERALL_METRIC, r["metric"]))
    outputs = read_outputs(lake, [c.candidate_id for c in config.candidates], version)
    decided_at = datetime.now(UTC)
    decisions, reported, confirmation_rows = [], [], []
    cases = None
    for candidate in config.candidates:
        if candidate.is_baseline:
            continue
        confirm = None
        if config.gate.confirm_regressions > 0:
            from assay.assets.regression_confirmation import regression_confirmer

            cases = cases if cases is not None else {c["case_id"]: c for c in read_cases(lake, version)}
            confirm = regression_confirmer(assay, candidate, baseline, cases, version, sink=confirmation_rows,
                                           log=context.log.info)
        missing = next((latest_run_failure(context.instance, "candidate_job", c.candidate_id)
                        or missing_replays_reason(lake, c, version, assay.config_file)
                        for c in (candidate, baseline) if not rows.get(c.candidate_id)), None)
        decision, traces = decide(
            candidate_id=candidate.candidate_id,
            baseline_id=baseline.candidate_id,
            dataset_version=version,
            candidate_rows=rows.get(candidate.candidate_id, []),
            baseline_rows=rows.get(baseline.candidate_id, []),
            candidate_metrics=metrics.get(candidate.candidate_id, []),
            baseline_metrics=metrics.get(baseline.candidate_id, []),
            metric_rows=stats.get(candidate.candidate_id),
            gate=config.gate,
            slos=config.slos,
            candidate_outputs={k: output_text(v) for k, v in outputs[candidate.candidate_id].items()},
            baseline_outputs={k: output_text(v) for k, v in outputs[baseline.candidate_id].items()},
            judge_calibration=judges_trust(lake, config, candidate.candidate_id, version),
            candidate_model=candidate.model,
            baseline_model=baseline.model,
            judge_model=config.judge.model,
            timeout_s=config.judge.timeout_s,
            missing_reason=missing,
            confirm=confirm,
            decided_at=decided_at,
            replay_mode="batch" if candidate.replays_in_batch else "sync",
        )
        decisions.append(decision)
        reported.append((decision, candidate, traces))
    rank_decisions(decisions)
    frontier = build_frontier(
        dataset_version=version, baseline_id=baseline.candidate_id, decisions=decisions, gate=config.gate,
        samples={c.candidate_id: replay_samples(rows.get(c.candidate_id, []), config.judge.timeout_s)
                 for c in config.candidates},
    )
    # Always written (empty without confirm_regressions), so a changed policy leaves no stale re-runs.
    lake.write_partition(CONFIRMATIONS_TABLE, confirmation_rows, partition={"dataset_version": version},
                         schema=CONFIRMATION_SCHEMA)
    for decision, candidate, traces in reported:
        details = case_details(lake, version, candidate.candidate_id, baseline.candidate_id, rows, outputs)
        write_reports(
            assay.home.reports, decision, candidate, baseline, traces, details,
            warehouse=assay.home.warehouse, gate=config.gate, slos=config.slos,
            metric_rows=stats.get(candidate.candidate_id, []), frontier=frontier,
            juries=juries_agreement(lake, config, candidate.candidate_id, version),
        )
        context.log.info(f"{candidate.candidate_id}: {decision.verdict} (rank {decision.rank}) — {'; '.join(decision.reasons)}")
    decisions.sort(key=lambda d: d.rank or 0)
    lake.write_partition(METRIC_TABLE, [r for rows in stats.values() for r in rows],
                         partition={"dataset_version": version}, schema=METRIC_COMPARISON_ARROW_SCHEMA)
    write_frontier(lake, version, frontier)
    path = lake.write_partition(
        "deploy_decisions",
        [d.model_dump(mode="python") | {"gates": [g.model_dump() for g in d.gates]} for d in decisions],
        partition={"dataset_version": version},
        schema=DECISION_ARROW_SCHEMA,
        json_columns=DECISION_JSON_COLUMNS,
    )
    table = ["| rank | candidate | verdict | quality delta (CI) | reasons | report |", "|---|---|---|---|---|---|"]
    table += [
        f"| {d.rank} | {d.candidate_id} | **{d.verdict}** | {_quality_cell(d)} | {'; '.join(d.reasons)} | {d.report_path} |"
        for d in decisions
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(decisions),
            "path": dg.MetadataValue.path(str(path)),
            "dataset_version": version,
            "approved": sum(d.verdict == "approved" for d in decisions),
            "decisions": dg.MetadataValue.md("\n".join(table)),
            "policy_version": decisions[0].policy_version if decisions else policy_version(config.gate, config.slos),
            # The summary, and numbers per candidate the UI plots across materialisations.
            **decision_metadata(decisions, stats),
        }
    )


def _quality_cell(decision: Decision) -> str:
    quality = next((g for g in decision.gates if g.gate == "quality"), None)
    if quality is None or quality.observed is None:
        return "n/a"
    if quality.ci_low is None:
        return f"{quality.observed:+.3f}"
    return f"{quality.observed:+.3f} ({quality.ci_low:+.3f} to {quality.ci_high:+.3f})"
