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
from assay.llm.engine import LLMEngine, LLMRequest
from evaluators.registry import build_evaluator

SubjectKind = Literal["calls", "cases"]


def build_evaluators(configs: Iterable[EvaluatorConfig], judge_model: str) -> dict[str, Any]:
    built = {}
    for cfg in configs:
        params = dict(cfg.params)
        if cfg.type == "llm_judge":
            params.setdefault("model", judge_model)
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
    evaluators = build_evaluators(config.evaluators, config.judge.model)
    scores: list[Score] = []
    pending: list[tuple[Any, dict[str, Any], LLMRequest]] = []
    for subject in subjects:
        for cfg in config.evaluators_for(kind, subject.get("feature")):
            evaluator = evaluators[cfg.name]
            if hasattr(evaluator, "request_for"):
                request = evaluator.request_for(subject, default_model=config.judge.model)
                if isinstance(request, Score):
                    scores.append(request)
                else:
                    pending.append((evaluator, subject, request))
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
    if pending:
        log(f"judging {len(pending)} (subject, evaluator) pairs with {config.judge.model}")
        results = engine.run([request for _, _, request in pending])
        for (evaluator, subject, request), result in zip(pending, results, strict=True):
            scores.append(evaluator.score_from(subject, request, result))
    if run_id:
        for score in scores:
            score.run_id = run_id
    return scores


def scores_to_rows(scores: Iterable[Score], **extra: Any) -> list[dict[str, Any]]:
    return [score.model_dump() | extra for score in scores]
