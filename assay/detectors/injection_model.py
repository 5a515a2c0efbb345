"""A compact prompt-injection classifier: hashed word and character n-grams, logistic regression.

It adds what the heuristics of `assay.detectors.injection` cannot list: the vocabulary of
attacks that never say "ignore previous instructions" (game hijacks that dictate the reply,
role-play set-ups, extraction requests phrased as tasks, long jailbreak preambles). Pure numpy
at run time, offline: the weights ship beside this module (`injection_model.npz`, 2^17 float16
weights, about 200 KiB) with the probability threshold they were calibrated at.

Training: `bench/train_injection_model.py` (deterministic, from the dev files by path). Data
and licences are recorded in the weights file's `sources` entry and in docs/evaluators.md:
attacks from the neuralchemy prompt-injection validation split (licence not stated), Tensor
Trust hijacking attacks (HumanCompatibleAI/tensor-trust-data, licence not stated) and
in-the-wild jailbreak prompts (verazuo/jailbreak_llms, MIT); benign text from neuralchemy's
benign rows, presidio-research synthetic sentences (MIT) and prompts the project wrote
(`bench/data/benign_prompts.txt`, `bench/benign_compositions.py`).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DIMENSIONS = 2**17
MAX_CHARS = 6_000
"""Head of the text featurised (and its last 1,000 characters, where a payload often sits)."""
SEGMENT_CHARS = 400
"""A longer text is also scored on its first and its last 400 characters, and the highest
probability counts: an instruction at either end of a long padded prompt is not drowned by
the rest (an L2-normalised vector of thousands of n-grams)."""
MODEL_PATH = Path(__file__).with_name("injection_model.npz")

_WORD = re.compile(r"\w+")


def _grams(text: str) -> list[str]:
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1000] + " " + text[-1000:]
    text = unicodedata.normalize("NFKC", text).casefold()
    words = _WORD.findall(text)
    grams = ["w:" + w for w in words]
    grams += ["b:" + a + " " + b for a, b in zip(words, words[1:], strict=False)]
    # Character 4-grams over the text with runs of spaces squeezed: spelling tricks,
    # languages without spaces, punctuation frames ("%%% end", "[system]").
    squeezed = " ".join(text.split())
    grams += ["c:" + squeezed[i : i + 4] for i in range(max(0, len(squeezed) - 3))]
    return grams


def feature_indices(text: str) -> np.ndarray:
    """Sorted distinct hashed feature indices of `text` (CRC-32: stable across processes)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.fromiter((zlib.crc32(g.encode("utf-8")) % DIMENSIONS for g in _grams(text)), dtype=np.int64))


def views(text: str) -> list[str]:
    """What is scored: the text, and for a long one its head and its tail (`SEGMENT_CHARS`)."""
    if len(text) <= SEGMENT_CHARS:
        return [text]
    return [text, text[:SEGMENT_CHARS], text[-SEGMENT_CHARS:]]


@dataclass(frozen=True)
class InjectionModel:
    weights: np.ndarray
    bias: float
    threshold: float = 0.5
    """The probability from which the classifier counts as a signal: calibrated at training on
    benign prompts the model was not fitted on (`bench/train_injection_model.py`)."""

    def view_probability(self, text: str) -> float:
        """P(attack) for `text` as one view: each present feature counts once, the vector
        L2-normalised."""
        indices = feature_indices(text)
        if indices.size == 0:
            return 0.0
        z = float(self.weights[indices].astype(np.float64).sum()) / np.sqrt(indices.size) + self.bias
        return float(1.0 / (1.0 + np.exp(-z)))

    def probability(self, text: str) -> float:
        """The highest P(attack) over the text's `views`."""
        return max(self.view_probability(view) for view in views(text))

    def save(self, path: Path, **metadata: str) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=np.float64(self.bias),
            threshold=np.float64(self.threshold),
            **metadata,
        )

    @classmethod
    def load(cls, path: Path) -> InjectionModel:
        with np.load(path) as data:
            return cls(data["weights"].astype(np.float32), float(data["bias"]), float(data["threshold"]))


@lru_cache(maxsize=1)
def shipped_model() -> InjectionModel:
    """The weights in the package (read once per process)."""
    if not MODEL_PATH.is_file():
        raise FileNotFoundError(
            f"{MODEL_PATH} is missing: the package was installed without its data files "
            "(rebuild it, or run bench/train_injection_model.py)"
        )
    return InjectionModel.load(MODEL_PATH)
