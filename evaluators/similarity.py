"""String similarity metrics: pure functions of two strings returning a similarity in [0, 1]
(the reference-based evaluators of `assay.evaluators.reference` are thin classes over them).

Text preparation, per metric family (each function says which it uses):
- `normalize_answer` (SQuAD): casefold, drop punctuation, drop the English articles a/an/the,
  collapse whitespace. Used by exact_match and token_f1, as in the SQuAD evaluation script.
- `words`: casefolded `\\w+` runs (punctuation dropped, articles kept). Used by rouge_l,
  jaccard, sorensen_dice (tokens), cosine.
- `bleu_tokens`: casefolded `\\w+` runs and single punctuation marks, each a token (BLEU
  tokenisers split punctuation off rather than dropping it).
- character metrics (levenshtein, jaro_winkler, sorensen_dice with char bigrams): the text with
  whitespace collapsed and stripped, casefolded unless `ignore_case: false`.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, Literal

MAX_METRIC_CHARS = 20_000
"""Both texts are cut to this many characters before LCS or Levenshtein (bit-parallel, so
still fast at this size): bounded work per subject whatever the model produced."""
MAX_JARO_CHARS = 1_000
"""Jaro's matching window grows with the length (O(n^2) overall); it is a short-string
measure anyway, so longer texts are cut to this many characters."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WORD = re.compile(r"\w+")
_BLEU_TOKEN = re.compile(r"\w+|[^\w\s]")


# ----------------------------------------------------------------------- text preparation


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: casefold, remove punctuation, remove articles, collapse spaces."""
    text = "".join(ch for ch in text.casefold() if not _is_punctuation(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Casefolded word tokens (`\\w+`), punctuation dropped."""
    return _WORD.findall(text.casefold())


def bleu_tokens(text: str) -> list[str]:
    """Casefolded words plus each punctuation mark as its own token."""
    return _BLEU_TOKEN.findall(text.casefold())


def _chars(text: str, ignore_case: bool) -> str:
    text = " ".join(text.split())[:MAX_METRIC_CHARS]
    return text.casefold() if ignore_case else text


# -------------------------------------------------------------------------------- metrics


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the SQuAD-normalised strings are equal, else 0.0."""
    return 1.0 if normalize_answer(prediction) == normalize_answer(reference) else 0.0


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: harmonic mean of precision and recall of the normalised tokens'
    multiset overlap. Two empty texts score 1.0; one empty text scores 0.0."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    overlap = sum((Counter(pred) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def _position_masks(seq: Sequence[Hashable]) -> dict[Hashable, int]:
    """For each symbol, a bit mask of the positions where it occurs in `seq`."""
    masks: dict[Hashable, int] = {}
    for i, item in enumerate(seq):
        masks[item] = masks.get(item, 0) | (1 << i)
    return masks


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyrö): one
    big-integer add per element of `a`. Measured: 20,000 x 20,000 tokens in 0.1 s, where
    the textbook table took 0.8 s for 2,000 x 2,000 (and grows with the square). `lcs_length_table` is the
    reference it is tested against."""
    if not a or not b:
        return 0
    masks = _position_masks(b)
    full = (1 << len(b)) - 1
    row = full
    for item in a:
        matches = row & masks.get(item, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(b) - row.bit_count()


def lcs_length_table(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The O(n*m) dynamic programme: slow, obviously right; the tests' reference."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) over word tokens: LCS / len for precision and recall."""
    pred = words(prediction[:MAX_METRIC_CHARS])
    ref = words(reference[:MAX_METRIC_CHARS])
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


BLEU_EPSILON = 0.1
"""Smoothing: Chen & Cherry (2014) method 1, as NLTK's `SmoothingFunction().method1`: an
n-gram order with no match counts `epsilon / total` instead of 0, so one missing 4-gram does
not zero the whole sentence score."""


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(prediction: str, reference: str, max_n: int = 4) -> float:
    """Sentence BLEU-4 against one reference: uniform weights, clipped n-gram precision,
    brevity penalty exp(1 - r/c) when the output is shorter, method-1 smoothing."""
    pred, ref = bleu_tokens(prediction), bleu_tokens(reference)
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        pred_ngrams, ref_ngrams = _ngrams(pred, n), _ngrams(ref, n)
        total = sum(pred_ngrams.values())
        if total == 0:  # output shorter than n tokens: nothing to smooth against
            return 0.0
        matches = sum((pred_ngrams & ref_ngrams).values())
        log_sum += math.log((matches or BLEU_EPSILON) / total)
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * math.exp(log_sum / max_n)


def levenshtein_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Edit distance (insert, delete, substitute, each cost 1), bit-parallel (Myers 1999 in
    Hyyrö's formulation): one pass over `b` with big-integer operations on len(a) bits.
    Measured: 0.2 s for two 20,000-character texts.
    `levenshtein_distance_table` is the reference it is tested against."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    masks = _position_masks(a)
    full = (1 << len(a)) - 1
    last = 1 << (len(a) - 1)
    plus, minus, distance = full, 0, len(a)  # vertical +1 / -1 deltas of the current column
    for item in b:
        eq = masks.get(item, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        h_plus = (minus | ~(xh | plus)) & full
        h_minus = plus & xh
        if h_plus & last:
            distance += 1
        elif h_minus & last:
            distance -= 1
        h_plus = ((h_plus << 1) | 1) & full
        h_minus = (h_minus << 1) & full
        plus = (h_minus | ~(xv | h_plus)) & full
        minus = h_plus & xv
    return distance


def levenshtein_distance_table(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The O(n*m) dynamic programme: the tests' reference for `levenshtein_distance`."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def levenshtein_similarity(a: str, b: str) -> float:
    """1 - distance / length of the longer string (two empty strings: 1.0)."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein_distance(a, b) / longest


def jaro(a: str, b: str) -> float:
    """Jaro similarity: matches within a window of max(len)/2 - 1, half-transpositions."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    a_matched, b_matched = [False] * len(a), [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_matched[j] and b[j] == ch:
                a_matched[i] = b_matched[j] = True
                matches += 1
                break
    if matches == 0:
        return 0.0
    a_seq = [ch for ch, m in zip(a, a_matched, strict=True) if m]
    b_seq = [ch for ch, m in zip(b, b_matched, strict=True) if m]
    transpositions = sum(x != y for x, y in zip(a_seq, b_seq, strict=True)) / 2
    return (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1, max_prefix: int = 4) -> float:
    """Jaro similarity boosted by the common prefix (up to 4 chars, scale 0.1: Winkler's)."""
    similarity = jaro(a, b)
    prefix = 0
    for x, y in zip(a[:max_prefix], b[:max_prefix], strict=False):
        if x != y:
            break
        prefix += 1
    return similarity + prefix * prefix_scale * (1 - similarity)


def jaccard(prediction: str, reference: str) -> float:
    """|A ∩ B| / |A ∪ B| over the two sets of word tokens (two empty texts: 1.0)."""
    a, b = set(words(prediction)), set(words(reference))
    return 1.0 if not a | b else len(a & b) / len(a | b)


def char_bigrams(text: str) -> Counter[str]:
    """Multiset of adjacent character pairs (a one-character text is its own bigram)."""
    if len(text) < 2:
        return Counter([text]) if text else Counter()
    return Counter(text[i : i + 2] for i in range(len(text) - 1))


def sorensen_dice(
    prediction: str,
    reference: str,
    unit: Literal["tokens", "char_bigrams"] = "tokens",
    ignore_case: bool = True,
) -> float:
    """2|A ∩ B| / (|A| + |B|). `tokens`: sets of word tokens (like jaccard, but weighting the
    overlap twice). `char_bigrams`: multisets of character bigrams of the whitespace-collapsed
    text, the classic string-similarity form, which tolerates typos and inflections."""
    if unit == "tokens":
        a_set, b_set = set(words(prediction)), set(words(reference))
        total = len(a_set) + len(b_set)
        return 1.0 if total == 0 else 2 * len(a_set & b_set) / total
    a, b = (
        char_bigrams(_chars(prediction, ignore_case)),
        char_bigrams(_chars(reference, ignore_case)),
    )
    total = sum(a.values()) + sum(b.values())
    return 1.0 if total == 0 else 2 * sum((a & b).values()) / total


def _cosine_of_counts(a: Counter[Any], b: Counter[Any]) -> float:
    dot = sum(count * b[key] for key, count in a.items() if key in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return 0.0 if norm == 0 else dot / norm


def cosine(prediction: str, reference: str) -> float:
    """Cosine of the two bag-of-words term-count vectors (two empty texts: 1.0)."""
    a, b = Counter(words(prediction)), Counter(words(reference))
    if not a or not b:
        return 1.0 if a == b else 0.0
    return _cosine_of_counts(a, b)


def cosine_of_vectors(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        raise ValueError(f"embedding dimensions differ: {len(a)} vs {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 0.0 if norm == 0 else dot / norm


HASHING_DIMENSIONS = 512
HASHING_NGRAM_CHARS = 3


def hashing_embedding(text: str, dimensions: int = HASHING_DIMENSIONS) -> list[float]:
    """The offline `local/hashing` embedding: character trigrams of the casefolded,
    whitespace-collapsed text padded with one space each side, each hashed (blake2b, stable
    across processes, unlike `hash()`) to one of `dimensions` buckets with a hashed sign.

    It measures surface overlap (shared spellings), not meaning: "car" and "automobile" are
    far apart. It is there so the evaluator runs, deterministically, with no provider."""
    padded = f" {' '.join(text.casefold().split())} "
    vector = [0.0] * dimensions
    for i in range(len(padded) - HASHING_NGRAM_CHARS + 1):
        digest = hashlib.blake2b(
            padded[i : i + HASHING_NGRAM_CHARS].encode(), digest_size=8
        ).digest()
        bucket = int.from_bytes(digest[:4], "little") % dimensions
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    return vector
