"""Self-consistency of a regression run: the same cases replayed n times.

A model that answers a case well once and badly the next time is a risk a single replay hides.
Two figures, per candidate:

- `verdict_agreement_share`: share of cases whose samples all get the same case verdict (a
  case passes when every completed score on it passed), over the cases with a verdict in
  every sample;
- `mean_pairwise_similarity`: mean over cases of the mean similarity of every pair of its
  samples' outputs (difflib ratio over words, 0..1; two empty outputs count as identical).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from itertools import combinations
from typing import Any


def case_verdicts(scores: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """case_id -> passed (every completed score on it passed); cases with none are left out."""
    verdicts: dict[str, bool] = defaultdict(lambda: True)
    for score in scores:
        if score["status"] == "completed" and score.get("passed") is not None:
            verdicts[score["subject_id"]] &= bool(score["passed"])
    return dict(verdicts)


def text_similarity(a: str | None, b: str | None) -> float:
    words_a, words_b = (a or "").split(), (b or "").split()
    if not words_a and not words_b:
        return 1.0
    return SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


def self_consistency(
    verdicts_per_sample: list[Mapping[str, bool]], outputs_per_sample: list[Mapping[str, str | None]]
) -> dict[str, float | int]:
    samples = len(verdicts_per_sample)
    judged = set.intersection(*(set(v) for v in verdicts_per_sample)) if verdicts_per_sample else set()
    agreeing = sum(1 for case in judged if len({v[case] for v in verdicts_per_sample}) == 1)
    cases = set.intersection(*(set(o) for o in outputs_per_sample)) if outputs_per_sample else set()
    similarities = []
    for case in cases:
        pairs = [text_similarity(a[case], b[case]) for a, b in combinations(outputs_per_sample, 2)]
        if pairs:
            similarities.append(sum(pairs) / len(pairs))
    return {
        "samples": samples,
        "cases_with_verdicts": len(judged),
        "verdict_agreement_share": agreeing / len(judged) if judged else 1.0,
        "mean_pairwise_similarity": sum(similarities) / len(similarities) if similarities else 1.0,
    }
