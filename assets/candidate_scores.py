"""`candidate_scores`: the same evaluators as production, run on a candidate's replays.

One row per (candidate, case, evaluator, metric), in the Score contract plus the candidate id
and the dataset version the case belongs to.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pyarrow as pa
from assay.assets._checks import blocking_suite_spec, read_for_suite, suite_check_result
from assay.assets._metadata import counts_table, partition_metadata
from assay.assets.assay_resource import AssayResource, batches_open_check
from assay.assets.candidate_outputs import SAMPLES_TABLE, case_subject, load_candidate
from assay.assets.partitions import candidate_partitions
from assay.assets.quality import SCORE_CHECKED_COLUMNS, validate_scores_partition
from assay.assets.scoring import build_evaluators, decode_row, score_subjects, scores_to_rows
from dagster import AssetExecutionContext

from assay.consistency import case_verdicts, self_consistency
from assay.contracts.candidate_output import CANDIDATE_OUTPUT_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.dataset_pointer import read_cases
from assay.glossary import TERMS
from assay.imported_scores import imported_candidate_scores
from assay.outcomes import MISSING_INPUT, NOT_APPLICABLE, REPLAY_FAILED

CANDIDATE_SCORE_SCHEMA = SCORE_ARROW_SCHEMA.append(pa.field("candidate_id", pa.string())).append(
    pa.field("dataset_version", pa.string())
)


CANDIDATE_SCORES_SUITE = "candidate_scores_expectations"
SAMPLE_SCORES_TABLE = "candidate_sample_scores"
"""Scores of samples 1..n-1 of a regression run (sample 0's are `candidate_scores`)."""
SAMPLE_SCORE_SCHEMA = CANDIDATE_SCORE_SCHEMA.append(pa.field("sample", pa.int64()))


def score_replays(
    cases: dict[str, dict[str, Any]],
    outputs: list[dict[str, Any]],
    baseline_outputs: dict[str, str],
    config,
    engine,
    *,
    is_baseline: bool,
    run_id: str | None = None,
    log=lambda _m: None,
) -> list[Score]:
    """Scores of one candidate's replays. A replay that did not complete (a provider error, a
    missing recorded output) is not scored: an evaluator would judge the error, not the model
    (a `provider_status` check would fail it on quality). Each evaluator that applies gets a
    `replay_failed` skip instead, naming the replay's error, and the decision counts the loss
    once, at the replay, with the replay's own type."""
    evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    completed, failed = [], []
    for output in outputs:
        if output["case_id"] not in cases:
            continue
        subject = case_subject(cases[output["case_id"]], output, baseline_outputs.get(output["case_id"]))
        (completed if output["status"] == "completed" else failed).append((subject, output))
    scores = score_subjects([s for s, _ in completed], config, "cases", engine, run_id=run_id, log=log,
                            evaluators=evaluators)
    now = datetime.now(UTC)
    for subject, output in failed:
        why = f"replay {output['status']} ({output.get('error_type') or 'unknown'}): {output.get('error_message') or ''}"
        for cfg in config.evaluators_for("cases", subject):
            scores.append(Score(
                subject_id=str(subject["subject_id"]), evaluator=cfg.name,
                evaluator_version=getattr(evaluators[cfg.name], "version", "?"), metric=cfg.name,
                status="skipped", label=REPLAY_FAILED, explanation=why.strip()[:500], run_id=run_id, scored_at=now,
            ))  # fmt: skip
    if is_baseline:
        # A pairwise judge compares a candidate with the baseline: on the baseline itself it
        # has nothing to compare with, which is not evidence lost.
        for score in scores:
            if score.label == MISSING_INPUT and (score.explanation or "").strip() == "missing input: baseline_output":
                score.label = NOT_APPLICABLE
    return scores


def score_samples(
    assay: AssayResource, candidate_id: str, version: str, cases: dict, baseline_outputs: dict, engine, *, run_id: str, log
) -> tuple[list[dict], list[dict]]:
    """Score samples 1..n-1 (stored apart) -> (their score rows, their output rows)."""
    table = assay.lake.read_partition(SAMPLES_TABLE, {"candidate": candidate_id})
    outputs = [decode_row(r, CANDIDATE_OUTPUT_JSON_COLUMNS) for r in table.to_pylist()] if table is not None else []
    outputs = [o for o in outputs if o["dataset_version"] == version and o["case_id"] in cases]
    rows = []
    is_baseline = assay.config.baseline is not None and assay.config.baseline.candidate_id == candidate_id
    for sample in sorted({o["sample"] for o in outputs}):
        scores = score_replays(cases, [o for o in outputs if o["sample"] == sample], baseline_outputs, assay.config,
                               engine, is_baseline=is_baseline, run_id=run_id, log=log)
        rows += scores_to_rows(scores, candidate_id=candidate_id, dataset_version=version, sample=sample)
    return rows, outputs


def consistency_metadata(first_scores: list[dict], first_outputs: list[dict], sample_scores: list[dict], sample_outputs: list[dict]) -> dict:
    samples = sorted({r["sample"] for r in sample_outputs})
    verdicts = [case_verdicts(first_scores)] + [case_verdicts([r for r in sample_scores if r["sample"] == k]) for k in samples]
    outputs = [{o["case_id"]: o.get("output_text") for o in first_outputs}] + [
        {o["case_id"]: o.get("output_text") for o in sample_outputs if o["sample"] == k} for k in samples
    ]
    return {f"self_consistency_{k}": v for k, v in self_consistency(verdicts, outputs).items()}


def read_baseline_outputs(assay: AssayResource, candidate_id: str, dataset_version: str) -> dict[str, str]:
    """case_id -> the baseline's output on the same dataset version, for pairwise judges (empty
    for the baseline itself, or before the baseline's replay exists: those judges then skip)."""
    baseline = assay.config.baseline
    if baseline is None or baseline.candidate_id == candidate_id:
        return {}
    table = assay.lake.read_partition("candidate_outputs", {"candidate": baseline.candidate_id})
    if table is None:
        return {}
    return {
        row["case_id"]: row["output_text"]
        for row in table.select(["case_id", "dataset_version", "output_text"]).to_pylist()
        if row["dataset_version"] == dataset_version and row["output_text"] is not None
    }


@dg.asset(
    partitions_def=candidate_partitions,
    deps=["candidate_outputs"],
    group_name="regress",
    kinds={"parquet"},
    pool="llm",
    output_required=False,  # judge.mode: batch: not materialised while its judge batches are open
    check_specs=[
        blocking_suite_spec(
            CANDIDATE_SCORES_SUITE,
            "candidate_scores",
            candidate_partitions,
            "Great Expectations suite: one score per (case, evaluator, metric), a verdict on every "
            "completed score, a reason on every other, known failure categories, non-negative spend.",
        )
    ],
)
def candidate_scores(context: AssetExecutionContext, assay: AssayResource):
    """Scores of one candidate's replays of the regression dataset."""
    candidate = load_candidate(assay.config, context.partition_key)
    partition = {"candidate": candidate.candidate_id}
    outputs_table = assay.lake.read_partition("candidate_outputs", partition)
    if outputs_table is None or outputs_table.num_rows == 0:
        raise dg.Failure(f"no candidate_outputs for {candidate.candidate_id}: materialise candidate_outputs first")
    outputs = [decode_row(r, CANDIDATE_OUTPUT_JSON_COLUMNS) for r in outputs_table.to_pylist()]
    version = outputs[0]["dataset_version"]
    cases = {c["case_id"]: c for c in read_cases(assay.lake, version)}
    baseline_outputs = read_baseline_outputs(assay, candidate.candidate_id, version)
    engine = assay.llm_engine(context.log.info, budget_usd=assay.config.judge.budget_usd)
    if assay.config.judge.mode == "batch":
        engine.batch = assay.batch_judge(engine, context.log.info)
        engine.batch_scope = f"candidate_scores/candidate={candidate.candidate_id}/version={version}"
    scores = score_replays(cases, outputs, baseline_outputs, assay.config, engine, is_baseline=candidate.is_baseline,
                           run_id=context.run_id, log=context.log.info)
    rows = scores_to_rows(scores, candidate_id=candidate.candidate_id, dataset_version=version)
    own_rows = list(rows)  # the evaluators' own scores: the samples are compared on these
    imported = imported_candidate_scores(assay.lake, candidate.candidate_id, {o["case_id"] for o in outputs if o["case_id"] in cases})
    rows += [r | {"candidate_id": candidate.candidate_id, "dataset_version": version} for r in imported]
    consistency: dict = {}
    sample_rows: list[dict] = []
    if candidate.samples > 1:
        sample_rows, sample_outputs = score_samples(
            assay, candidate.candidate_id, version, cases, baseline_outputs, engine, run_id=context.run_id, log=context.log.info
        )
        consistency = consistency_metadata(own_rows, outputs, sample_rows, sample_outputs)
    if engine.stats.batch_pending:
        yield batches_open_check(engine, assay, CANDIDATE_SCORES_SUITE, context.log.info)
        return
    # Always written (empty for one sample), so fewer samples leave no stale scores behind.
    assay.lake.write_partition(
        SAMPLE_SCORES_TABLE, sample_rows, partition=partition, schema=SAMPLE_SCORE_SCHEMA, json_columns=SCORE_JSON_COLUMNS
    )
    path = assay.lake.write_partition(
        "candidate_scores", rows, partition=partition, schema=CANDIDATE_SCORE_SCHEMA, json_columns=SCORE_JSON_COLUMNS
    )
    completed = [s for s in scores if s.status == "completed"]
    yield dg.MaterializeResult(
        metadata={
            **partition_metadata(path, len(rows)),
            "dataset_version": version,
            "imported_scores": len(imported),
            **consistency,
            **({"score_pass_rate": round(sum(1 for s in completed if s.passed) / len(completed), 4)} if completed else {}),
            "definitions": dg.MetadataValue.md(f"- **score_pass_rate** (score pass rate): {TERMS['score pass rate']}"),
            "by_status": counts_table(Counter(s.status for s in scores), "status"),
            "by_outcome_type": counts_table(Counter(s.label for s in scores if s.status != "completed"), "outcome_type"),
            "failures_by_evaluator": counts_table(Counter(s.evaluator for s in completed if s.passed is False), "evaluator"),
            **{f"judge_{k}": v for k, v in engine.stats.as_metadata().items()},
        },
        check_results=[
            suite_check_result(
                "candidate_scores",
                CANDIDATE_SCORES_SUITE,
                validate_scores_partition(read_for_suite(path, SCORE_CHECKED_COLUMNS), name="candidate_scores"),
            )
        ],
    )
