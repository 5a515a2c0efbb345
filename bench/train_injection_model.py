"""Train the prompt-injection classifier shipped as assay/detectors/injection_model.npz.

    nice -n 19 .venv/bin/python bench/train_injection_model.py [--fixtures DIR]
    # default DIR: the shared `fixtures` folder beside the repository

Deterministic: the same files give the same weights and threshold (full-batch L-BFGS from
zeros, seeded compositions, hash splits). Reads the dev files by path and never copies them.
Needs scipy (installed with great-expectations). Data and licences:

| source | rows used | licence |
|---|---|---|
| neuralchemy prompt-injection, validation split (`injection_dev/neuralchemy_val.csv`) | attacks (label 1); benign rows (label 0) of the training half | not stated (second-hand CSV export) |
| Tensor Trust hijacking attacks (`injection_dev/tensor_trust_hijacking.jsonl`), the `attack` field | all (attacks) | not stated (HumanCompatibleAI/tensor-trust-data) |
| in-the-wild jailbreak prompts, verazuo/jailbreak_llms 2023-05-07 (`injection_dev/jailbreak_prompts_2023_05_07.csv`) | all (attacks) | MIT |
| presidio-research synthetic sentences (`pii_dev/presidio_synth_dev.json`) | all, as benign text | MIT |
| `bench/data/benign_prompts.txt`, written by this project | benign, the training half | Apache-2.0 |
| `bench/benign_compositions.py`, written by this project | 3,000 composed benign prompts, training only | Apache-2.0 |

How (`train_detector`): class-balanced, L2-regularised logistic regression on L2-normalised
binary hashed n-gram features (`assay.detectors.injection_model`). The benign class's half of
the weight is shared by origin: half for the real benign prompts (neuralchemy's and the
project's hand-written ones), 0.3 for the composed ones, 0.1 for presidio's sentences and 0.1
for long benign texts made by joining several (attacks are long more often than benign
prompts, and the classifier must not learn length). Then the threshold: the classifier is
fitted ten more times, each without a tenth of the rows, to score the benign prompts it did
not see (out of fold); the threshold is the lowest probability (0.50 at least) at which it
flags at most `ADDED_FPR` of those the heuristics do not already flag. The heuristics flag
about 1% of benign prompts, so the detector's expected false-positive rate is about 2%.

The benign rows' training half is chosen by a hash of the text (`is_benign_heldout`);
`bench/detectors.py` measures the false-positive rate on the other half. Its
leave-one-source-out folds call `train_detector(..., without=source)`: the left-out source's
attacks and benign rows take no part in fitting or in choosing the threshold.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import optimize, sparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.detectors.injection_model import (  # noqa: E402
    DIMENSIONS,
    MODEL_PATH,
    InjectionModel,
    feature_indices,
    views,
)
from bench.benign_compositions import composed_benign  # noqa: E402

SOURCES = ("neuralchemy", "tensor_trust", "jailbreak_llms")
BENIGN_PROMPTS = REPO / "bench" / "data" / "benign_prompts.txt"
L2 = 1e-4
"""Regularisation per example (chosen before any leave-one-source-out figure was seen)."""
COMPOSED = 3_000
ADDED_FPR = 0.0075
"""False positives the classifier may add to the heuristics' own, on benign prompts it was not
fitted on: the heuristics take about 1% of the 2% the issue allows."""
MIN_THRESHOLD = 0.5
"""Never below even odds: under it the classifier itself finds benign more likely."""
CALIBRATION_FOLDS = 10
BENIGN_WEIGHTS = {"prompts": 0.5, "composed": 0.3, "presidio": 0.1, "long": 0.1}
"""Share of the benign class's weight per origin (see the module docstring)."""


def is_benign_heldout(text: str) -> bool:
    """The half of the benign rows kept out of training, for the false-positive rate."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 1


def _fold_of(text: str) -> int:
    return hashlib.sha256(text.encode("utf-8")).digest()[1] % CALIBRATION_FOLDS


def load_attacks_and_benign(fixtures: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Attacks per source, and benign texts per origin (neuralchemy, project, presidio)."""
    folder = fixtures / "injection_dev"
    with (folder / "neuralchemy_val.csv").open(encoding="utf-8", newline="") as f:
        neural = list(csv.DictReader(f))
    with (folder / "tensor_trust_hijacking.jsonl").open(encoding="utf-8") as f:
        tensor_trust = [json.loads(line)["attack"] for line in f if line.strip()]
    with (folder / "jailbreak_prompts_2023_05_07.csv").open(encoding="utf-8", newline="") as f:
        jailbreaks = [row["prompt"] for row in csv.DictReader(f)]
    attacks = {
        "neuralchemy": [r["text"] for r in neural if r["label"] == "1"],
        "tensor_trust": tensor_trust,
        "jailbreak_llms": jailbreaks,
    }
    presidio = [r["full_text"] for r in json.loads((fixtures / "pii_dev" / "presidio_synth_dev.json").read_text("utf-8"))]
    benign = {
        "neuralchemy": [r["text"] for r in neural if r["label"] == "0"],
        "project": project_benign_prompts(),
        "presidio": presidio,
    }
    return attacks, benign


def project_benign_prompts() -> list[str]:
    lines = BENIGN_PROMPTS.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\n", "\n") for line in lines if line.strip() and not line.startswith("#")]


def long_benign(texts: list[str], count: int = 400) -> list[str]:
    """Long benign texts made of several benign ones (a seeded draw): attacks in the dev
    sources are long and benign prompts short, and a classifier must not learn that length."""
    rng = random.Random(20)
    return ["\n\n".join(rng.sample(texts, rng.randint(3, 12))) for _ in range(count)]


def features(texts: list[str]) -> sparse.csr_matrix:
    """One row per text: its hashed n-grams, binary, L2-normalised (what the model scores)."""
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        idx = feature_indices(text)
        rows.append(np.full(idx.size, i))
        cols.append(idx)
        vals.append(np.full(idx.size, 1.0 / np.sqrt(max(idx.size, 1))))
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(texts), DIMENSIONS)
    )


def probabilities(model: InjectionModel, texts: list[str]) -> np.ndarray:
    """`model.probability` over many texts at once (the highest over each text's views)."""
    best = np.zeros(len(texts))
    for part in range(3):
        chosen = [(i, v[part]) for i, v in enumerate(map(views, texts)) if len(v) > part]
        if not chosen:
            break
        z = features([v for _, v in chosen]) @ model.weights.astype(np.float64) + model.bias
        index = np.array([i for i, _ in chosen])
        best[index] = np.maximum(best[index], 1.0 / (1.0 + np.exp(-z)))
    return best


def fit(attacks: list[str], benign: dict[str, list[str]]) -> InjectionModel:
    """Logistic regression; attacks weigh half, benign the other half shared by origin
    (`BENIGN_WEIGHTS`; `benign` maps prompts, composed and presidio to texts)."""
    groups = {**benign, "long": long_benign(benign["prompts"] + benign["composed"] + benign["presidio"])}
    texts = list(attacks)
    weights = [0.5 / len(attacks)] * len(attacks)
    for origin, share in BENIGN_WEIGHTS.items():
        texts += groups[origin]
        weights += [0.5 * share / len(groups[origin])] * len(groups[origin])
    x = features(texts)
    y = np.concatenate([np.ones(len(attacks)), np.zeros(len(texts) - len(attacks))])
    w = np.asarray(weights)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        coef, bias = params[:-1], params[-1]
        z = x @ coef + bias
        p = 1.0 / (1.0 + np.exp(-z))
        eps = 1e-12
        value = -np.sum(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) + 0.5 * L2 * coef @ coef
        residual = w * (p - y)
        grad = np.concatenate([x.T @ residual + L2 * coef, [residual.sum()]])
        return float(value), grad

    result = optimize.minimize(loss, np.zeros(DIMENSIONS + 1), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    # Round to the float16 the weights ship in, so the folds measure what would ship.
    return InjectionModel(result.x[:-1].astype(np.float16).astype(np.float32), float(result.x[-1]))


def calibrated_threshold(
    attacks: list[str], benign: dict[str, list[str]], flagged_by_heuristics: Callable[[str], bool]
) -> float:
    """The lowest threshold (>= `MIN_THRESHOLD`, in steps of 0.01) at which the classifier,
    scoring benign prompts out of fold, adds at most `ADDED_FPR` false positives to the
    heuristics'."""
    prompts = benign["prompts"]
    out_of_fold = np.zeros(len(prompts))
    folds = np.array([_fold_of(t) for t in prompts])
    for k in range(CALIBRATION_FOLDS):
        model = fit(
            [t for t in attacks if _fold_of(t) != k],
            {origin: [t for t in texts if _fold_of(t) != k] for origin, texts in benign.items()},
        )
        held = [t for t, fold in zip(prompts, folds, strict=True) if fold == k]
        if held:
            out_of_fold[folds == k] = probabilities(model, held)
    unflagged = np.array([not flagged_by_heuristics(t) for t in prompts])
    for threshold in np.arange(MIN_THRESHOLD, 1.0, 0.01):
        if np.mean(unflagged & (out_of_fold >= threshold)) <= ADDED_FPR:
            return round(float(threshold), 2)
    return 1.0


def training_set(
    attacks: dict[str, list[str]], benign: dict[str, list[str]], *, without: str | None = None
) -> tuple[list[str], dict[str, list[str]]]:
    """Attacks of every source but `without`; benign: the training halves of neuralchemy's rows
    (unless it is left out) and of the project's prompts, the composed prompts and presidio's
    sentences."""
    chosen = [t for source in SOURCES if source != without for t in attacks[source]]
    prompts = [
        t for origin in ("neuralchemy", "project") if origin != without for t in benign[origin] if not is_benign_heldout(t)
    ]
    return chosen, {"prompts": prompts, "composed": composed_benign(COMPOSED), "presidio": benign["presidio"]}


def train_detector(
    attacks: dict[str, list[str]],
    benign: dict[str, list[str]],
    flagged_by_heuristics: Callable[[str], bool],
    *,
    without: str | None = None,
) -> InjectionModel:
    """The classifier and its threshold, from every source but `without`."""
    chosen, groups = training_set(attacks, benign, without=without)
    model = fit(chosen, groups)
    threshold = calibrated_threshold(chosen, groups, flagged_by_heuristics)
    return InjectionModel(model.weights, model.bias, threshold)


def main(argv: list[str] | None = None) -> int:
    from assay.detectors.injection import find_injection_signals, injection_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    if not (args.fixtures / "injection_dev" / "neuralchemy_val.csv").is_file():
        print(f"train_injection_model: dev data not found under {args.fixtures} (pass --fixtures DIR)", file=sys.stderr)
        return 2
    attacks, benign = load_attacks_and_benign(args.fixtures)
    model = train_detector(
        attacks, benign, lambda text: injection_score(find_injection_signals(text, model=None)) >= 0.5
    )
    chosen, groups = training_set(attacks, benign)
    rows = f"{len(chosen)} attacks, " + ", ".join(f"{len(texts)} benign {origin}" for origin, texts in groups.items())
    sources = (
        "attacks: neuralchemy_val.csv label 1 (licence not stated), tensor_trust_hijacking.jsonl "
        "(licence not stated), jailbreak_prompts_2023_05_07.csv (MIT); benign: neuralchemy label 0 and "
        "bench/data/benign_prompts.txt (Apache-2.0), training halves, bench/benign_compositions.py "
        "(Apache-2.0), presidio_synth_dev.json (MIT)"
    )
    model.save(args.out, sources=np.array(sources), rows=np.array(rows))
    print(f"wrote {args.out}: {rows}; threshold {model.threshold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
