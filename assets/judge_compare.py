"""`assay judge compare EVALUATOR --model NEW`: check a judge-model change before making it.

A stored sample of production calls the evaluator already judged (`call_scores`) is judged
again by the new model, through the run's engine (its cache, so a second comparison pays for
nothing, and its budget). The report: how often the two judges agree (and their Cohen's kappa,
with a bootstrap interval), and, on the calls people labelled, each judge's kappa against the
people. Nothing in assay.yaml changes.

The sample is stable: the calls with the smallest hash of their id, so comparing again, or with
a larger `--sample`, re-grades the same calls first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from assay.assets.scoring import build_evaluators, decode_row, is_judged
from assay.evaluators.llm_judge import judge_plans

from assay.calibration import LABELS_TABLE, binary_series_figures, latest_labels
from assay.config import AssayConfig
from assay.contracts.call import CALL_JSON_COLUMNS
from assay.lake import Lake
from assay.llm.engine import LLMEngine


class JudgeToolError(ValueError):
    """A judge tool cannot run as asked: says what is missing and what would do."""


@dataclass
class JudgeComparison:
    evaluator: str
    old_model: str
    new_model: str
    sampled: int
    regraded: int
    """Sampled calls the new judge gave a verdict on (errors and skips are left out)."""
    agreement: dict[str, Any]
    """The old judge's verdicts against the new one's (`binary_series_figures`, old as reference)."""
    labelled: int = 0
    old_vs_people: dict[str, Any] | None = None
    new_vs_people: dict[str, Any] | None = None
    cache_hits: int = 0
    paid_requests: int = 0
    cost_usd: float = 0.0
    not_regraded: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _stable_key(subject_id: str) -> str:
    return hashlib.sha256(subject_id.encode()).hexdigest()


def judged_sample(lake: Lake, evaluator: str, size: int) -> dict[str, dict[str, Any]]:
    """The latest completed judge score of each of `size` stably sampled calls."""
    table = lake.read_table("call_scores")
    latest: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist() if table is not None else []:
        if row["evaluator"] != evaluator or row["status"] != "completed" or row.get("passed") is None:
            continue
        if not row.get("judge_model"):
            continue
        sid = row["subject_id"]
        if sid not in latest or row["scored_at"] > latest[sid]["scored_at"]:
            latest[sid] = row
    chosen = sorted(latest, key=_stable_key)[:size]
    return {sid: latest[sid] for sid in chosen}


def stored_subjects(lake: Lake, call_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The sampled calls, as evaluator subjects, from `sampled_calls`."""
    table = lake.read_table("sampled_calls")
    rows = table.to_pylist() if table is not None else []
    return {row["call_id"]: decode_row(row, CALL_JSON_COLUMNS) | {"subject_id": row["call_id"]}
            for row in rows if row["call_id"] in call_ids}


def judge_with_model(config: AssayConfig, evaluator: str, model: str, subjects: list[dict[str, Any]],
                     engine: LLMEngine, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """subject id -> the evaluator's Score with its judge model set to `model` (and `params`
    merged into its config params: how `judge align` tries a new prompt)."""
    cfg = next(e for e in config.evaluators if e.name == evaluator)
    changed = cfg.model_copy(update={"params": {**cfg.params, **(params or {}), "model": model}})
    judge = build_evaluators([changed], config.judge.model, config.judge.params)[evaluator]
    plans, scores = [], {}
    for subject in subjects:
        plan = judge.plan(subject, default_model=model)
        if hasattr(plan, "requests"):
            plans.append(plan)
        else:
            scores[plan.subject_id] = plan
    for score in judge_plans(plans, engine):
        scores[score.subject_id] = score
    return scores


def check_judge(config: AssayConfig, evaluator: str) -> str:
    """The evaluator's current judge model; a clear error when it is not an LLM judge."""
    cfg = next((e for e in config.evaluators if e.name == evaluator), None)
    if cfg is None:
        names = ", ".join(e.name for e in config.evaluators if is_judged(e.type)) or "none"
        raise JudgeToolError(f"evaluator {evaluator!r} is not in assay.yaml; LLM judges there: {names}")
    if not is_judged(cfg.type):
        names = ", ".join(e.name for e in config.evaluators if is_judged(e.type)) or "none"
        raise JudgeToolError(f"evaluator {evaluator!r} (type {cfg.type}) is not an LLM judge; LLM judges: {names}")
    return cfg.params.get("model") or config.judge.model


def compare_judges(config: AssayConfig, lake: Lake, evaluator: str, new_model: str, engine: LLMEngine, *,
                   sample: int = 200, confidence: float = 0.95, resamples: int = 2000,
                   seed: int = 20261122) -> JudgeComparison:
    old_model = check_judge(config, evaluator)
    old = judged_sample(lake, evaluator, sample)
    if not old:
        raise JudgeToolError(f"no calls judged by {evaluator} yet (call_scores): run `assay run` first")
    subjects = stored_subjects(lake, set(old))
    missing = sorted(set(old) - set(subjects))
    if missing:
        raise JudgeToolError(f"{len(missing)} judged call(s) are no longer in sampled_calls (e.g. {missing[0]}); "
                             "nothing to re-grade them from")
    new = judge_with_model(config, evaluator, new_model, [subjects[s] for s in sorted(old, key=_stable_key)], engine)
    graded = {sid: s for sid, s in new.items() if s.status == "completed" and s.passed is not None}
    not_regraded: dict[str, int] = {}
    for score in new.values():
        if score.subject_id not in graded:
            not_regraded[score.status] = not_regraded.get(score.status, 0) + 1
    if not graded:
        raise JudgeToolError(f"{new_model} gave no verdict on the {len(old)} sampled calls: {not_regraded}")
    options = {"confidence": confidence, "resamples": resamples, "seed": seed}
    both = sorted(graded)
    comparison = JudgeComparison(
        evaluator=evaluator, old_model=old_model, new_model=new_model, sampled=len(old), regraded=len(graded),
        agreement=binary_series_figures([(bool(old[s]["passed"]), bool(graded[s].passed)) for s in both], **options),
        not_regraded=not_regraded,
    )
    table = lake.read_table(LABELS_TABLE)
    labels = latest_labels(table.to_pylist()) if table is not None else {}
    people = [s for s in both if isinstance(labels.get((s, evaluator)), bool)]
    if people:
        comparison.labelled = len(people)
        comparison.old_vs_people = binary_series_figures([(labels[(s, evaluator)], bool(old[s]["passed"])) for s in people], **options)
        comparison.new_vs_people = binary_series_figures([(labels[(s, evaluator)], bool(graded[s].passed)) for s in people], **options)
    stats = engine.stats
    comparison.cache_hits, comparison.cost_usd = stats.cache_hits, stats.cost_usd
    comparison.paid_requests = stats.completed - stats.cache_hits
    return comparison


def _kappa(figures: dict[str, Any] | None) -> str:
    if not figures or figures.get("cohen_kappa") is None:
        return "—"
    return f"{figures['cohen_kappa']:.3f} [{figures['cohen_kappa_low']:.3f}, {figures['cohen_kappa_high']:.3f}]"


def comparison_text(c: JudgeComparison) -> str:
    lines = [
        f"judge compare {c.evaluator}: {c.old_model} (now) vs {c.new_model}, on {c.sampled} judged calls",
        f"  re-graded {c.regraded}" + (f" (no verdict: {c.not_regraded})" if c.not_regraded else "")
        + f"; paid requests {c.paid_requests}, cache hits {c.cache_hits}, cost ${c.cost_usd:.4f}",
        f"  agreement old vs new: {c.agreement['accuracy']:.3f} of verdicts; kappa {_kappa(c.agreement)}",
    ]
    if c.labelled:
        lines.append(f"  against people ({c.labelled} labelled calls): {c.old_model} kappa {_kappa(c.old_vs_people)}; "
                     f"{c.new_model} kappa {_kappa(c.new_vs_people)}")
    else:
        lines.append("  against people: no labelled calls in the sample (`assay labels import`)")
    lines.append("  assay.yaml unchanged: set the evaluator's (or judge's) model to switch")
    return "\n".join(lines) + "\n"
