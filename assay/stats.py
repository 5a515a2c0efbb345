"""Statistics behind a deploy decision: paired bootstrap intervals, McNemar's exact test and
Holm's step-down adjustment for testing many metrics at once.

All resampling is seeded, so the same evidence always yields the same interval and verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[float, float, float]:
    """(observed, ci_low, ci_high): percentile bootstrap of `statistic` over `values`.

    `statistic` maps a (resamples, n) matrix to one value per row (vectorised: 2,000
    resamples of 1,000 cases is one numpy call, not a Python loop).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap over no values")
    observed = float(statistic(data[np.newaxis, :])[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    stats = statistic(data[idx])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return observed, float(low), float(high)


def mean_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix.mean(axis=1)


def p95_rows(matrix: np.ndarray) -> np.ndarray:
    # Linear interpolation, the same definition as DuckDB's quantile_cont in the marts.
    return np.quantile(matrix, 0.95, axis=1)


def paired_mean_delta_ci(
    candidate: Sequence[float], baseline: Sequence[float], *, confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Mean of candidate - baseline over paired cases, with a paired bootstrap interval
    (cases are resampled, each keeping both of its scores)."""
    if len(candidate) != len(baseline):
        raise ValueError("paired samples must have the same length")
    deltas = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    return bootstrap_ci(deltas, mean_rows, confidence=confidence, resamples=resamples, seed=seed)


def mcnemar_exact_p(baseline_only: int, candidate_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    baseline_only: cases the baseline passes and the candidate fails; candidate_only: the
    reverse. Under no difference, each discordant pair is a fair coin flip.
    """
    n = baseline_only + candidate_only
    if n == 0:
        return 1.0
    k = min(baseline_only, candidate_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    Sorted ascending, the i-th smallest (0-based) of m is multiplied by (m - i), and each is
    raised to at least the one before it (the step-down), capped at 1. Rejecting where the
    adjusted p < alpha keeps the chance of any false finding across the m metrics below alpha,
    whatever their dependence.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
