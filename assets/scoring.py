"""Runs the configured evaluators over subjects (production calls or replayed cases).

Shared by `call_scores` and `candidate_scores` so both score with the same code. Every
(subject, applicable evaluator) pair yields at least one Score: an evaluator that raises
gives an `error` score rather than failing the partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from assay.evaluators.base import JudgedEvaluator, VectorisableEvaluator
from assay.evaluators.llm_judge import JudgePlan, judge_plans
from assay.evaluators.registry import build_evaluator, evaluator_class, param_specs
from assay.evaluators.vectorised import run_sql_form, sql_string

from assay.config import AssayConfig, EvaluatorConfig, SubjectKind
from assay.contracts._arrow import from_json_text, rows_to_table
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.lake import connect_duckdb
from assay.llm.engine import SKIP_BUDGET, SKIP_DEADLINE, LLMEngine
from assay.outcomes import EVALUATOR_CRASH, score_outcome_type
from assay.selection import selects_sql


def is_judged(type_: str) -> bool:
    """Whether a type's scores come from an LLM judge (a class that plans engine calls and
    takes a judge model): judges, presets, custom rubrics; not the offline safety checks."""
    cls = evaluator_class(type_)
    return issubclass(cls, JudgedEvaluator) and "model" in param_specs(cls)


def build_evaluators(
    configs: Iterable[EvaluatorConfig], judge_model: str, judge_params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluator instances by name. Types that judge through the LLM engine (a `JudgedEvaluator`:
    judges, presets, custom rubrics, safety checks with a judge upgrade) get the
    project's judge model and judge params unless their config sets their own."""
    built = {}
    for cfg in configs:
        params = dict(cfg.params)
        cls = evaluator_class(cfg.type)
        if issubclass(cls, JudgedEvaluator):
            specs = param_specs(cls)
            if is_judged(cfg.type):
                params.setdefault("model", judge_model)
            if judge_params and "completion_params" in specs:
                params["completion_params"] = {**judge_params, **params.get("completion_params", {})}
        built[cfg.name] = build_evaluator(cfg.name, cfg.type, params, cfg.failure_category)
    return built


def decode_row(row: Mapping[str, Any], json_columns: Iterable[str] = CALL_JSON_COLUMNS) -> dict[str, Any]:
    """A lake row as an evaluator subject: JSON-text columns decoded."""
    subject = dict(row)
    for name in json_columns:
        if name in subject:
            subject[name] = from_json_text(subject[name])
    return subject


def plan_subjects(
    subjects: list[dict[str, Any]],
    config: AssayConfig,
    kind: SubjectKind,
    evaluators: dict[str, Any],
    *,
    already_scored: Callable[[str, str], bool] | None = None,
    judged_only: bool = False,
) -> tuple[list[Score], list[JudgePlan]]:
    """The scores of the evaluators that need no LLM, and the judge plans (the LLM requests) of
    the rest, for every (subject, selected evaluator) pair. `judged_only`: plans alone (the
    cost estimate, which must count exactly the requests a run would make, and no more)."""
    scores: list[Score] = []
    plans: list[JudgePlan] = []
    for subject in subjects:
        for cfg in config.evaluators_for(kind, subject):
            if already_scored is not None and already_scored(cfg.name, str(subject["subject_id"])):
                continue
            evaluator = evaluators[cfg.name]
            if isinstance(evaluator, JudgedEvaluator):
                plan = evaluator.plan(subject, default_model=config.judge.model)
                if isinstance(plan, Score):
                    scores.append(plan)
                else:
                    plans.append(plan)
                continue
            if judged_only:
                continue
            try:
                scores.extend(evaluator.evaluate(subject))
            except Exception as exc:  # one broken evaluator must not sink the partition
                scores.append(
                    Score(
                        subject_id=str(subject["subject_id"]),
                        evaluator=cfg.name,
                        evaluator_version=getattr(evaluator, "version", "?"),
                        metric=cfg.name,
                        status="error",
                        label=EVALUATOR_CRASH,
                        explanation=f"{type(exc).__name__}: {exc}"[:500],
                        scored_at=datetime.now(UTC),
                    )
                )
    return scores, plans


def score_subjects(
    subjects: list[dict[str, Any]],
    config: AssayConfig,
    kind: SubjectKind,
    engine: LLMEngine,
    *,
    run_id: str | None = None,
    log: Callable[[str], None] = lambda _m: None,
    already_scored: Callable[[str, str], bool] | None = None,
    evaluators: dict[str, Any] | None = None,
) -> list[Score]:
    """Scores for every (subject, selected evaluator) pair, except those `already_scored`
    (evaluator name, subject id) says another path (the vectorised one) has done."""
    if evaluators is None:
        evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    scores, plans = plan_subjects(subjects, config, kind, evaluators, already_scored=already_scored)
    if plans:
        log(f"judging {len(plans)} (subject, evaluator) pairs with {config.judge.model}")
        scores.extend(judge_plans(plans, engine))
    normalise_outcomes(scores)
    if run_id:
        for score in scores:
            score.run_id = run_id
    return scores


def normalise_outcomes(scores: Iterable[Score]) -> None:
    """Give every score that did not complete its stable type (`assay.outcomes`) as `label`;
    the evaluator's own words stay in `explanation`, prefixed with its label when that said
    more than the type (an exception class)."""
    for score in scores:
        kind = score_outcome_type(score.status, score.label, score.explanation)
        if kind is None or kind == score.label:
            continue
        if score.label and score.status == "error" and score.label not in (score.explanation or ""):
            score.explanation = f"{score.label}: {score.explanation or ''}".strip()[:500]
        score.label = kind


def scores_to_rows(scores: Iterable[Score], **extra: Any) -> list[dict[str, Any]]:
    return [score.model_dump() | extra for score in scores]


def sql_forms(evaluators: Mapping[str, Any], configs: Iterable[EvaluatorConfig]) -> dict[str, Any]:
    """The configured evaluators that offer a SQL form in their configuration, by name."""
    forms = {}
    for cfg in configs:
        evaluator = evaluators[cfg.name]
        form = evaluator.sql_form() if isinstance(evaluator, VectorisableEvaluator) else None
        if form is not None:
            forms[cfg.name] = form
    return forms


def evaluator_series(config: AssayConfig, evaluators: Mapping[str, Any]) -> dict[str, str]:
    """Per configured evaluator, a key of everything that shapes its scores: its config
    (type, params, selection, category), its class version and, for judges, the judge model
    and params. Scores stored under another key are a different series and are recomputed."""
    import hashlib
    import json

    series = {}
    for cfg in config.evaluators:
        payload: dict[str, Any] = {"config": cfg.model_dump(mode="json"), "version": getattr(evaluators[cfg.name], "version", "?")}
        if isinstance(evaluators[cfg.name], JudgedEvaluator):
            payload["judge"] = [config.judge.model, config.judge.params]
        series[cfg.name] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return series


RETRIED_SKIPS = frozenset({SKIP_BUDGET, SKIP_DEADLINE})
"""Skip reasons that say nothing about the subject (the run ran out of money or time)."""


SUBJECT_CONTENT_FIELDS = (
    "app", "feature", "environment", "model", "prompt_id", "prompt_version", "messages", "input_text",
    "context", "tools", "tool_calls", "output_text", "finish_reason", "status", "error_type",
    "latency_ms", "cost_usd", "expected_output", "metadata",
)
"""The call fields an evaluator can read: a call whose values change under the same call_id
(a corrected file delivered again) is rescored; provenance (source file, offset) is not part."""


def subject_fingerprints(sampled: Path) -> dict[str, str]:
    """call_id -> a digest of the call's evaluable content, for every call of a partition."""

    fields = ", ".join(f"'{f}': {f}" for f in SUBJECT_CONTENT_FIELDS)
    with connect_duckdb(sampled) as con:
        rows = con.execute(
            f"SELECT call_id, md5(CAST(to_json({{{fields}}}) AS VARCHAR)) FROM read_parquet(?)", [str(sampled)]
        ).fetchall()
    return dict(rows)


def unchanged_subjects(fingerprints: Mapping[str, str], stored: Mapping[str, str] | None) -> set[str]:
    """Subjects whose content is as when they were scored (all of them when nothing was stored:
    a partition scored before fingerprints were kept)."""
    if stored is None:
        return set(fingerprints)
    return {cid for cid, digest in fingerprints.items() if stored.get(cid) == digest}


def reusable_scores(
    existing: pa.Table | None,
    *,
    subject_ids: set[str],
    stored_series: Mapping[str, str] | None,
    series: Mapping[str, str],
    versions: Mapping[str, str],
) -> pa.Table | None:
    """The rows of an existing partition that are still valid, as they are: final results
    of configured evaluators whose series is unchanged, on subjects still sampled. Without a stored series
    (a partition scored before series were recorded) a row counts when its evaluator_version
    is the evaluator's current one."""
    import pyarrow.compute as pc

    if existing is None or existing.num_rows == 0:
        return None
    if stored_series is None:
        valid = [(name, versions[name]) for name in series]
    else:
        valid = [(name, versions[name]) for name, key in series.items() if stored_series.get(name) == key]
    keep = pc.is_in(existing.column("subject_id"), pa.array(sorted(subject_ids), pa.string()))
    pairs = pc.binary_join_element_wise(existing.column("evaluator"), existing.column("evaluator_version"), "\x1f")
    keep = pc.and_(keep, pc.is_in(pairs, pa.array([f"{n}\x1f{v}" for n, v in valid], pa.string())))
    # Only final results are kept: an `error` (a provider failure, a raising evaluator) and a
    # score skipped for the run's budget or deadline are tried again.
    status, label = existing.column("status"), pc.fill_null(existing.column("label"), "")
    final = pc.or_(
        pc.is_in(status, pa.array(["completed", "unavailable"])),
        pc.and_(pc.equal(status, "skipped"), pc.invert(pc.is_in(label, pa.array(sorted(RETRIED_SKIPS))))),
    )
    return existing.filter(pc.and_(keep, final))


def score_call_partition(
    parquet: Path | None,
    config: AssayConfig,
    engine: LLMEngine,
    *,
    run_id: str | None = None,
    log: Callable[[str], None] = lambda _m: None,
    done: set[tuple[str, str]] | None = None,
) -> Iterator[pa.Table]:
    """`call_scores` for one partition of calls, as tables in the score contract's schema.

    Evaluators with a SQL form score the whole partition in DuckDB (one query each, with their
    `applies_to` as the WHERE clause); the Python path scores the rest: the other evaluators,
    and the rows each SQL form routed back. Only the rows some Python evaluator needs are
    read into Python, so a day scored only by vectorised checks never builds a dict per call.
    One table per vectorised evaluator, then one for the Python path: the caller streams them
    to the partition, so a million-call day never holds all its scores at once.

    `done`: (evaluator name, subject id) pairs the partition already holds (an incremental
    run): they are not scored again, so a judge is never asked twice for the same score.
    """

    if parquet is None or not parquet.exists():
        return
    evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    call_configs = [c for c in config.evaluators if "calls" in c.applies_to.subjects]
    forms = sql_forms(evaluators, call_configs)
    relation = f"read_parquet({sql_string(str(parquet))})"
    scored_at = datetime.now(UTC)
    python_ids: dict[str, set[str]] = {}
    con = connect_duckdb(parquet)
    try:
        con.execute("SET TimeZone = 'UTC'")
        in_sql = 0
        for cfg in call_configs:
            if cfg.name not in forms:
                continue
            run = run_sql_form(
                con, relation, evaluators[cfg.name], forms[cfg.name],
                where=selects_sql(cfg.applies_to, cfg.name), run_id=run_id, scored_at=scored_at,
            )
            python_ids[cfg.name] = set(run.python_subject_ids)
            scores_table = run.scores
            if done:
                import pyarrow.compute as pc

                skip = sorted(sid for name, sid in done if name == cfg.name)
                if skip:
                    python_ids[cfg.name] -= set(skip)
                    scores_table = scores_table.filter(
                        pc.invert(pc.is_in(scores_table.column("subject_id"), pa.array(skip, pa.string())))
                    )
            in_sql += scores_table.num_rows
            yield scores_table
        if forms:
            log(f"vectorised {len(forms)} evaluators: {in_sql} scores in SQL, "
                f"{sum(len(v) for v in python_ids.values())} rows routed to Python")
        if any(c.name not in forms for c in call_configs):
            rows = con.sql(f"SELECT * FROM {relation}").to_arrow_table().to_pylist()
        else:
            wanted = sorted(set().union(*python_ids.values())) if python_ids else []
            rows = (
                con.execute(f"SELECT * FROM {relation} WHERE list_contains(?, call_id)", [wanted]).to_arrow_table().to_pylist()
                if wanted
                else []
            )
    finally:
        con.close()
    subjects = [decode_row(row, CALL_JSON_COLUMNS) | {"subject_id": row["call_id"]} for row in rows]
    scores = score_subjects(
        subjects, config, "calls", engine, run_id=run_id, log=log, evaluators=evaluators,
        already_scored=lambda name, sid: (name in forms and sid not in python_ids[name]) or (done is not None and (name, sid) in done),
    )
    yield rows_to_table(scores_to_rows(scores), SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS)


class ScoreTally:
    """Counts for a partition's run metadata, added up table by table (a day can hold
    millions of scores)."""

    def __init__(self) -> None:
        self.rows = 0
        self.completed = 0
        self.passed = 0
        self.by_status: Counter = Counter()
        self.failures_by_evaluator: Counter = Counter()

    def add(self, scores: pa.Table) -> None:
        import pyarrow.compute as pc

        self.rows += scores.num_rows
        status = scores.column("status")
        completed = scores.filter(pc.equal(status, "completed"))
        self.completed += completed.num_rows
        self.passed += pc.sum(pc.cast(pc.fill_null(completed.column("passed"), False), pa.int64())).as_py() or 0
        failed = completed.filter(pc.equal(completed.column("passed"), False)).column("evaluator")
        self.by_status.update(dict(zip(*_value_counts(status), strict=True)))
        self.failures_by_evaluator.update(dict(zip(*_value_counts(failed), strict=True)))

    @property
    def pass_rate(self) -> float:
        """Passed share of completed scores (0 when none completed)."""
        return self.passed / self.completed if self.completed else 0.0


def _value_counts(column: pa.ChunkedArray) -> tuple[list[str], list[int]]:
    counts = column.value_counts()
    if len(counts) == 0:
        return [], []
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()
