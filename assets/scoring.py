"""Runs the configured evaluators over subjects (production calls or replayed cases).

Shared by `call_scores` and `candidate_scores` so both score with the same code. Every
(subject, applicable evaluator) pair yields at least one Score: an evaluator that raises
gives an `error` score rather than failing the partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from assay.config import AssayConfig, EvaluatorConfig
from assay.contracts._arrow import from_json_text
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.contracts.score import Score
from assay.llm.engine import LLMEngine
from evaluators.llm_judge import JudgePlan, judge_plans
from evaluators.registry import build_evaluator

SubjectKind = Literal["calls", "cases"]


JUDGE_TYPES = frozenset({"llm_judge", "pairwise_judge"})


def build_evaluators(
    configs: Iterable[EvaluatorConfig], judge_model: str, judge_params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    built = {}
    for cfg in configs:
        params = dict(cfg.params)
        if cfg.type in JUDGE_TYPES:
            params.setdefault("model", judge_model)
            if judge_params:
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


def score_subjects(
    subjects: list[dict[str, Any]],
    config: AssayConfig,
    kind: SubjectKind,
    engine: LLMEngine,
    *,
    run_id: str | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> list[Score]:
    evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    scores: list[Score] = []
    plans: list[JudgePlan] = []
    for subject in subjects:
        for cfg in config.evaluators_for(kind, subject):
            evaluator = evaluators[cfg.name]
            if hasattr(evaluator, "plan"):
                plan = evaluator.plan(subject, default_model=config.judge.model)
                if isinstance(plan, Score):
                    scores.append(plan)
                else:
                    plans.append(plan)
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
                        label=type(exc).__name__,
                        explanation=str(exc)[:500],
                        scored_at=datetime.now(UTC),
                    )
                )
    if plans:
        log(f"judging {len(plans)} (subject, evaluator) pairs with {config.judge.model}")
        scores.extend(judge_plans(plans, engine))
    if run_id:
        for score in scores:
            score.run_id = run_id
    return scores


def scores_to_rows(scores: Iterable[Score], **extra: Any) -> list[dict[str, Any]]:
    return [score.model_dump() | extra for score in scores]
