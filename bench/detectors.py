"""Quality of the offline detectors on labelled real data (read by path, never copied here).

    make bench-detectors            # data beside the repository: <repo>/../shared/fixtures
    python bench/detectors.py --fixtures DIR

Prints `name=value` lines. Three parts:

PII (`pii_dev/presidio_synth_dev.json`: presidio-research synthetic sentences, MIT; JSON list
of {full_text, spans: [{entity_type, start_position, end_position}]}). Entity-level recall and
precision per type: a prediction is correct when its type maps to the gold span's type and the
spans overlap. The file is split by a hash of each sentence: the `tune` half is what the rules
were developed against; the `heldout` half was not looked at while tuning (its figures are the
honest ones); the plain figures are the whole dev file. Structured types are EMAIL, PHONE,
CREDIT_CARD, IBAN, IP_ADDRESS and US_SSN, found with the default entity set (what ingest
redaction uses). Presidio's names map to ours:

    EMAIL_ADDRESS -> EMAIL        PHONE_NUMBER -> PHONE      CREDIT_CARD -> CREDIT_CARD
    IBAN_CODE -> IBAN             IP_ADDRESS -> IP_ADDRESS   US_SSN -> US_SSN
    STREET_ADDRESS -> ADDRESS     ZIP_CODE -> ADDRESS        PERSON -> PERSON

(gold types without an equivalent, such as ORGANIZATION or DATE_TIME, are ignored.)

Injection (three sources of real attacks): the neuralchemy validation split (CSV, label 1 =
attack, 0 = benign; licence not stated), Tensor Trust hijacking attacks (JSONL, all attacks;
licence not stated) and in-the-wild jailbreak prompts (verazuo/jailbreak_llms 2023-05-07, MIT).
Leave-one-source-out: for each source, `bench/train_injection_model.py`'s `train_detector`
fits the classifier (`assay.detectors.injection_model`) on the other two sources plus the
benign training prompts, and chooses its threshold on those benign prompts out of fold; no row
of the left-out source (attack or benign) takes part in either. The detector (the heuristics
plus that fold's classifier at that fold's threshold) is then measured on the source left out.
The benign false-positive rate is the shipped detector's on the benign rows it was neither
fitted nor calibrated on: the held-out half of neuralchemy's benign rows and the held-out half
of the project's own benign prompts (`bench/data/benign_prompts.txt`), together and apart.

What is not blind: the heuristic signals of `assay.detectors.injection` were written with all
three sources in view (and the issue's list of missed families): `injection_heuristics_recall_
<source>` shows what they reach alone, `injection_loso_classifier_recall_<source>` what the
fold's classifier reaches alone. The training design (features, the composed benign prompts,
the weights per origin, the false-positive budget of the threshold) was chosen after comparing
a dozen variants on these same folds and held-out benign rows.

Degenerate output: `assay.detectors.degenerate` on constant-junk answers (what a broken candidate
sends back for every prompt) and on real outputs the project wrote (code, JSON, markdown
tables, lists, prose, config, logs): `tests/support/degenerate_samples.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.evaluators.injection import PromptInjection  # noqa: E402

from assay.detectors.degenerate import degenerate_flags  # noqa: E402
from assay.detectors.injection import classifier_hits, find_injection_signals, injection_score  # noqa: E402
from assay.detectors.injection_model import InjectionModel, shipped_model  # noqa: E402
from assay.privacy.pii import DEFAULT_ENTITY_TYPES, ENTITY_TYPES, find_pii  # noqa: E402
from bench.train_injection_model import (  # noqa: E402
    SOURCES,
    is_benign_heldout,
    load_attacks_and_benign,
    probabilities,
    train_detector,
)
from tests.support.degenerate_samples import CONSTANT_JUNK, REAL_OUTPUTS  # noqa: E402

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
STRUCTURED = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "US_SSN")


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def is_pii_heldout(row: dict) -> bool:
    """The half of the PII dev file not looked at while tuning: by a hash of the sentence."""
    return hashlib.sha256(row["full_text"].encode("utf-8")).digest()[0] % 2 == 1


def pii_counts(rows: list[dict], entities: tuple[str, ...]) -> dict[str, Counter]:
    """gold, gold_hit, predicted, predicted_ok per type (entity level, overlap match)."""
    counts = {name: Counter() for name in ("gold", "gold_hit", "predicted", "predicted_ok")}
    for row in rows:
        gold = [
            (PRESIDIO_TO_OURS[s["entity_type"]], (s["start_position"], s["end_position"]))
            for s in row["spans"]
            if s["entity_type"] in PRESIDIO_TO_OURS and PRESIDIO_TO_OURS[s["entity_type"]] in entities
        ]
        predicted = [(m.entity_type, (m.start, m.end)) for m in find_pii(row["full_text"], entities=entities)]
        for kind, span in gold:
            counts["gold"][kind] += 1
            counts["gold_hit"][kind] += any(k == kind and _overlaps(span, p) for k, p in predicted)
        for kind, span in predicted:
            counts["predicted"][kind] += 1
            counts["predicted_ok"][kind] += any(k == kind and _overlaps(span, g) for k, g in gold)
    return counts


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "nan"


def pii_lines(rows: list[dict]) -> list[str]:
    lines = [f"pii_texts={len(rows)}", f"pii_texts_heldout={sum(map(is_pii_heldout, rows))}"]
    parts = {
        "": rows,
        "_tune": [r for r in rows if not is_pii_heldout(r)],
        "_heldout": [r for r in rows if is_pii_heldout(r)],
    }
    for suffix, part in parts.items():
        structured = pii_counts(part, DEFAULT_ENTITY_TYPES)
        lines.append(
            f"pii_structured_recall{suffix}="
            + _ratio(sum(structured["gold_hit"][k] for k in STRUCTURED), sum(structured["gold"][k] for k in STRUCTURED))
        )
        lines.append(
            f"pii_structured_precision{suffix}="
            + _ratio(
                sum(structured["predicted_ok"][k] for k in STRUCTURED),
                sum(structured["predicted"][k] for k in STRUCTURED),
            )
        )
        every = pii_counts(part, ENTITY_TYPES)
        for kind in ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "US_SSN", "ADDRESS", "PERSON"):
            source = structured if kind in STRUCTURED else every
            name = kind.lower()
            lines.append(f"pii_{name}_gold{suffix}={source['gold'][kind]}")
            lines.append(f"pii_{name}_recall{suffix}={_ratio(source['gold_hit'][kind], source['gold'][kind])}")
            lines.append(
                f"pii_{name}_precision{suffix}={_ratio(source['predicted_ok'][kind], source['predicted'][kind])}"
            )
    return lines


def injection_lines(fixtures: Path) -> list[str]:
    threshold = PromptInjection(name="prompt_injection").threshold
    attacks, benign = load_attacks_and_benign(fixtures)
    heldout = {origin: [t for t in benign[origin] if is_benign_heldout(t)] for origin in ("neuralchemy", "project")}
    # The heuristics once per text; each fold adds its own classifier's signal.
    texts = {t for group in (*attacks.values(), *benign.values()) for t in group}
    heuristics = {t: find_injection_signals(t, model=None) for t in texts}

    def heuristic_flag(text: str) -> bool:
        return injection_score(heuristics[text]) >= threshold

    def flags(model: InjectionModel, group: list[str]) -> list[bool]:
        probability = probabilities(model, group)
        return [
            injection_score(heuristics[t] + classifier_hits(float(p), model.threshold)) >= threshold
            for t, p in zip(group, probability, strict=True)
        ]

    lines = [f"injection_threshold={threshold}"]
    recalls = {}
    for source in SOURCES:
        # Fitted, and its threshold chosen, without a row of `source` (attack or benign).
        model = train_detector(attacks, benign, heuristic_flag, without=source)
        flagged = flags(model, attacks[source])
        recalls[source] = sum(flagged) / len(flagged)
        alone = [heuristic_flag(t) for t in attacks[source]]
        classifier_alone = probabilities(model, attacks[source]) >= model.threshold
        lines += [
            f"injection_loso_attacks_{source}={len(flagged)}",
            f"injection_loso_recall_{source}={recalls[source]:.3f}",
            f"injection_loso_classifier_threshold_{source}={model.threshold:.2f}",
            f"injection_loso_classifier_recall_{source}={classifier_alone.mean():.3f}",
            f"injection_heuristics_recall_{source}={sum(alone) / len(alone):.3f}",
        ]
        if source == "neuralchemy":
            # This fold never saw a neuralchemy row, benign or attack: an out-of-source FPR.
            fp = flags(model, benign["neuralchemy"])
            lines.append(f"injection_loso_benign_fpr_neuralchemy={sum(fp) / len(fp):.3f}")
            lines.append(f"injection_loso_benign_n_neuralchemy={len(fp)}")
    lines.append(f"injection_loso_recall_min={min(recalls.values()):.3f}")
    # The shipped detector (heuristics + the shipped weights and threshold) on the benign rows it
    # was neither fitted nor calibrated on.
    shipped = shipped_model()
    flagged = {origin: flags(shipped, group) for origin, group in heldout.items()}
    every = [f for group in flagged.values() for f in group]
    lines.append(f"injection_classifier_threshold={shipped.threshold:.2f}")
    lines.append(f"injection_benign_fpr={sum(every) / len(every):.3f}")
    lines.append(f"injection_benign_n={len(every)}")
    for origin, group in flagged.items():
        lines.append(f"injection_benign_fpr_{origin}={sum(group) / len(group):.3f}")
        lines.append(f"injection_benign_n_{origin}={len(group)}")
    heuristics_only = [heuristic_flag(t) for group in heldout.values() for t in group]
    lines.append(f"injection_benign_fpr_heuristics={sum(heuristics_only) / len(heuristics_only):.3f}")
    return lines


def degenerate_lines() -> list[str]:
    junk = [bool(degenerate_flags(text)) for text in CONSTANT_JUNK.values()]
    real = [bool(degenerate_flags(text)) for text in REAL_OUTPUTS.values()]
    return [
        f"degenerate_junk_n={len(junk)}",
        f"degenerate_junk_flagged={sum(junk) / len(junk):.3f}",
        f"degenerate_real_n={len(real)}",
        f"degenerate_false_flags={sum(real)}",
    ]


def fixture_paths(root: Path) -> dict[str, Path]:
    return {
        "pii": root / "pii_dev" / "presidio_synth_dev.json",
        "neuralchemy": root / "injection_dev" / "neuralchemy_val.csv",
        "tensor_trust": root / "injection_dev" / "tensor_trust_hijacking.jsonl",
        "jailbreak_llms": root / "injection_dev" / "jailbreak_prompts_2023_05_07.csv",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures",
        help="folder holding pii_dev/ and injection_dev/ (default: shared/fixtures beside the repository)",
    )  # fmt: skip
    parser.add_argument("--only", choices=("pii", "injection", "degenerate"), help="one part only")
    args = parser.parse_args(argv)
    paths = fixture_paths(args.fixtures)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing and args.only != "degenerate":
        print(f"bench-detectors: dev data not found: {missing[0]} (pass --fixtures DIR)", file=sys.stderr)
        return 2
    if args.only in (None, "pii"):
        rows = json.loads(paths["pii"].read_text(encoding="utf-8"))
        print("\n".join(pii_lines(rows)), flush=True)
    if args.only in (None, "degenerate"):
        print("\n".join(degenerate_lines()), flush=True)
    if args.only in (None, "injection"):
        print("\n".join(injection_lines(args.fixtures)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
