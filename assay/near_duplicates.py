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
from collections.abc import Sequence
from itertools import chain

import numpy as np

NUM_PERMUTATIONS = 252
BANDS = 42
"""42 bands of 6 rows: a pair with Jaccard 0.8 is proposed with probability > 0.9999, 0.7
with 0.995, 0.6 with 0.87: thresholds from ~0.7 up lose (almost) nothing. Templated inputs
one order number apart (Jaccard ~0.55) share ~1.4 bands a pair instead of ~7 with 4-row
bands, which keeps the candidate lists short at 50k failures."""
SHINGLE_WORDS = 3
ESTIMATE_MARGIN = 0.1
"""How far below the threshold a candidate's MinHash estimate may be and still get the exact
check: 4 standard deviations of the estimate at Jaccard 0.8 (0.025 at 252 permutations)."""
SEED = 20261122

_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_WORD = re.compile(r"\w+")

_rng = np.random.RandomState(SEED)
_A = _rng.randint(1, (1 << 32) - 1, size=NUM_PERMUTATIONS, dtype=np.uint64)
_B = _rng.randint(0, (1 << 32) - 1, size=NUM_PERMUTATIONS, dtype=np.uint64)
_BAND_MULTIPLIERS = _rng.randint(1, (1 << 62), size=NUM_PERMUTATIONS // BANDS, dtype=np.uint64) | np.uint64(1)


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


def signatures_of(shingle_sets: Sequence[frozenset[int]], chunk: int = 2048) -> np.ndarray:
    """`signature` of every set, vectorised over chunks of sets (one reduceat per chunk)."""
    out = np.full((len(shingle_sets), NUM_PERMUTATIONS), _MAX_HASH, dtype=np.uint64)
    for start in range(0, len(shingle_sets), chunk):
        part = [(i, s) for i, s in enumerate(shingle_sets[start : start + chunk], start) if s]
        if not part:
            continue
        values = np.fromiter((x for _, s in part for x in s), dtype=np.uint64)
        offsets = np.cumsum([0] + [len(s) for _, s in part[:-1]])
        hashed = (values[:, None] * _A + _B) % _MERSENNE_PRIME & _MAX_HASH
        out[[i for i, _ in part]] = np.minimum.reduceat(hashed, offsets, axis=0)
    return out


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
    count = len(texts)
    shingle_sets = [shingles(t) for t in texts]
    signatures = signatures_of(shingle_sets)
    # One 64-bit hash per (item, band) from the band's rows, the key folded in, computed for
    # all items at once (uint64 arithmetic wraps). A hash collision only adds a candidate,
    # which the exact check then rejects.
    key_hashes = np.array(
        [_hash64(keys[i] if keys is not None else "") for i in range(count)], dtype=np.uint64
    ).reshape(count, 1)
    band_hashes = (signatures.reshape(count, BANDS, rows) * _BAND_MULTIPLIERS).sum(axis=2, dtype=np.uint64) ^ key_hashes
    buckets: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
    representative_of: list[int] = []
    for index, band_row in enumerate(band_hashes.tolist()):
        hits = [h for h in map(dict.get, buckets, band_row) if h]
        match = None
        if hits:
            candidates = np.unique(np.fromiter(chain.from_iterable(hits), dtype=np.int64))
            # Templated inputs (one order number apart) collide in some bands without being
            # near-duplicates; the signature's agreement estimates Jaccard in one vectorised
            # step, and only plausible candidates get the exact check. The margin is 4
            # standard deviations of the estimate, so a true match is (almost) never lost.
            estimate = (signatures[candidates] == signatures[index]).mean(axis=1)
            plausible = candidates[estimate >= threshold - ESTIMATE_MARGIN].tolist()
            match = next((rep for rep in plausible if jaccard(shingle_sets[index], shingle_sets[rep]) >= threshold), None)
        if match is None:
            representative_of.append(index)
            for bucket, value in zip(buckets, band_row, strict=True):
                bucket.setdefault(value, []).append(index)
        else:
            representative_of.append(match)
    return representative_of


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
