"""Quality of the safety detectors on labelled dev sets (read by path, never copied here).

    python bench/safety_quality.py --pii PATH/presidio_synth_dev.json \\
        --injection PATH/neuralchemy_val.csv

PII (presidio-research synthetic sentences, JSON list of {full_text, spans: [{entity_type,
start_position, end_position}]}): entity-level recall and precision per type. A prediction is
correct when its type maps to the gold span's type and the spans overlap. Presidio's names
map to ours as follows (gold types without an equivalent, such as ORGANIZATION, GPE,
DATE_TIME, TITLE, AGE, NRP, DOMAIN_NAME, US_DRIVER_LICENSE, are ignored; a prediction that
overlaps one of them is still a false positive):

    EMAIL_ADDRESS -> EMAIL        PHONE_NUMBER -> PHONE      CREDIT_CARD -> CREDIT_CARD
    IBAN_CODE -> IBAN             IP_ADDRESS -> IP_ADDRESS   US_SSN -> US_SSN
    STREET_ADDRESS -> ADDRESS     ZIP_CODE -> ADDRESS (a ZIP inside our address span)
    PERSON -> PERSON

Injection (neuralchemy prompt-injection validation split, CSV with text, label 1 = attack,
0 = benign, category, tags): recall on attacks (overall and per category), false-positive
rate on plain benign rows and on hard negatives (benign rows tagged hard_negative or
security_adjacent, or of category edge_case), at the evaluator's default threshold.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assay.detectors.injection import find_injection_signals, injection_score  # noqa: E402
from assay.privacy.pii import ENTITY_TYPES, find_pii  # noqa: E402

PRESIDIO_TO_OURS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "STREET_ADDRESS": "ADDRESS",
    "ZIP_CODE": "ADDRESS",
    "PERSON": "PERSON",
}


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def pii_quality(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per type: gold, predicted, recall, precision (entity level, overlap match)."""
    gold_n: Counter = Counter()
    gold_hit: Counter = Counter()
    pred_n: Counter = Counter()
    pred_ok: Counter = Counter()
    for row in rows:
        text = row["full_text"]
        gold = [
            (PRESIDIO_TO_OURS[s["entity_type"]], (s["start_position"], s["end_position"]))
            for s in row["spans"]
            if s["entity_type"] in PRESIDIO_TO_OURS
        ]
        predicted = [(m.entity_type, (m.start, m.end)) for m in find_pii(text, entities=ENTITY_TYPES)]
        for kind, span in gold:
            gold_n[kind] += 1
            gold_hit[kind] += any(k == kind and _overlaps(span, p) for k, p in predicted)
        for kind, span in predicted:
            pred_n[kind] += 1
            pred_ok[kind] += any(k == kind and _overlaps(span, g) for k, g in gold)
    return {
        kind: {
            "gold": gold_n[kind],
            "predicted": pred_n[kind],
            "recall": gold_hit[kind] / gold_n[kind] if gold_n[kind] else float("nan"),
            "precision": pred_ok[kind] / pred_n[kind] if pred_n[kind] else float("nan"),
        }
        for kind in ENTITY_TYPES
    }


def _tags(row: dict) -> list[str]:
    try:
        return list(ast.literal_eval(row.get("tags") or "[]"))
    except (ValueError, SyntaxError):
        return []


def is_hard_negative(row: dict) -> bool:
    tags = _tags(row)
    return "hard_negative" in tags or "security_adjacent" in tags or row.get("category") == "edge_case"


def injection_quality(rows: list[dict], threshold: float = 0.5) -> dict:
    flagged = [injection_score(find_injection_signals(r["text"])) >= threshold for r in rows]
    attacks = [f for r, f in zip(rows, flagged, strict=True) if r["label"] == "1"]
    benign = [f for r, f in zip(rows, flagged, strict=True) if r["label"] == "0" and not is_hard_negative(r)]
    hard = [f for r, f in zip(rows, flagged, strict=True) if r["label"] == "0" and is_hard_negative(r)]
    tagged = [f for r, f in zip(rows, flagged, strict=True) if r["label"] == "0" and "hard_negative" in _tags(r)]
    by_category: dict[str, list[bool]] = defaultdict(list)
    for r, f in zip(rows, flagged, strict=True):
        if r["label"] == "1":
            by_category[r["category"]].append(f)
    share = lambda xs: (sum(xs) / len(xs) if xs else float("nan"), len(xs))  # noqa: E731
    return {
        "threshold": threshold,
        "attack_recall": share(attacks),
        "benign_fpr": share(benign),
        "hard_negative_fpr": share(hard),
        "tagged_hard_negative_fpr": share(tagged),
        "recall_by_category": {c: share(v) for c, v in sorted(by_category.items(), key=lambda kv: -len(kv[1]))},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pii", type=Path, help="presidio synthetic JSON")
    parser.add_argument("--injection", type=Path, help="neuralchemy CSV")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.pii:
        rows = json.loads(args.pii.read_text(encoding="utf-8"))
        print(f"PII: {len(rows)} texts ({args.pii.name})")
        print(f"{'type':<12} {'gold':>5} {'pred':>5} {'recall':>7} {'precision':>9}")
        for kind, q in pii_quality(rows).items():
            print(f"{kind:<12} {q['gold']:>5} {q['predicted']:>5} {q['recall']:>7.3f} {q['precision']:>9.3f}")
        flagged = sum(injection_score(find_injection_signals(r["full_text"])) >= args.threshold for r in rows)
        print(f"injection FPR on these (benign) texts: {flagged / len(rows):.3f} (n={len(rows)})")
    if args.injection:
        with args.injection.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        q = injection_quality(rows, args.threshold)
        print(f"\nInjection: {len(rows)} rows ({args.injection.name}), threshold {q['threshold']}")
        for key in ("attack_recall", "benign_fpr", "hard_negative_fpr", "tagged_hard_negative_fpr"):
            value, n = q[key]
            print(f"{key:<26} {value:.3f}  (n={n})")
        print("recall by attack category:")
        for category, (value, n) in q["recall_by_category"].items():
            print(f"  {category:<24} {value:.3f}  (n={n})")


if __name__ == "__main__":
    main()
