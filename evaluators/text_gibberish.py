"""The `not_gibberish` evaluator: heuristics that tell language from keyboard mashing,
character runs, symbol soup and degenerate loops (`gibberish_signals`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from assay.evaluators.base import Subject, check_share
from assay.evaluators.evidence import DetailedEvaluator, Finding
from assay.evaluators.text import MAX_SEARCH_CHARS

from assay.detectors.degenerate import degenerate_flags

_LATIN_WORD = re.compile(r"[a-zà-öø-ÿ]+")
_VOWELS = frozenset("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")
_KEYBOARD_ROWS = (
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
)
_KEYBOARD_RUNS = frozenset(
    row[i : i + 5] for r in _KEYBOARD_ROWS for row in (r, r[::-1]) for i in range(len(row) - 4)
)
"""Five keys in a row on a QWERTY/QWERTZ/AZERTY row, either direction: no word of the
profiled languages contains one; mashed keys often do."""
_CONSONANT_RUN = re.compile(r"[b-df-hj-np-tv-xz]{6,}")
"""Six consonants in a row (y counts as a vowel): English words top out at five
("strengths": ngths); a German compound can exceed it, but one word in many does not matter."""


@dataclass(frozen=True)
class GibberishSignals:
    """Each heuristic as a health score in [0, 1] (1 = looks like language), plus what it saw."""

    vowel_ratio: float | None
    vowel_health: float
    repeated_char_share: float
    repeated_char_health: float
    mashed_word_share: float
    mashing_health: float
    repeated_trigram_share: float
    repetition_health: float
    wordlike_share: float | None
    wordlike_health: float
    alnum_share: float | None
    symbol_health: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v, 4)) for k, v in asdict(self).items()}

    @property
    def value(self) -> float:
        """The weakest signal: one clearly broken property is enough to call text gibberish."""
        return min(
            self.vowel_health,
            self.repeated_char_health,
            self.mashing_health,
            self.repetition_health,
            self.wordlike_health,
            self.symbol_health,
        )

    def weakest(self, limit: int = 3) -> list[str]:
        named = {
            "vowel ratio": (self.vowel_health, self.vowel_ratio),
            "repeated characters": (self.repeated_char_health, self.repeated_char_share),
            "keyboard mashing": (self.mashing_health, self.mashed_word_share),
            "repeated phrases": (self.repetition_health, self.repeated_trigram_share),
            "word-like tokens": (self.wordlike_health, self.wordlike_share),
            "letters and digits": (self.symbol_health, self.alnum_share),
        }
        ranked = sorted(named.items(), key=lambda kv: kv[1][0])
        return [
            f"{k} {raw:.2f} (health {h:.2f})"
            for k, (h, raw) in ranked[:limit]
            if h < 1 and raw is not None
        ]


def _ramp(x: float, zero_at: float, one_at: float) -> float:
    """Linear from 0 at `zero_at` to 1 at `one_at`, clamped (either direction)."""
    if zero_at == one_at:
        return 1.0
    return max(0.0, min(1.0, (x - zero_at) / (one_at - zero_at)))


def _looks_like_word(word: str) -> bool:
    from assay.evaluators.text_language import ALL_STOPWORDS

    if word in ALL_STOPWORDS:
        return True
    if len(word) > 24 or not any(c in _VOWELS for c in word):
        return False
    if _CONSONANT_RUN.search(word) or re.search(r"(.)\1\1", word):
        return False
    return not any(word[i : i + 5] in _KEYBOARD_RUNS for i in range(len(word) - 4))


def gibberish_signals(text: str) -> GibberishSignals:
    """The heuristics behind `not_gibberish`. Latin-letter heuristics (vowels, mashing,
    word shapes) need at least 20 letters / 3 words to say anything; below that, and for
    non-Latin scripts, they report full health and only repetition and symbols count."""
    text = text[:MAX_SEARCH_CHARS]
    lowered = text.casefold()
    latin_words = _LATIN_WORD.findall(lowered)
    letters = "".join(latin_words)

    vowel_ratio = sum(c in _VOWELS for c in letters) / len(letters) if len(letters) >= 20 else None
    # Prose in the profiled languages measured 0.35-0.48 (y counted as a vowel).
    vowel_health = (
        1.0
        if vowel_ratio is None
        else min(_ramp(vowel_ratio, 0.12, 0.25), _ramp(vowel_ratio, 0.85, 0.65))
    )

    alpha = [c for c in lowered if c.isalpha()]
    in_runs = sum(len(m.group(0)) for m in re.finditer(r"([^\W\d_])\1{3,}", lowered))
    repeated_char_share = in_runs / len(alpha) if alpha else 0.0
    repeated_char_health = _ramp(repeated_char_share, 0.3, 0.05)

    long_words = [w for w in latin_words if len(w) >= 5]
    mashed = [
        w
        for w in long_words
        if any(w[i : i + 5] in _KEYBOARD_RUNS for i in range(len(w) - 4))
        or _CONSONANT_RUN.search(w)
    ]
    mashed_word_share = len(mashed) / len(long_words) if len(long_words) >= 3 else 0.0
    mashing_health = _ramp(mashed_word_share, 0.4, 0.1)

    tokens = re.findall(r"\w+", lowered)
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    repeated_trigram_share = 1 - len(set(trigrams)) / len(trigrams) if len(trigrams) >= 6 else 0.0
    # Prose: under 0.1; a bulleted list with a repeated frame, up to ~0.3; a looping model, 0.7+.
    repetition_health = _ramp(repeated_trigram_share, 0.7, 0.3)
    if len(tokens) >= 8:  # one token filling the output: "the the the the ..."
        top_share = max(Counter(tokens).values()) / len(tokens)
        repetition_health = min(repetition_health, _ramp(top_share, 0.8, 0.4))

    wordlike_share = (
        sum(map(_looks_like_word, latin_words)) / len(latin_words)
        if len(latin_words) >= 3
        else None
    )
    # Prose measured 0.9-1.0; product codes and names lower it a little, mashing a lot.
    wordlike_health = 1.0 if wordlike_share is None else _ramp(wordlike_share, 0.3, 0.7)

    visible = [c for c in text if not c.isspace()]
    alnum_share = sum(c.isalnum() for c in visible) / len(visible) if len(visible) >= 10 else None
    symbol_health = 1.0 if alnum_share is None else _ramp(alnum_share, 0.05, 0.25)

    return GibberishSignals(
        vowel_ratio, vowel_health, repeated_char_share, repeated_char_health,
        mashed_word_share, mashing_health, repeated_trigram_share, repetition_health,
        wordlike_share, wordlike_health, alnum_share, symbol_health,
    )  # fmt: skip


@dataclass(kw_only=True)
class NotGibberish(DetailedEvaluator):
    """The output reads as language, not keyboard mashing, character runs, symbol soup or a
    degenerate loop repeating the same tokens.

    Six heuristics, each a health score in [0, 1]: vowel ratio of Latin letters, share of
    letters in runs of 4+ identical letters, share of words with five keyboard-row keys in a
    row or six consonants, share of repeated word trigrams (and of the single most common
    token), share of word-like tokens, share of letters and digits among visible characters.
    Degenerate output (`degenerate_output`: repeated-token junk, punctuation runs, brackets
    that do not nest) scores 0. The value is the weakest of them; passes at >= `threshold`
    (default 0.5). The explanation names the weakest signals. Non-Latin scripts are judged on
    repetition and symbols only.
    """

    output: ClassVar[str] = "pass/fail + language-likeness 0-1"
    example: ClassVar[dict[str, Any]] = {"threshold": 0.5}
    threshold: float = 0.5
    failure_category: str | None = "format_break"
    metric: str = "not_gibberish"
    version: str = "2"  # 2: degenerate output (assay.detectors.degenerate) scores 0

    def __post_init__(self) -> None:
        check_share("not_gibberish", "threshold", self.threshold)

    def inspect(self, subject: Subject) -> Finding:
        text = str(subject["output_text"])
        signals = gibberish_signals(text)
        # Junk of brackets and code-like tokens passes every language heuristic (its few
        # words are real): a degenerate output is not language, whatever they say.
        degenerate = degenerate_flags(text)
        value = 0.0 if degenerate else round(signals.value, 4)
        passed = value >= self.threshold
        weakest = [f"degenerate: {f.kind} ({f.why})" for f in degenerate] or signals.weakest()
        detail = f"; weakest: {', '.join(weakest)}" if weakest else ""
        return Finding(
            passed,
            value,
            f"language-likeness {value:.2f} ({'>=' if passed else '<'} {self.threshold:g}){detail}",
            details={"signals": signals.as_dict()},
        )
