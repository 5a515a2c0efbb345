"""The names of the numbers assay reports, each defined once, and how each is shown.

Reports (Markdown, HTML, JSON), reasons and the Dagster UI's metadata use these names and
print the definition beside the number, so "pass share" in a reason and in the UI is the same
number, defined the same way.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

LATENCY_RULE = (
    "p95 over every replay that was tried: a completed one at its latency, a failed one at the time it "
    "took before giving up and never less than the per-attempt timeout (judge.timeout_s), so a candidate "
    "cannot look fast by failing fast or by timing out"
)
BATCH_REPLAY_LATENCY = (
    "not measured: replayed through the Batch API (`replay_mode: batch`), where the time to an answer is "
    "its wait in the provider's queue (up to 24 h), not the model's latency; the latency gate is not part of "
    "this verdict (replay with `replay_mode: sync`, or `assay compare` over production days, to measure it)"
)
"""What the latency gate and the replay metadata say of a candidate replayed through a Batch API:
neither a pass nor a fail on queue time, and never a number."""
COST_RULE = (
    "mean cost of the completed replays; every one needs a known cost (litellm's price map, `pricing:` or "
    "the candidate's price_override): an unknown cost is never $0"
)

TERMS: dict[str, str] = {
    "pass share": (
        "the share of a case's evaluators that passed (of those that completed on it), averaged over "
        "cases; errors and skips are not in it: the evidence gate counts them"
    ),
    "pass-share delta": (
        "candidate minus baseline pass share, case by case, averaged over the cases both completed "
        "(paired); its interval is a paired bootstrap"
    ),
    "case pass rate": "the share of cases on which every evaluator that completed passed",
    "score pass rate": "the share of completed scores that passed, all cases and evaluators pooled",
    "error share": (
        "the share of one source of evidence (replays, LLM-judge evaluations, other evaluations) that "
        "ended in an error or a skip; evaluations that apply to neither side are not counted"
    ),
    "McNemar p": "exact two-sided test on the cases one side passes and the other fails",
    "Holm p": "McNemar p adjusted (Holm step-down) for testing every metric of the candidate at once",
    "latency p95": LATENCY_RULE,
    "cost per request": COST_RULE,
}


def glossary_markdown(names: list[str] | None = None) -> str:
    """The definitions as a Markdown list (all, or the named ones in that order)."""
    return "\n".join(f"- **{name}**: {TERMS[name]}" for name in (names or list(TERMS)))


def round_sig(value: float | None, digits: int = 3) -> float | None:
    """`value` to `digits` significant digits (0.0001516301075 -> 0.000152)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def show(value: Any, unit: str | None) -> str:
    """A number for people: rounded, with its unit (`1,234 ms`, `$0.00412`, `12.5%`, `+0.031`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "usd":  # never in exponent notation: $0.00000407, not $4.07e-06
        return f"${Decimal(repr(round_sig(float(value), 3))):f}"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "delta":
        return f"{value:+.3f}"
    if unit in ("cases", "count"):
        return f"{value:,.0f}"
    if unit == "p":
        return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
