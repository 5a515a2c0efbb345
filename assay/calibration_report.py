"""`assay judge calibration`: the calibration rows as text or JSON (`assay.calibration`)."""

from __future__ import annotations

import json
from typing import Any


def _figure(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return "—"
    low, high = row.get(f"{name}_low"), row.get(f"{name}_high")
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else "")


def _plain(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def calibration_text(rows: list[dict[str, Any]], *, confidence: float) -> str:
    """One block per series and period: figures with their bootstrap intervals."""
    if not rows:
        return "no calibration yet: import labels (`assay labels import FILE`) for scored subjects\n"
    out = [f"intervals: {confidence:.0%} bootstrap over the labelled subjects"]
    for row in rows:
        out.append(f"\n{row['series']}  ({row['kind']}, period {row['period']})")
        if row["kind"] == "pairwise":
            out.append(f"  pairs {row['pairs']} ({row['pairs_both_orders']} judged in both orders); "
                       f"labelled verdicts n={row['n']}")
            out.append(f"  position consistency {_figure(row, 'position_consistency')}; "
                       f"first-position wins {_plain(row['first_position_win_share'])} of decisive verdicts")
            out.append(f"  accuracy {_figure(row, 'accuracy')} (averaged over orders; a shown first "
                       f"{_plain(row['accuracy_a_first'])}, b shown first {_plain(row['accuracy_b_first'])}, "
                       f"both orders agree {_plain(row['accuracy_both_orders_agree'])} on {row['pairs_both_orders_agree']} pairs)")
            out.append(f"  cohen kappa {_figure(row, 'cohen_kappa')}")
        else:
            out.append(f"  n={row['n']}  accuracy {_figure(row, 'accuracy')}  cohen kappa {_figure(row, 'cohen_kappa')}  "
                       f"F1 (fail) {_figure(row, 'f1_fail')}")
        if row.get("jurors"):
            out.append(f"  jury of {row['jurors']}: Fleiss' kappa between jurors {_plain(row['jury_fleiss_kappa'])} "
                       f"on {row['jury_subjects']} subjects (each juror is a series of its own)")
        if row.get("confusion_matrix"):
            out.append(f"  confusion (human -> scorer): {row['confusion_matrix']}")
        if row.get("confusion_shares"):
            cells = [f"{human}->{scorer} {_plain(share)} [{_plain(low)}, {_plain(high)}]"
                     for human, by_scorer in json.loads(row["confusion_shares"]).items()
                     for scorer, (share, low, high) in by_scorer.items()]
            out.append(f"  confusion shares: {'; '.join(cells)}")
    return "\n".join(out) + "\n"


def calibration_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows],
                      indent=2) + "\n"
