"""Near-duplicate grouping: MinHash signatures over word shingles, LSH banding, exact check.

Exact dedupe (a hash of the normalised input) already merges inputs that differ only in case
and whitespace. This merges inputs that differ by a word or two ("Hi, how long do refunds
take?" and "how long do refunds take? thanks"): one regression case per question, not one per
phrasing.

Deterministic by construction: shingles are hashed with blake2b (not Python's salted
`hash`), and the MinHash permutations come from a fixed seed, so the same texts give the same
groups on every run and machine. LSH banding only proposes candidates; a candidate joins a
group when the exact Jaccard similarity of the shingle sets is at least the threshold, so the
signature's estimation error never merges two cases that are not similar enough.

Grouping is greedy against representatives: items are taken in the caller's order (earliest
first) and each joins the first earlier representative it is similar to, else it becomes a
representative. Comparing with representatives only (never with other members) keeps groups
from drifting by chains of small edits, and keeps the work near-linear: the band buckets hold
only representatives, which are mutually dissimilar.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

NUM_PERMUTATIONS = 128
BANDS = 32
"""32 bands of 4 rows: a pair with Jaccard 0.8 is proposed with probability > 0.9999, one
with 0.5 still ~0.87 (then rejected by the exact check), so thresholds down to ~0.5 work."""
SHINGLE_WORDS = 3
SEED = 20261122

_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_WORD = re.compile(r"\w+")

_rng = np.random.RandomState(SEED)
_A = _rng.randint(1, (1 << 32) - 1, size=NUM_PERMUTATIONS, dtype=np.uint64)
_B = _rng.randint(0, (1 << 32) - 1, size=NUM_PERMUTATIONS, dtype=np.uint64)


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[int]:
    """32-bit hashes of the word `size`-grams of the lower-cased text (a shorter text is one
    shingle, so it still has a signature)."""
    words = _WORD.findall(text.lower())
    if not words:
        return frozenset()
    grams = [" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))]
    return frozenset(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams)


def signature(shingle_set: frozenset[int]) -> np.ndarray:
    """MinHash signature: per permutation (a*x + b mod p, 32 bits), the minimum over shingles."""
    if not shingle_set:
        return np.full(NUM_PERMUTATIONS, _MAX_HASH, dtype=np.uint64)
    values = np.fromiter(shingle_set, dtype=np.uint64, count=len(shingle_set))
    # a, x < 2^32, so a*x + b < 2^64: no overflow before the modulus.
    hashed = (np.outer(values, _A) + _B) % _MERSENNE_PRIME & _MAX_HASH
    return hashed.min(axis=0)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def group_near_duplicates(texts: Sequence[str], threshold: float, keys: Sequence[str] | None = None) -> list[int]:
    """For each text, the index of its group's representative (itself when it starts a group).

    `texts` must come in the order that decides representatives (earliest first). Texts only
    group with texts of the same `key` (e.g. the feature), when keys are given.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    rows = NUM_PERMUTATIONS // BANDS
    shingle_sets = [shingles(t) for t in texts]
    representative_of: list[int] = []
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for index, shingle_set in enumerate(shingle_sets):
        key = keys[index] if keys is not None else ""
        sig = signature(shingle_set)
        band_keys = [(key, band, sig[band * rows : (band + 1) * rows].tobytes()) for band in range(BANDS)]
        candidates = sorted({rep for band_key in band_keys for rep in buckets.get(band_key, ())})
        match = next((rep for rep in candidates if jaccard(shingle_set, shingle_sets[rep]) >= threshold), None)
        if match is None:
            representative_of.append(index)
            for band_key in band_keys:
                buckets[band_key].append(index)
        else:
            representative_of.append(match)
    return representative_of
