"""What a decision's evidence lost to errors and skips, and why.

Three sources of evidence per side of a comparison (candidate and baseline), each counted in
its own unit, so a judge that fails on every case is not hidden among a dozen cheap checks:

- `replays`: the side's replays of the dataset's cases;
- `judges`: evaluations (case x evaluator) by LLM judges, on replays that completed;
- `checks`: evaluations by every other evaluator, on replays that completed.

A replay that did not complete is lost once, at the replay (its evaluators' `replay_failed`
skips are not counted again). An evaluation is lost when it errored or was skipped for a reason
that takes evidence away (budget, deadline, a missing output). A `missing_input` skip is lost
only when the other side completed the same evaluation (the candidate gave no text where the
baseline did); when neither side could, the evaluator does not apply and is not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.outcomes import MISSING_INPUT, NOT_EVIDENCE_LOSS, REPLAY_FAILED, fix_hint, top_causes

SOURCES = ("replays", "judges", "checks")
SOURCE_UNITS = {"replays": "replays", "judges": "LLM-judge evaluations", "checks": "other evaluations"}


@dataclass
class SourceCount:
    total: int = 0
    lost: int = 0
    causes: Counter = field(default_factory=Counter)
    """Stable type -> how many of this source's units it took."""
    evaluators: dict[str, set[str]] = field(default_factory=dict)
    """Stable type -> the evaluators it hit (evaluation sources only)."""

    @property
    def share(self) -> float:
        return self.lost / self.total if self.total else 0.0

    def add(self, lost_type: str | None, evaluator: str | None = None) -> None:
        self.total += 1
        if lost_type is not None:
            self.lost += 1
            self.causes[lost_type] += 1
            if evaluator:
                self.evaluators.setdefault(lost_type, set()).add(evaluator)


@dataclass
class SideEvidence:
    candidate_id: str
    model: str | None = None
    sources: dict[str, SourceCount] = field(default_factory=lambda: {s: SourceCount() for s in SOURCES})
    not_applicable: int = 0
    """Evaluations that apply on neither side (not in any total)."""

    @property
    def worst(self) -> tuple[str, SourceCount]:
        return max(self.sources.items(), key=lambda kv: (kv[1].share, kv[1].total))

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "not_applicable_evaluations": self.not_applicable,
            **{
                name: {"total": c.total, "lost": c.lost, "share": round(c.share, 4), "by_type": dict(top_causes(c.causes, 20))}
                for name, c in self.sources.items()
            },
        }


def count_side(
    candidate_id: str,
    case_rows: Iterable[Mapping[str, Any]],
    metric_rows: Iterable[Mapping[str, Any]] | None,
    other_metric_rows: Iterable[Mapping[str, Any]] | None,
    judged_evaluators: set[str],
    *,
    model: str | None = None,
) -> SideEvidence:
    """The evidence one side lost. `case_rows`: its replays (`candidate_case_scores`);
    `metric_rows`: its evaluations (`candidate_case_metrics`; None: replays only)."""
    side = SideEvidence(candidate_id, model)
    for row in case_rows:
        status = row.get("output_status")
        side.sources["replays"].add(None if status == "completed" else (row.get("error_type") or status or "unknown_error"))
    if metric_rows is None:
        return side
    other_completed = {
        (r["case_id"], r["evaluator"]) for r in other_metric_rows or () if r.get("outcome") == "completed"
    }
    for row in metric_rows:
        kind = row.get("outcome_type")
        if row.get("outcome") == "skipped" and kind == REPLAY_FAILED:
            continue  # lost once, at the replay
        source = side.sources["judges" if row["evaluator"] in judged_evaluators else "checks"]
        if row.get("outcome") == "completed":
            source.add(None)
        elif row.get("outcome") == "error":
            source.add(kind or "unknown_error", row["evaluator"])
        elif kind in NOT_EVIDENCE_LOSS and not (kind == MISSING_INPUT and (row["case_id"], row["evaluator"]) in other_completed):
            side.not_applicable += 1
        else:
            source.add(kind or "skipped", row["evaluator"])
    return side


def judged(metric_rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Evaluators whose scores came from an LLM judge on any row."""
    return {r["evaluator"] for r in metric_rows if r.get("is_judged")}


def over_ceiling(sides: Iterable[SideEvidence], ceiling: float) -> list[tuple[SideEvidence, str, SourceCount]]:
    """Every (side, source) whose lost share is above the ceiling, the worst first."""
    found = [(side, name, count) for side in sides for name, count in side.sources.items() if count.share > ceiling]
    return sorted(found, key=lambda item: (-item[2].share, item[0].candidate_id, item[1]))


def describe_loss(
    side: SideEvidence, source: str, count: SourceCount, *, who: str, judge_model: str | None = None,
    timeout_s: float | None = None,
) -> str:
    """`candidate support-x lost 40 of 40 replays (100%): auth x40 (401 from openai: is
    OPENAI_API_KEY set?)`: the top error types with counts and a fix hint where one is known."""
    stage = "replay" if source == "replays" else "evaluator"
    causes = []
    for kind, n in top_causes(count.causes):
        model = side.model if source == "replays" else judge_model if source == "judges" else None
        hint = fix_hint(kind, model=model, stage=stage, timeout_s=timeout_s)
        hit = sorted(count.evaluators.get(kind, ()))
        where = f" in {', '.join(hit[:3])}{'…' if len(hit) > 3 else ''}" if hit else ""
        causes.append(f"{kind} ×{n}{where}" + (f" ({hint})" if hint else ""))
    return (f"{who} {side.candidate_id} lost {count.lost} of {count.total} {SOURCE_UNITS[source]} "
            f"({count.share:.0%}): {'; '.join(causes)}")
