"""Size and shape of the output: `length` (characters or tokens), `word_count`,
`reading_time` and `one_line`, each with its SQL form where DuckDB can count the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from assay.evaluators.base import DeterministicEvaluator, Subject
from assay.evaluators.text import _ASCII_SPACE, _ASCII_WORD_CHAR, strip_sql
from assay.evaluators.vectorised import (
    SqlForm,
    non_ascii,
    sql_string,
)


@dataclass(kw_only=True)
class Length(DeterministicEvaluator):
    """The output's length in characters (or approximate tokens) is within bounds.

    `unit: chars` (default) takes `min_chars` / `max_chars`; `unit: tokens` takes
    `min_tokens` / `max_tokens`, counted offline by `count_tokens` (a `\\w+` run or one
    punctuation mark per token: 0.90x tiktoken cl100k on English prose, 0.63x on German).
    Either bound may be omitted, not both. The value is the observed length in the unit, so a
    dashboard can chart length drift as well as the pass rate.
    """

    output: ClassVar[str] = "pass/fail + length in chars or tokens"
    example: ClassVar[dict[str, Any]] = {"min_chars": 20, "max_chars": 1200}
    unit: Literal["chars", "tokens"] = "chars"
    min_chars: int | None = None
    max_chars: int | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    failure_category: str | None = "format_break"
    metric: str = "length_chars"

    def __post_init__(self) -> None:
        if self.unit not in ("chars", "tokens"):
            raise ValueError(f"length: `unit` must be chars or tokens (got {self.unit!r})")
        other = "tokens" if self.unit == "chars" else "chars"
        stray = [k for k in (f"min_{other}", f"max_{other}") if getattr(self, k) is not None]
        if stray:
            raise ValueError(
                f"length: {', '.join(stray)} given with unit={self.unit!r}; "
                f"use min_{self.unit} / max_{self.unit}, or unit: {other}"
            )
        _check_bounds("length", f"min_{self.unit}", self._low, f"max_{self.unit}", self._high)
        if self.unit == "tokens" and self.metric == "length_chars":
            self.metric = "length_tokens"

    @property
    def _low(self) -> int | None:
        return self.min_chars if self.unit == "chars" else self.min_tokens

    @property
    def _high(self) -> int | None:
        return self.max_chars if self.unit == "chars" else self.max_tokens

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"])
        n = len(text) if self.unit == "chars" else count_tokens(text)
        return _bounded(n, self.unit, f"min_{self.unit}", self._low, f"max_{self.unit}", self._high)

    def sql_form(self) -> SqlForm | None:
        if self.unit == "chars":
            return bounded_sql("length(output_text)", "chars", "min_chars", self._low, "max_chars", self._high)
        # The token pattern's \w and \s are Unicode classes: exact in SQL on ASCII text only.
        form = bounded_sql(
            f"len(regexp_extract_all(output_text, {sql_string(_ASCII_TOKEN)}))",
            "tokens", "min_tokens", self._low, "max_tokens", self._high,
        )
        return SqlForm(form.passed, form.value, form.explanation, python_rows=non_ascii("output_text"))


_ASCII_TOKEN = f"[{_ASCII_WORD_CHAR}]+|[^{_ASCII_WORD_CHAR}{_ASCII_SPACE}]"
"""`_TOKEN` (\\w+|[^\\w\\s]) restricted to ASCII text, in RE2."""
_ASCII_WORD = f"[{_ASCII_WORD_CHAR}]+(?:['\\-][{_ASCII_WORD_CHAR}]+)*"
"""`_WORD` restricted to ASCII text (the ’ apostrophe is not ASCII), in RE2."""


def bounded_sql(n: str, unit: str, low_name: str, low: int | None, high_name: str, high: int | None) -> SqlForm:
    """SQL form of `_bounded`: a count within [low, high], explained as Python does."""
    shown = f"CAST({n} AS VARCHAR)"
    checks = []
    if low is not None:
        checks.append((f"{n} < {low}", f"{shown} || ' {unit}, fewer than {low_name}={low}'"))
    if high is not None:
        checks.append((f"{n} > {high}", f"{shown} || ' {unit}, more than {high_name}={high}'"))
    explanation = "CASE " + " ".join(f"WHEN {c} THEN {e}" for c, e in checks) + f" ELSE {shown} || ' {unit}, within bounds' END"
    return SqlForm(
        passed="NOT (" + " OR ".join(c for c, _ in checks) + ")",
        value=f"CAST({n} AS DOUBLE)",
        explanation=explanation,
    )


_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*")


def count_tokens(text: str) -> int:
    """Approximate LLM tokens, offline: each `\\w+` run and each punctuation mark is one token.

    Measured against tiktoken cl100k_base: 0.90x its count on English prose,
    1.00x on Python source, 0.63x on German prose (long compounds are several BPE tokens).
    Good for bounds ("under ~300 tokens"), not for billing."""
    return len(_TOKEN.findall(text))


def count_words(text: str) -> int:
    """Space-delimited words: `\\w+` runs, with inner apostrophes and hyphens kept inside
    ("don't", "state-of-the-art" are one word). Scripts written without spaces (Chinese,
    Japanese, Thai) count a whole run as one word."""
    return len(_WORD.findall(text))


@dataclass(kw_only=True)
class WordCount(DeterministicEvaluator):
    """The output has between `min_words` and `max_words` words.

    Either bound may be omitted, not both. Words are `\\w+` runs keeping inner apostrophes
    and hyphens; scripts without spaces count a run as one word. The value is the word count.
    """

    output: ClassVar[str] = "pass/fail + word count"
    example: ClassVar[dict[str, Any]] = {"min_words": 5, "max_words": 200}
    min_words: int | None = None
    max_words: int | None = None
    failure_category: str | None = "format_break"
    metric: str = "word_count"

    def __post_init__(self) -> None:
        _check_bounds("word_count", "min_words", self.min_words, "max_words", self.max_words)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        n = count_words(str(subject["output_text"]))
        return _bounded(n, "words", "min_words", self.min_words, "max_words", self.max_words)

    def sql_form(self) -> SqlForm:
        form = bounded_sql(
            f"len(regexp_extract_all(output_text, {sql_string(_ASCII_WORD)}))",
            "words", "min_words", self.min_words, "max_words", self.max_words,
        )
        return SqlForm(form.passed, form.value, form.explanation, python_rows=non_ascii("output_text"))


def _check_bounds(type_: str, low_name: str, low: Any, high_name: str, high: Any) -> None:
    if low is None and high is None:
        raise ValueError(f"{type_}: give at least one of `{low_name}`, `{high_name}`")
    for key, bound in ((low_name, low), (high_name, high)):
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int) or bound < 0
        ):
            raise ValueError(f"{type_}: `{key}` must be a non-negative integer (got {bound!r})")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{type_}: `{low_name}` ({low}) is greater than `{high_name}` ({high})")


def _bounded(
    n: int, unit: str, low_name: str, low: int | None, high_name: str, high: int | None
) -> tuple[bool, float, str]:
    if low is not None and n < low:
        return False, float(n), f"{n} {unit}, fewer than {low_name}={low}"
    if high is not None and n > high:
        return False, float(n), f"{n} {unit}, more than {high_name}={high}"
    return True, float(n), f"{n} {unit}, within bounds"


DEFAULT_WORDS_PER_MINUTE = 238
"""Average silent reading rate of adults for English non-fiction (Brysbaert 2019, a
meta-analysis of 190 studies)."""


@dataclass(kw_only=True)
class ReadingTime(DeterministicEvaluator):
    """The output can be read in at most `max_seconds` at `words_per_minute` (default 238,
    the adult average for non-fiction).

    The value is the estimated reading time in seconds (words / wpm * 60).
    """

    output: ClassVar[str] = "pass/fail + reading time s"
    example: ClassVar[dict[str, Any]] = {"max_seconds": 60}
    max_seconds: float
    words_per_minute: float = DEFAULT_WORDS_PER_MINUTE
    failure_category: str | None = "format_break"
    metric: str = "reading_time_s"

    def __post_init__(self) -> None:
        for key in ("max_seconds", "words_per_minute"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise ValueError(f"reading_time: `{key}` must be a positive number (got {v!r})")

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        words = count_words(str(subject["output_text"]))
        seconds = words / self.words_per_minute * 60
        passed = seconds <= self.max_seconds
        return (
            passed,
            seconds,
            f"{words} words ≈ {seconds:.1f} s at {self.words_per_minute:g} wpm "
            f"({'within' if passed else 'over'} max_seconds={self.max_seconds:g})",
        )


_LINE_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029\x0b\x0c\x85]")


@dataclass(kw_only=True)
class OneLine(DeterministicEvaluator):
    """The output is a single line: no line break once leading and trailing whitespace is
    stripped (e.g. a title, a subject line, a label).

    Any Unicode line break counts (\\n, \\r, U+2028...). The value is 1.0 or 0.0; the
    explanation gives the number of lines.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "one_line"

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"]).strip()
        lines = len(_LINE_BREAK.split(text))
        if lines == 1:
            return True, 1.0, "one line"
        return False, 0.0, f"{lines} lines; first break at char {_LINE_BREAK.search(text).start()}"  # type: ignore[union-attr]

    def sql_form(self) -> SqlForm:
        text = strip_sql("output_text")
        breaks = "\\r\\n|[\\n\\r\\x0b\\x0c]"  # _LINE_BREAK within ASCII
        lines = f"(len(regexp_extract_all({text}, {sql_string(breaks)})) + 1)"
        first = f"length(regexp_extract({text}, {sql_string('(?s)^(.*?)(?:' + breaks + ')')}, 1))"
        return SqlForm(
            passed=f"({lines} = 1)",
            value=f"CASE WHEN {lines} = 1 THEN 1.0 ELSE 0.0 END",
            explanation=(
                f"CASE WHEN {lines} = 1 THEN 'one line' "
                f"ELSE CAST({lines} AS VARCHAR) || ' lines; first break at char ' || CAST({first} AS VARCHAR) END"
            ),
            python_rows=non_ascii("output_text"),
        )
