"""Every metric of one candidate against another, with its interval and a p-value corrected for
testing many metrics at once.

For each metric: the cases both sides completed it on, both means, the mean paired delta with
its paired bootstrap interval, McNemar's exact p on pass/fail, and the Holm-adjusted p across
every metric of the comparison (`significant` uses it). The metrics are `case_pass_share` (all
evaluators: the quality gate's number) and one per evaluator.

One computation for every reader: the `candidate_metric_comparison` dbt model (a Python model
over `candidate_case_scores` and `candidate_case_metrics`) calls `compare_with_baseline`; the
decision, the reports and `assay report` read its rows; `assay report --pair A B` calls
`compare_pair`, so a pair compared by hand uses exactly the statistics of a decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.contracts.metric_comparison import OVERALL_METRIC, Direction, MetricComparison
from assay.stats import holm_adjust, mcnemar_exact_p, paired_mean_delta_ci

LAKE_TABLE = "candidate_metric_comparison"
"""The lake's copy of the mart, one partition per dataset version (the mart holds the current
version; the lake keeps every version a decision was made on)."""

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Statistics:
    """The settings a comparison is computed with (from `gate:` in assay.yaml)."""

    confidence: float
    bootstrap_resamples: int
    seed: int

    @classmethod
    def of(cls, gate: Any) -> Statistics:
        return cls(gate.confidence, gate.bootstrap_resamples, gate.seed)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Statistics:
        """From dbt vars (`gate_confidence`, ...): text, or empty for the gate's defaults."""
        from assay.config import GateConfig

        values = {k: settings.get(f"gate_{k}") for k in ("confidence", "bootstrap_resamples", "seed")}
        return cls.of(GateConfig(**{k: v for k, v in values.items() if v not in (None, "")}))


def compare_metric(
    metric: str,
    candidate: Mapping[str, tuple[float, bool]],
    baseline: Mapping[str, tuple[float, bool]],
    *,
    stats: Any,
) -> dict[str, Any]:
    """One metric's comparison: `candidate` / `baseline` map case_id -> (pass share, passed)
    for the cases each side completed the metric on; only cases in both are compared. `stats`:
    anything with confidence, bootstrap_resamples and seed (`Statistics`, `GateConfig`)."""
    paired = sorted(candidate.keys() & baseline.keys())
    row: dict[str, Any] = {
        "metric": metric, "paired_cases": len(paired), "candidate_cases": len(candidate),
        "baseline_cases": len(baseline), "confidence": stats.confidence,
    }  # fmt: skip
    if not paired:
        # A metric only one side has (a pairwise judge scores the candidate against the
        # baseline, never the baseline itself): its own mean, unpaired, and nothing compared.
        if candidate:
            row["candidate_mean"] = sum(v for v, _ in candidate.values()) / len(candidate)
        return row
    cand = [candidate[c][0] for c in paired]
    base = [baseline[c][0] for c in paired]
    row["candidate_mean"] = sum(cand) / len(cand)
    row["baseline_mean"] = sum(base) / len(base)
    delta, low, high = paired_mean_delta_ci(
        cand, base, confidence=stats.confidence, resamples=stats.bootstrap_resamples, seed=stats.seed
    )
    row["mean_delta"] = delta
    if len(paired) > 1:  # one case has no spread to resample
        row["ci_low"], row["ci_high"] = low, high
    row["baseline_only_passes"] = sum(1 for c in paired if baseline[c][1] and not candidate[c][1])
    row["candidate_only_passes"] = sum(1 for c in paired if candidate[c][1] and not baseline[c][1])
    row["mcnemar_p"] = mcnemar_exact_p(row["baseline_only_passes"], row["candidate_only_passes"])
    return row


def direction(row: Mapping[str, Any]) -> Direction:
    """How to read a comparison row: better, worse, no clear difference, or not compared."""
    if not row.get("paired_cases"):
        return "not compared"
    if row.get("significant") and (row.get("mean_delta") or 0) > 0:
        return "better"
    if row.get("significant") and (row.get("mean_delta") or 0) < 0:
        return "worse"
    return "no clear difference"


def case_outcomes(case_rows: Rows) -> dict[str, tuple[float, bool]]:
    """case_id -> (pass share, passed every completed check) for cases with a completed score."""
    return {
        r["case_id"]: (float(r["pass_share"]), bool(r["is_case_passed"]))
        for r in case_rows
        if r.get("pass_share") is not None
    }


def evaluator_outcomes(metric_rows: Rows) -> dict[str, dict[str, tuple[float, bool]]]:
    """evaluator -> case_id -> (pass share, passed) for the evaluations that completed."""
    by_evaluator: dict[str, dict[str, tuple[float, bool]]] = {}
    for r in metric_rows:
        if r.get("pass_share") is not None:
            by_evaluator.setdefault(r["evaluator"], {})[r["case_id"]] = (float(r["pass_share"]), bool(r["is_passed"]))
    return by_evaluator


def compare_candidates(
    candidate_id: str,
    baseline_id: str,
    dataset_version: str,
    *,
    candidate_cases: Rows,
    baseline_cases: Rows,
    candidate_metrics: Rows,
    baseline_metrics: Rows,
    stats: Any,
) -> list[MetricComparison]:
    """Every metric of one candidate against another: `case_pass_share` first, then each
    evaluator either side completed, by name; Holm's adjustment across all of them."""
    rows = [compare_metric(OVERALL_METRIC, case_outcomes(candidate_cases), case_outcomes(baseline_cases), stats=stats)]
    cand_by, base_by = evaluator_outcomes(candidate_metrics), evaluator_outcomes(baseline_metrics)
    for evaluator in sorted(cand_by.keys() | base_by.keys()):
        rows.append(compare_metric(evaluator, cand_by.get(evaluator, {}), base_by.get(evaluator, {}), stats=stats))
    tested = [r for r in rows if r.get("mcnemar_p") is not None]
    for row, adjusted in zip(tested, holm_adjust([r["mcnemar_p"] for r in tested]), strict=True):
        row["holm_p"] = adjusted
        row["significant"] = adjusted < 1 - stats.confidence
    for row in rows:
        row["direction"] = direction(row)
    return [
        MetricComparison(candidate_id=candidate_id, baseline_id=baseline_id, dataset_version=dataset_version, **row)
        for row in rows
    ]


def compare_with_baseline(
    cases: Mapping[str, Rows], metrics: Mapping[str, Rows], *, baseline_id: str, dataset_version: str, stats: Any
) -> list[MetricComparison]:
    """Every candidate that has replays (but the baseline) against the baseline: `cases` and
    `metrics` are the case and evaluation rows of one dataset version, by candidate."""
    rows: list[MetricComparison] = []
    for candidate_id in sorted(cases):
        if candidate_id == baseline_id:
            continue
        rows += compare_candidates(
            candidate_id, baseline_id, dataset_version, candidate_cases=cases[candidate_id],
            baseline_cases=cases.get(baseline_id, []), candidate_metrics=metrics.get(candidate_id, []),
            baseline_metrics=metrics.get(baseline_id, []), stats=stats,
        )
    return rows


def by_candidate(rows: Rows) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["candidate_id"], []).append(dict(row))
    return grouped


# --- reading the per-case evidence ---------------------------------------------------------


def load_rows(warehouse: Path, table: str, dataset_version: str) -> dict[str, list[dict[str, Any]]]:
    """A warehouse table's rows of one dataset version, by candidate (case order). An absent
    warehouse or table reads as empty: nothing has been replayed yet."""
    import duckdb

    if not Path(warehouse).exists():
        return {}
    # Read-only and closed at once: dbt (in the same pool) is the warehouse's only writer.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        if table not in tables:
            return {}
        data = con.sql(
            f"select * from {table} where dataset_version = ? order by all", params=[dataset_version]
        ).to_arrow_table()
    by_candidate: dict[str, list[dict[str, Any]]] = {}
    for row in data.to_pylist():
        by_candidate.setdefault(row["candidate_id"], []).append(row)
    return by_candidate


def compare_pair(warehouse: Path, dataset_version: str, first: str, second: str, stats: Any) -> list[MetricComparison]:
    """`first` against `second` on the cases both answered (neither needs to be the baseline).
    Raises ValueError naming what is missing."""
    cases = load_rows(warehouse, "candidate_case_scores", dataset_version)
    metrics = load_rows(warehouse, "candidate_case_metrics", dataset_version)
    for cid in (first, second):
        if cid not in cases:
            known = ", ".join(sorted(cases)) or "none"
            raise ValueError(f"no replays of dataset {dataset_version} for candidate {cid!r} in the warehouse "
                             f"(replayed: {known}); run `assay run` after adding it")
    return compare_candidates(
        first, second, dataset_version, candidate_cases=cases[first], baseline_cases=cases[second],
        candidate_metrics=metrics.get(first, []), baseline_metrics=metrics.get(second, []), stats=stats,
    )


def read_stored(lake, dataset_version: str) -> dict[str, list[dict[str, Any]]]:
    """The lake's comparisons of one dataset version by candidate (`case_pass_share` first)."""
    table = lake.read_partition(LAKE_TABLE, {"dataset_version": dataset_version})
    by_candidate: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist() if table is not None else []:
        by_candidate.setdefault(row["candidate_id"], []).append(row)
    for rows in by_candidate.values():
        rows.sort(key=lambda r: (r["metric"] != OVERALL_METRIC, r["metric"]))
    return by_candidate


def format_comparison(rows: Sequence[MetricComparison]) -> str:
    """A comparison as a table for a terminal: a row per metric, rounded, with units."""
    from assay.glossary import TERMS, show

    if not rows:
        return "no metrics"
    first = rows[0]
    header = (f"{first.candidate_id} against {first.baseline_id} on dataset {first.dataset_version} "
              f"({first.confidence:.0%} paired bootstrap intervals; significant: Holm p < {1 - first.confidence:.2g})")
    columns = ["metric", "paired", first.candidate_id, first.baseline_id, "delta", "interval", "McNemar p", "Holm p",
               "significant"]
    table = [columns]
    for r in rows:
        table.append([
            r.metric, str(r.paired_cases), show(r.candidate_mean, "share"), show(r.baseline_mean, "share"),
            show(r.mean_delta, "delta"),
            "–" if r.ci_low is None else f"{show(r.ci_low, 'delta')} to {show(r.ci_high, 'delta')}",
            show(r.mcnemar_p, "p"), show(r.holm_p, "p"), "yes" if r.significant else "no",
        ])  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = [header, ""] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines += ["", f"pass share: {TERMS['pass share']}.", f"delta: {TERMS['pass-share delta']}."]
    return "\n".join(lines)
