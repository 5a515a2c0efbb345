"""How well the evaluators find the demo's injected failures: precision and recall per kind
against the generator's ground truth, on the calls that were scored.

A call counts as detected for a kind when a failing score classified into that kind's
category (the taxonomy labels are the generator's kinds) exists for it. So the figure says
whether the evaluator meant for each failure (`no_pii` for pii_leak, `faithfulness` for
hallucination, ...) finds it, and how often an evaluator raises that category wrongly.

The generator injects one failure per call, but one failure can show two symptoms: a refusal
on the JSON feature is also a format break, a provider timeout also breaches the latency SLO.
Those flags are right, so they are counted apart (`other_injected`); `false_alarms` are flags
on calls with nothing injected, and `precision` counts only those against the evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assay.demo.generator import INJECTED_KINDS, load_truth


@dataclass(frozen=True)
class Detection:
    kind: str
    injected: int
    flagged: int
    true_positives: int
    other_injected: int
    """Flagged calls that had another failure injected, showing this symptom too."""
    false_alarms: int
    """Flagged calls with no failure injected."""

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.injected if self.injected else None

    @property
    def precision(self) -> float | None:
        decided = self.true_positives + self.false_alarms
        return self.true_positives / decided if decided else None


def detection_quality(
    truth: Mapping[str, str | None], flagged: Iterable[tuple[str, str]], scored: set[str]
) -> list[Detection]:
    """Per injected kind: `truth` maps call_id -> injected kind (or None), `flagged` holds
    (call_id, failure_category) of failing scores, `scored` the call_ids that were scored."""
    by_kind: dict[str, set[str]] = {}
    for call_id, category in flagged:
        if call_id in scored:
            by_kind.setdefault(category, set()).add(call_id)
    rows = []
    for kind in INJECTED_KINDS:
        injected = {cid for cid, k in truth.items() if k == kind and cid in scored}
        found = by_kind.get(kind, set())
        others = {cid for cid in found - injected if truth.get(cid)}
        rows.append(
            Detection(kind, len(injected), len(found), len(injected & found), len(others), len(found - injected - others))
        )
    return rows


def demo_truth(home: Path, days: Iterable[str]) -> dict[str, str | None]:
    """call_id -> injected kind (None for a clean call) over the generated days."""
    truth: dict[str, str | None] = {}
    for day in days:
        for row in load_truth(home, date.fromisoformat(day)):
            if row.get("call_id"):
                truth[row["call_id"]] = row.get("injected")
    return truth


def format_detection(rows: list[Detection]) -> str:
    def pct(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:5.2f}"

    lines = [
        f"{'injected kind':<16}{'injected':>9}{'flagged':>9}{'found':>7}{'other kind':>12}"
        f"{'false alarm':>13}{'precision':>11}{'recall':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r.kind:<16}{r.injected:>9}{r.flagged:>9}{r.true_positives:>7}{r.other_injected:>12}"
            f"{r.false_alarms:>13}{pct(r.precision):>11}{pct(r.recall):>8}"
        )
    return "\n".join(lines)
