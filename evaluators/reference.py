"""Reference-based evaluators: how close the output is to the expected output.

Each evaluator is a thin class that reads `output_text` and `expected_output`, computes a
metric of `assay.evaluators.similarity` (pure functions of two strings, similarity in [0, 1]) and
passes when the similarity is at least `threshold`. The value is always the similarity, so a
dashboard can chart drift as well as the pass rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from assay.evaluators.base import DeterministicEvaluator, Subject, check_share
from assay.evaluators.similarity import (
    MAX_JARO_CHARS,
    _chars,
    bleu,
    cosine,
    cosine_of_vectors,
    exact_match,
    hashing_embedding,
    jaccard,
    jaro_winkler,
    levenshtein_similarity,
    rouge_l,
    sorensen_dice,
    token_f1,
)

from assay.contracts.score import Score

# ----------------------------------------------------------------------------- evaluators


@dataclass(kw_only=True)
class _ReferenceMetric(DeterministicEvaluator):
    """Shared shape: similarity of `output_text` to `expected_output`, passed at >= threshold."""

    kind: ClassVar[str] = "reference"
    output: ClassVar[str] = "pass/fail + similarity 0-1"
    default_threshold: ClassVar[float] = 0.5

    threshold: float | None = None
    failure_category: str | None = "reasoning_error"
    required_fields: tuple[str, ...] = ("output_text", "expected_output")

    def __post_init__(self) -> None:
        if self.threshold is None:
            self.threshold = self.default_threshold
        check_share(self.metric, "threshold", self.threshold)
        self.threshold = float(self.threshold)

    def similarity(self, prediction: str, reference: str) -> float:
        raise NotImplementedError

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        prediction, reference = (
            str(subject["output_text"]),
            _reference_text(subject["expected_output"]),
        )
        value = self.similarity(prediction, reference)
        passed = value >= self.threshold  # type: ignore[operator]
        relation = ">=" if passed else "<"
        return passed, value, f"{self.metric} {value:.3f} {relation} threshold {self.threshold:g}"


def _reference_text(expected: Any) -> str:
    """`expected_output` as text: a case may store a JSON value; it is compared as JSON text."""
    if isinstance(expected, str):
        return expected
    return json.dumps(expected, ensure_ascii=False, sort_keys=True)


@dataclass(kw_only=True)
class ExactMatch(_ReferenceMetric):
    """The output equals the expected output after SQuAD normalisation (casefold, no
    punctuation, no articles, collapsed whitespace).

    The value is 1.0 or 0.0; `threshold` (default 1.0) is accepted for uniformity only.
    """

    example: ClassVar[dict[str, Any]] = {}
    default_threshold: ClassVar[float] = 1.0
    metric: str = "exact_match"

    def similarity(self, prediction: str, reference: str) -> float:
        return exact_match(prediction, reference)


@dataclass(kw_only=True)
class TokenF1(_ReferenceMetric):
    """Token-overlap F1 of the output against the expected output, SQuAD style.

    Precision and recall of the normalised tokens' multiset overlap. Default threshold 0.5: at
    least half the answer tokens agree, in both directions on average.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.5}
    metric: str = "token_f1"

    def similarity(self, prediction: str, reference: str) -> float:
        return token_f1(prediction, reference)


@dataclass(kw_only=True)
class RougeL(_ReferenceMetric):
    """ROUGE-L F-measure of the output against the expected output (longest common
    subsequence of words).

    Rewards the reference's words appearing in the same order, not necessarily contiguous.
    Default threshold 0.5.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.5}
    metric: str = "rouge_l"

    def similarity(self, prediction: str, reference: str) -> float:
        return rouge_l(prediction, reference)


@dataclass(kw_only=True)
class Bleu(_ReferenceMetric):
    """Sentence BLEU-4 of the output against the expected output, with Chen & Cherry method-1
    smoothing (epsilon 0.1 for an n-gram order with no match).

    Casefolded word and punctuation tokens, one reference, brevity penalty. Sentence BLEU is
    harsh on paraphrase, so the default threshold is 0.3.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.3}
    default_threshold: ClassVar[float] = 0.3
    metric: str = "bleu"

    def similarity(self, prediction: str, reference: str) -> float:
        return bleu(prediction, reference)


@dataclass(kw_only=True)
class _CharMetric(_ReferenceMetric):
    ignore_case: bool = True


@dataclass(kw_only=True)
class Levenshtein(_CharMetric):
    """Normalised Levenshtein similarity of the output to the expected output: 1 - edit
    distance / length of the longer text, on characters.

    Whitespace is collapsed; case is ignored unless `ignore_case: false`. Texts are cut to
    20,000 characters. Default threshold 0.8.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.8}
    default_threshold: ClassVar[float] = 0.8
    metric: str = "levenshtein"

    def similarity(self, prediction: str, reference: str) -> float:
        return levenshtein_similarity(
            _chars(prediction, self.ignore_case), _chars(reference, self.ignore_case)
        )


@dataclass(kw_only=True)
class JaroWinkler(_CharMetric):
    """Jaro-Winkler similarity of the output to the expected output, on characters.

    Built for short strings (names, codes, single-entity answers): it favours a shared prefix.
    Whitespace is collapsed; case is ignored unless `ignore_case: false`; texts are cut to
    1,000 characters. Default threshold 0.9.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.9}
    default_threshold: ClassVar[float] = 0.9
    metric: str = "jaro_winkler"

    def similarity(self, prediction: str, reference: str) -> float:
        return jaro_winkler(
            _chars(prediction, self.ignore_case)[:MAX_JARO_CHARS],
            _chars(reference, self.ignore_case)[:MAX_JARO_CHARS],
        )


@dataclass(kw_only=True)
class Jaccard(_ReferenceMetric):
    """Jaccard similarity of the output's and the expected output's sets of words.

    Order and repetition are ignored. Default threshold 0.5.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.5}
    metric: str = "jaccard"

    def similarity(self, prediction: str, reference: str) -> float:
        return jaccard(prediction, reference)


@dataclass(kw_only=True)
class SorensenDice(_ReferenceMetric):
    """Sørensen-Dice similarity of the output and the expected output.

    `unit: tokens` (default) compares the sets of words; `unit: char_bigrams` compares the
    multisets of character bigrams, which tolerates typos and inflected forms ("colour" vs
    "color"). Default threshold 0.5.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.5, "unit": "tokens"}
    metric: str = "sorensen_dice"
    unit: Literal["tokens", "char_bigrams"] = "tokens"
    ignore_case: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unit not in ("tokens", "char_bigrams"):
            raise ValueError(
                f"sorensen_dice: `unit` must be tokens or char_bigrams, got {self.unit!r}"
            )

    def similarity(self, prediction: str, reference: str) -> float:
        return sorensen_dice(prediction, reference, self.unit, self.ignore_case)


@dataclass(kw_only=True)
class Cosine(_ReferenceMetric):
    """Cosine similarity of the output's and the expected output's bag-of-words vectors.

    Term counts, no weighting: repetition counts, order does not. Default threshold 0.7.
    """

    example: ClassVar[dict[str, Any]] = {"threshold": 0.7}
    default_threshold: ClassVar[float] = 0.7
    metric: str = "cosine"

    def similarity(self, prediction: str, reference: str) -> float:
        return cosine(prediction, reference)


LOCAL_HASHING_MODEL = "local/hashing"


def _get(item: Any, key: str) -> Any:
    """A field of one embedding in a litellm response (a dict or an object, by version)."""
    return item[key] if isinstance(item, dict) else getattr(item, key)


@dataclass(kw_only=True)
class EmbeddingSimilarity(_ReferenceMetric):
    """Cosine similarity of the output's and the expected output's embeddings.

    `model` is a litellm embedding model (`openai/text-embedding-3-small`, `ollama/...`,
    with `api_base` for a self-hosted server); the call goes through `litellm.embedding`, so
    it needs the provider and its key. The default `local/hashing` needs nothing: hashed
    character-trigram vectors (see `hashing_embedding`), deterministic and offline, measuring
    spelling overlap rather than meaning. A negative cosine counts as 0. A provider failure is an `error` score, never a
    pass. Embeddings are cached per instance, so a reference shared by many subjects is
    embedded once. Default threshold 0.8.
    """

    example: ClassVar[dict[str, Any]] = {"model": LOCAL_HASHING_MODEL, "threshold": 0.8}
    default_threshold: ClassVar[float] = 0.8
    metric: str = "embedding_similarity"
    model: str = LOCAL_HASHING_MODEL
    api_base: str | None = None
    timeout_s: float = 30.0
    cache_size: int = 10_000
    _cache: dict[str, list[float]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("embedding_similarity: `model` must be a non-empty model name")
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or self.timeout_s <= 0
        ):
            raise ValueError(
                f"embedding_similarity: `timeout_s` must be > 0, got {self.timeout_s!r}"
            )
        if (
            isinstance(self.cache_size, bool)
            or not isinstance(self.cache_size, int)
            or self.cache_size < 2
        ):
            raise ValueError(
                f"embedding_similarity: `cache_size` must be an integer >= 2, got {self.cache_size!r}"
            )

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Vectors for `texts`, from the cache where possible, else in one provider call."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            if self.model == LOCAL_HASHING_MODEL:
                vectors = [hashing_embedding(t) for t in todo]
            else:
                import litellm  # lazily: `import assay.evaluators` must not pull in litellm

                kwargs: dict[str, Any] = {"timeout": self.timeout_s}
                if self.api_base:
                    kwargs["api_base"] = self.api_base
                response = litellm.embedding(model=self.model, input=todo, **kwargs)
                data = sorted(response.data, key=lambda d: _get(d, "index"))
                vectors = [list(map(float, _get(d, "embedding"))) for d in data]
                if len(vectors) != len(todo):
                    raise ValueError(
                        f"provider returned {len(vectors)} embeddings for {len(todo)} texts"
                    )
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            self._cache.update(zip(todo, vectors, strict=True))
        return [self._cache[t] for t in texts]

    def similarity(self, prediction: str, reference: str) -> float:
        a, b = self.embed([prediction, reference])
        return max(0.0, min(1.0, cosine_of_vectors(a, b)))

    def evaluate(self, subject: Subject) -> list[Score]:
        try:
            return super().evaluate(subject)
        except Exception as exc:  # provider down, bad key, timeout: an error score, not a crash
            return [
                self.score(
                    subject,
                    status="error",
                    explanation=f"embedding model {self.model!r} failed: {type(exc).__name__}: {exc}"[
                        :500
                    ],
                )
            ]
