"""Text evaluators: substrings, regular expressions, whole-text comparisons, length in
characters, tokens, words and reading time, single-line answers, language, gibberish, email
addresses and links.

All read `output_text`; a subject without one is `skipped` by the base class (an
empty string counts as missing too: an empty answer is a provider or format problem that
other evaluators report, not a substring or length verdict).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from re import _compiler, _parser  # type: ignore[attr-defined]  # stdlib, Python >= 3.11
from typing import Any, ClassVar, Literal

from assay.contracts.score import Score
from evaluators.base import DeterministicEvaluator, Subject, check_share, missing_fields
from evaluators.evidence import DetailedEvaluator, Finding
from evaluators.vectorised import (
    SqlForm,
    casefold_mismatch_class,
    concat_found,
    non_ascii,
    python_regex_to_re2,
    sql_string,
)

MAX_PATTERN_CHARS = 500
MAX_SEARCH_CHARS = 100_000
"""Regexes only look at the head of an output: bounded work per subject, whatever the model
produced (a runaway generation can be megabytes)."""


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


@dataclass(kw_only=True)
class Contains(DeterministicEvaluator):
    """The output contains `value` (one string or several).

    `mode`: `any` (at least one is present), `all` (every one), `none` (none may occur,
    e.g. a competitor's name or an internal code word). `ignore_case` compares casefolded
    text, so "Straße" matches "STRASSE". The value is 1.0 when the check passes, else 0.0.
    """

    example: ClassVar[dict[str, Any]] = {"value": ["refund", "return"], "mode": "any"}
    value: str | list[str]
    mode: Literal["any", "all", "none"] = "any"
    ignore_case: bool = True
    failure_category: str | None = "format_break"
    metric: str = "contains"
    _needles: list[str] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        values = [self.value] if isinstance(self.value, str) else list(self.value)
        if not values:
            raise ValueError("contains: `value` must be a non-empty string or list of strings")
        if any(not isinstance(v, str) or v == "" for v in values):
            raise ValueError("contains: every entry of `value` must be a non-empty string")
        if self.mode not in ("any", "all", "none"):
            raise ValueError(f"contains: `mode` must be one of any, all, none (got {self.mode!r})")
        self._needles = values

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"])
        if self.ignore_case:
            text = text.casefold()
        found = [v for v in self._needles if (v.casefold() if self.ignore_case else v) in text]
        missing = [v for v in self._needles if v not in found]
        if self.mode == "any":
            passed = bool(found)
            explanation = (
                f"found {', '.join(map(_short, found))}"
                if passed
                else f"none of {', '.join(map(_short, self._needles))} found"
            )
        elif self.mode == "all":
            passed = not missing
            explanation = (
                f"all {len(self._needles)} values found"
                if passed
                else f"missing {', '.join(map(_short, missing))}"
            )
        else:
            passed = not found
            explanation = (
                "no forbidden value found"
                if passed
                else f"forbidden value present: {', '.join(map(_short, found))}"
            )
        return passed, 1.0 if passed else 0.0, explanation

    def sql_form(self) -> SqlForm:
        text, python_rows = "output_text", "FALSE"
        needles = self._needles
        if self.ignore_case:
            # DuckDB's lower() equals casefold() except on a measured set of characters;
            # texts holding one are compared in Python.
            text, python_rows = "lower(output_text)", f"regexp_matches(output_text, {sql_string(casefold_mismatch_class())})"
            needles = [n.casefold() for n in needles]
        found = [f"contains({text}, {sql_string(n)})" for n in needles]
        shown = [_short(v) for v in self._needles]
        if self.mode == "any":
            passed = " OR ".join(found)
            explanation = (
                f"CASE WHEN {passed} THEN 'found ' || {concat_found(found, shown)} "
                f"ELSE {sql_string('none of ' + ', '.join(shown) + ' found')} END"
            )
        elif self.mode == "all":
            passed = " AND ".join(found)
            explanation = (
                f"CASE WHEN {passed} THEN {sql_string(f'all {len(needles)} values found')} "
                f"ELSE 'missing ' || {concat_found([f'NOT {f}' for f in found], shown)} END"
            )
        else:
            passed = "NOT (" + " OR ".join(found) + ")"
            explanation = (
                f"CASE WHEN {passed} THEN 'no forbidden value found' "
                f"ELSE 'forbidden value present: ' || {concat_found(found, shown)} END"
            )
        passed = f"({passed})"
        return SqlForm(passed=passed, value=f"CASE WHEN {passed} THEN 1.0 ELSE 0.0 END", explanation=explanation, python_rows=python_rows)


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_SINGLE_CHAR = {"LITERAL", "NOT_LITERAL", "ANY", "IN"}
_ALPHABET = [chr(i) for i in range(0x250)] + ["\u2013", "\u2014", "\u00a0", "\u3000"]


def _children(op: str, av):
    """The sub-patterns directly under one parsed regex node."""
    if op in _REPEATS:
        return [av[2]]
    if op == "SUBPATTERN":
        return [av[-1]]
    if op == "BRANCH":
        return list(av[1])
    if op in ("ASSERT", "ASSERT_NOT"):
        return [av[1]]
    if op == "ATOMIC_GROUP":
        return [av]
    if op == "GROUPREF_EXISTS":
        return [b for b in av[1:] if b is not None]
    return []


def _variable_repeats(items) -> list[tuple[str, object]]:
    """Every quantifier with a variable count (`+`, `*`, `?`, `{1,3}`) in a parsed pattern."""
    found: list[tuple[str, object]] = []
    for op, av in items:
        name = str(op)
        if name in _REPEATS and av[0] != av[1]:
            found.append((name, av))
        for child in _children(name, av):
            found.extend(_variable_repeats(child))
    return found


def _delimited(body, state, flags: int) -> bool:
    """Whether each iteration of a repeated group starts with a separator character that no
    variable part of the group can match, as in `(?:-[a-z]+)*` or `(?:[.,]\\d+)*`: iteration
    boundaries are then forced, and matching stays linear despite the nesting."""

    def matcher(item):
        return _compiler.compile(_parser.SubPattern(state, [item]), flags)

    while len(body) == 1 and str(body[0][0]) == "SUBPATTERN":
        body = body[0][1][-1]
    if not body or str(body[0][0]) not in _SINGLE_CHAR:
        return False
    separator = matcher(body[0])
    inner = []
    for _name, (_low, _high, sub) in _variable_repeats(body):
        if len(sub) != 1 or str(sub[0][0]) not in _SINGLE_CHAR:
            return False
        inner.append(matcher(sub[0]))
    # A literal separator outside the sample alphabet (a CJK character) is tested as well.
    alphabet = _ALPHABET + ([chr(body[0][1])] if str(body[0][0]) == "LITERAL" else [])
    return not any(separator.match(ch) and any(m.match(ch) for m in inner) for ch in alphabet)


def _has_nested_quantifier(items, state, flags: int) -> bool:
    """A repeated group whose body itself repeats a variable number of times: `(a+)+`,
    `(.*)*`, `(\\w{1,3})+`. Such a group can split one input in exponentially many ways, so
    a failing match backtracks for ever. Fixed counts inside (`(\\d{3}-)+`) and groups with a
    forced separator (`(?:-[a-z]+)*`) are fine."""
    for op, av in items:
        name = str(op)
        if (
            name in _REPEATS
            and av[1] > 1
            and _variable_repeats(av[2])
            and not _delimited(av[2], state, flags)
        ):
            return True
        if any(_has_nested_quantifier(child, state, flags) for child in _children(name, av)):
            return True
    return False


def compile_guarded(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a user-supplied pattern, refusing the shapes that backtrack catastrophically.

    Python's `re` has no timeout, and one pathological pattern on one long output would stall
    a whole scoring partition, so the guard runs at construction (config load), not per call.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("regex: `pattern` must be a non-empty string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"regex: pattern is {len(pattern)} chars; at most {MAX_PATTERN_CHARS} are allowed"
        )
    flags = re.IGNORECASE if ignore_case else 0
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"regex: invalid pattern {pattern!r}: {exc}") from exc
    parsed = _parser.parse(pattern, flags)
    if _has_nested_quantifier(parsed, parsed.state, flags):
        raise ValueError(
            f"regex: pattern {pattern!r} nests quantifiers (like `(a+)+` or `(.*)*`), which can "
            "backtrack catastrophically; rewrite it without a repeated group that itself repeats"
        )
    return compiled


@dataclass(kw_only=True)
class Regex(DeterministicEvaluator):
    """The output matches `pattern` (`must_match: true`) or never does (`must_match: false`,
    e.g. a leaked template placeholder like `\\{\\{\\w+\\}\\}`).

    Searches (not full-matches) the first 100,000 characters. `ignore_case` defaults to false:
    regex authors expect the pattern to mean exactly what it says. The explanation gives the
    match position, never the matched text (a pattern may well be hunting for personal data).
    The value is 1.0 when the check passes, else 0.0.
    """

    example: ClassVar[dict[str, Any]] = {"pattern": "^\\s*\\{", "must_match": True}
    pattern: str
    must_match: bool = True
    ignore_case: bool = False
    failure_category: str | None = "format_break"
    metric: str = "regex"
    _compiled: re.Pattern[str] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self._compiled = compile_guarded(self.pattern, ignore_case=self.ignore_case)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        assert self._compiled is not None
        full = str(subject["output_text"])
        text = full[:MAX_SEARCH_CHARS]
        note = (
            f" (searched the first {MAX_SEARCH_CHARS} of {len(full)} chars)"
            if len(full) > MAX_SEARCH_CHARS
            else ""
        )
        match = self._compiled.search(text)
        if self.must_match:
            passed = match is not None
            explanation = (
                f"pattern matched at char {match.start()}"
                if match
                else f"pattern {_short(self.pattern)} not found"
            )
        else:
            passed = match is None
            explanation = (
                "forbidden pattern not found"
                if passed
                else f"forbidden pattern {_short(self.pattern)} matched at char {match.start()}"  # type: ignore[union-attr]
            )
        return passed, 1.0 if passed else 0.0, explanation + note

    def sql_form(self) -> SqlForm | None:
        re2 = python_regex_to_re2(self.pattern, ignore_case=self.ignore_case)
        if re2 is None:
            return None
        head = f"left(output_text, {MAX_SEARCH_CHARS})"
        matched = f"regexp_matches({head}, {sql_string(re2.search)})"
        at = f"CAST(length(regexp_extract({head}, {sql_string(re2.position)}, 1)) AS VARCHAR)"
        note = (
            f"CASE WHEN length(output_text) > {MAX_SEARCH_CHARS} THEN ' (searched the first {MAX_SEARCH_CHARS} of ' "
            "|| CAST(length(output_text) AS VARCHAR) || ' chars)' ELSE '' END"
        )
        shown = _short(self.pattern)
        if self.must_match:
            passed = matched
            explanation = f"CASE WHEN {matched} THEN 'pattern matched at char ' || {at} ELSE {sql_string(f'pattern {shown} not found')} END"
        else:
            passed = f"NOT {matched}"
            explanation = (
                f"CASE WHEN {matched} THEN {sql_string(f'forbidden pattern {shown} matched at char ')} || {at} "
                "ELSE 'forbidden pattern not found' END"
            )
        return SqlForm(
            passed=f"({passed})",
            value=f"CASE WHEN {passed} THEN 1.0 ELSE 0.0 END",
            explanation=f"({explanation}) || {note}",
            python_rows=non_ascii("output_text") if re2.ascii_only else "FALSE",
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


_ASCII_WORD_CHAR = "0-9A-Za-z_"
_ASCII_SPACE = "\\t-\\r\\x1c-\\x20"  # str.isspace() within ASCII
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


def strip_sql(text: str) -> str:
    """SQL for `str.strip()` on ASCII text."""
    return f"regexp_replace({text}, '^[{_ASCII_SPACE}]+|[{_ASCII_SPACE}]+$', '', 'g')"


# ------------------------------------------------------------------ whole-text comparisons


@dataclass(kw_only=True)
class _TextCompare(DeterministicEvaluator):
    """Shared shape of equals / starts_with / ends_with: one string or a list (any may match)."""

    verb: ClassVar[str] = "equal"
    value: str | list[str]
    ignore_case: bool = False
    strip_whitespace: bool = True
    failure_category: str | None = "format_break"
    _values: list[str] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        values = [self.value] if isinstance(self.value, str) else self.value
        if (
            not isinstance(values, list)
            or not values
            or any(not isinstance(v, str) or not v.strip() for v in values)
        ):
            raise ValueError(
                f"{self.metric}: `value` must be a non-blank string or a non-empty list of them"
            )
        self._values = values

    def _prepare(self, text: str) -> str:
        text = text.strip() if self.strip_whitespace else text
        return text.casefold() if self.ignore_case else text

    def matches(self, text: str, value: str) -> bool:
        raise NotImplementedError

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = self._prepare(str(subject["output_text"]))
        hit = next((v for v in self._values if self.matches(text, self._prepare(v))), None)
        if hit is not None:
            return True, 1.0, f"{self.metric}: matches {_short(hit)}"
        expected = " or ".join(map(_short, self._values[:5]))
        return False, 0.0, f"output does not {self.verb} {expected}; it is {_short(text)}"

    def sql_match(self, text: str, value: str) -> str:
        raise NotImplementedError

    def sql_form(self) -> SqlForm:
        """Exact on ASCII text (strip and casefold agree with DuckDB there); a failing text
        whose repr needs escapes goes to Python, which words the explanation."""
        text = strip_sql("output_text") if self.strip_whitespace else "output_text"
        if self.ignore_case:
            text = f"lower({text})"
        prepared = [self._prepare(v) for v in self._values]
        matches = [self.sql_match(text, v) for v in prepared]
        passed = "(" + " OR ".join(matches) + ")"
        hit = "CASE " + " ".join(f"WHEN {m} THEN {sql_string(_short(v))}" for m, v in zip(matches, self._values, strict=True)) + " END"
        expected = " or ".join(map(_short, self._values[:5]))
        shown = f"CASE WHEN length({text}) <= 60 THEN {text} ELSE left({text}, 59) || '…' END"
        return SqlForm(
            passed=passed,
            value=f"CASE WHEN {passed} THEN 1.0 ELSE 0.0 END",
            explanation=(
                f"CASE WHEN {passed} THEN {sql_string(self.metric + ': matches ')} || {hit} "
                f"ELSE {sql_string(f'output does not {self.verb} {expected}; it is ')} || chr(39) || {shown} || chr(39) END"
            ),
            # repr() quotes and escapes some texts differently: leave those to Python.
            python_rows=f"{non_ascii('output_text')} OR (NOT {passed} AND regexp_matches({text}, '[\\x00-\\x1f\\x7f''\\\\]'))",
        )


@dataclass(kw_only=True)
class Equals(_TextCompare):
    """The output equals `value` (or one of a list), e.g. a classifier that must answer exactly
    one of its labels.

    `strip_whitespace` (default true) ignores leading and trailing whitespace; `ignore_case`
    (default false) compares casefolded text. The value is 1.0 on a match, else 0.0.
    """

    example: ClassVar[dict[str, Any]] = {
        "value": ["positive", "negative", "neutral"],
        "ignore_case": True,
    }
    metric: str = "equals"

    def matches(self, text: str, value: str) -> bool:
        return text == value

    def sql_match(self, text: str, value: str) -> str:
        return f"{text} = {sql_string(value)}"


@dataclass(kw_only=True)
class StartsWith(_TextCompare):
    """The output starts with `value` (or one of a list), e.g. a required greeting or prefix.

    Leading whitespace is ignored unless `strip_whitespace: false`; `ignore_case` defaults to
    false. The value is 1.0 on a match, else 0.0.
    """

    example: ClassVar[dict[str, Any]] = {"value": "Dear customer"}
    verb: ClassVar[str] = "start with"
    metric: str = "starts_with"

    def matches(self, text: str, value: str) -> bool:
        return text.startswith(value)

    def sql_match(self, text: str, value: str) -> str:
        return f"starts_with({text}, {sql_string(value)})"


@dataclass(kw_only=True)
class EndsWith(_TextCompare):
    """The output ends with `value` (or one of a list), e.g. a required sign-off or disclaimer.

    Trailing whitespace is ignored unless `strip_whitespace: false`; `ignore_case` defaults to
    false. The value is 1.0 on a match, else 0.0.
    """

    example: ClassVar[dict[str, Any]] = {"value": ["Best regards", "Kind regards"]}
    verb: ClassVar[str] = "end with"
    metric: str = "ends_with"

    def matches(self, text: str, value: str) -> bool:
        return text.endswith(value)

    def sql_match(self, text: str, value: str) -> str:
        return f"suffix({text}, {sql_string(value)})"


# ------------------------------------------------------------------------- size and shape

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*")


def count_tokens(text: str) -> int:
    """Approximate LLM tokens, offline: each `\\w+` run and each punctuation mark is one token.

    Measured against tiktoken cl100k_base: 0.90x its count on English prose (DESIGN.md),
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


# ------------------------------------------------------------------------------ language


@dataclass(kw_only=True)
class Language(DeterministicEvaluator):
    """The output is written in the expected `language` (ISO 639-1 code, e.g. `de`).

    Offline detection (`evaluators.text_language`): Unicode script ranges name non-Latin
    languages (ja, zh, ko, ru, uk, el, ar, he, hi, th...); Latin-script text is matched
    against function-word profiles of en, de, fr, es, it, pt, nl. A mixed text counts as its
    dominant language. The score's label is the detected code; the value is the expected
    language's share of the evidence (0-1).

    A text too short to tell (fewer than `min_words` words, default 3, or no function word
    at all: "Refund approved.") is undetermined (`und`). `undetermined` says what then
    happens: `skip` (default: a `skipped` score, so short answers neither pass nor fail),
    `pass` (passed, label `und`) or `fail`. A long Latin text with almost no profile
    function word is labelled `other` (Polish, Turkish...) and fails.
    """

    output: ClassVar[str] = "pass/fail + label (detected language) + share 0-1"
    example: ClassVar[dict[str, Any]] = {"language": "en"}
    language: str
    min_words: int = 3
    undetermined: Literal["skip", "pass", "fail"] = "skip"
    failure_category: str | None = "format_break"
    metric: str = "language"

    def __post_init__(self) -> None:
        from evaluators.text_language import SUPPORTED_LANGUAGES

        if not isinstance(self.language, str) or self.language.lower() not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"language: `language` must be an ISO 639-1 code this detector knows "
                f"(got {self.language!r}); known: {', '.join(sorted(SUPPORTED_LANGUAGES))}"
            )
        self.language = self.language.lower()
        if (
            isinstance(self.min_words, bool)
            or not isinstance(self.min_words, int)
            or self.min_words < 1
        ):
            raise ValueError(
                f"language: `min_words` must be a positive integer (got {self.min_words!r})"
            )
        if self.undetermined not in ("skip", "pass", "fail"):
            raise ValueError(
                f"language: `undetermined` must be skip, pass or fail (got {self.undetermined!r})"
            )

    def evaluate(self, subject: Subject) -> list[Score]:
        from evaluators.text_language import detect_language

        if missing_fields(subject, self.required_fields):
            return super().evaluate(subject)
        started = time.perf_counter()
        detection = detect_language(
            str(subject["output_text"])[:MAX_SEARCH_CHARS], min_words=self.min_words
        )
        shares = ", ".join(f"{k} {v:.2f}" for k, v in list(detection.shares.items())[:3])
        evidence = f" ({shares})" if shares else ""
        fields: dict[str, Any] = {
            "label": detection.language,
            "details": {
                "detected": detection.language,
                "shares": {k: round(v, 4) for k, v in detection.shares.items()},
                "reason": detection.reason,
            },
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if detection.language == "und":
            reason = f"language undetermined: {detection.reason}"
            if self.undetermined == "skip":
                return [self.score(subject, status="skipped", explanation=reason, **fields)]
            passed = self.undetermined == "pass"
            return [self.score(subject, passed=passed, value=None, explanation=reason, **fields)]
        passed = detection.language == self.language
        verdict = "" if passed else f", expected {self.language}"
        return [
            self.score(
                subject,
                passed=passed,
                value=round(detection.share(self.language), 4),
                explanation=f"detected {detection.language} by {detection.reason}{evidence}{verdict}",
                **fields,
            )
        ]


# --------------------------------------------------------------------------- gibberish

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
    from evaluators.text_language import ALL_STOPWORDS

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
    The value is the weakest of them; passes at >= `threshold` (default 0.5). The
    explanation names the weakest signals. Non-Latin scripts are judged on repetition and
    symbols only.
    """

    output: ClassVar[str] = "pass/fail + language-likeness 0-1"
    example: ClassVar[dict[str, Any]] = {"threshold": 0.5}
    threshold: float = 0.5
    failure_category: str | None = "format_break"
    metric: str = "not_gibberish"

    def __post_init__(self) -> None:
        check_share("not_gibberish", "threshold", self.threshold)

    def inspect(self, subject: Subject) -> Finding:
        signals = gibberish_signals(str(subject["output_text"]))
        value = round(signals.value, 4)
        passed = value >= self.threshold
        weakest = signals.weakest()
        detail = f"; weakest: {', '.join(weakest)}" if weakest else ""
        return Finding(
            passed,
            value,
            f"language-likeness {value:.2f} ({'>=' if passed else '<'} {self.threshold:g}){detail}",
            details={"signals": signals.as_dict()},
        )


# ------------------------------------------------------------------------ emails and links

_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
EMAIL = re.compile(rf"(?<![\w.+\-]){_EMAIL_LOCAL}@{_DOMAIN}(?![\w\-]|\.[A-Za-z0-9])")
"""A practical subset of RFC 5322: dot-atom local part, dotted domain with an alphabetic
TLD. No quoted local parts, IP-literal domains or internationalised addresses."""


def find_emails(text: str) -> list[re.Match[str]]:
    return [
        m for m in EMAIL.finditer(text[:MAX_SEARCH_CHARS]) if len(m.group(0).split("@")[0]) <= 64
    ]


@dataclass(kw_only=True)
class IsEmail(DeterministicEvaluator):
    """The whole output (whitespace stripped) is one email address, e.g. an extraction step.

    Practical RFC 5322 subset: dot-atom local part of at most 64 characters, a dotted domain
    with an alphabetic top-level domain, at most 254 characters overall. The value is 1.0 or
    0.0.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "is_email"

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"]).strip()
        match = EMAIL.fullmatch(text)
        if match and len(text) <= 254 and len(text.split("@")[0]) <= 64:
            return True, 1.0, "a valid email address"
        found = find_emails(text)
        why = f"contains {len(found)} address(es) among other text" if found else "no email address"
        return False, 0.0, f"not a single email address: {why} ({len(text)} chars)"


@dataclass(kw_only=True)
class ContainsEmail(DetailedEvaluator):
    """The output contains at least one email address (e.g. a support answer must give the
    contact address).

    The explanation gives how many and their positions, never the addresses (they may be
    personal data; to forbid addresses use `pii`). The value is 1.0 or 0.0.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "contains_email"

    def inspect(self, subject: Subject) -> Finding:
        found = find_emails(str(subject["output_text"]))
        if not found:
            return Finding(False, 0.0, "no email address found")
        return Finding(
            True,
            1.0,
            f"{len(found)} email address(es) at char {', '.join(str(m.start()) for m in found[:5])}",
            details={"spans": [[m.start(), m.end()] for m in found[:100]]},
        )


_URL_CANDIDATE = re.compile(
    r"(?<![\w@.])(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s<>\"'`]+", re.IGNORECASE
)
_TRAILING = ".,;:!?*_'\"”’»"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def find_urls(text: str) -> list[tuple[int, str]]:
    """(char offset, URL) for each link-like run in a text: `scheme://...` (any scheme, so a
    `htps://` typo is found and judged) and bare `www.` hosts. Trailing sentence punctuation
    and unbalanced closing brackets (a Markdown `[text](url)`) are not part of the URL."""
    found = []
    for match in _URL_CANDIDATE.finditer(text[:MAX_SEARCH_CHARS]):
        url = match.group(0)
        while url:
            last = url[-1]
            if last in _TRAILING:
                url = url[:-1]
            elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
                url = url[:-1]
            else:
                break
        if url:
            found.append((match.start(), url))
    return found


def url_problem(url: str) -> str | None:
    """Why a URL is not a syntactically valid http(s) URL, or None when it is."""
    from urllib.parse import urlsplit

    candidate = f"http://{url}" if url.lower().startswith("www.") else url
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        return f"unparseable ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not http(s)"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "no host"
    if port == 0:
        return "port 0"
    if any(ord(c) < 32 or c == "\\" for c in candidate):
        return "control character or backslash"
    if host == "localhost":
        return None
    try:
        import ipaddress

        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if parts.netloc.startswith("[") or re.fullmatch(r"[\d.]+", host):
        return f"invalid IP address {host!r}"
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"invalid host {host!r}"
    labels = ascii_host.split(".")
    if len(labels) < 2:
        return f"host {host!r} has no top-level domain"
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"invalid host {host!r}"
    tld = labels[-1]
    if not (tld.isalpha() and len(tld) >= 2) and not tld.startswith("xn--"):
        return f"invalid top-level domain {tld!r}"
    return None


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    candidate = f"http://{url}" if url.lower().startswith("www.") else url
    return (urlsplit(candidate).hostname or "").rstrip(".").lower()


def host_allowed(host: str, allowed_domains: list[str]) -> bool:
    """`docs.example.com` is allowed by `example.com`; `badexample.com` is not."""
    return any(host == d or host.endswith("." + d) for d in allowed_domains)


@dataclass(kw_only=True)
class ContainsLink(DetailedEvaluator):
    """The output contains at least one web link (`http://`, `https://` or `www.`).

    Presence only; `valid_links` judges them. The value is 1.0 or 0.0; the explanation gives
    the count and the hosts.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "contains_link"

    def inspect(self, subject: Subject) -> Finding:
        links = [
            (o, u) for o, u in find_urls(str(subject["output_text"]))
            if u.lower().startswith(("http://", "https://", "www."))
        ]  # fmt: skip
        if not links:
            return Finding(False, 0.0, "no link found")
        hosts = sorted({host_of(u) for _, u in links} - {""})
        return Finding(
            True,
            1.0,
            f"{len(links)} link(s) to {', '.join(hosts[:5]) or 'unparsed hosts'}",
            details={"links": [{"offset": o, "url": u} for o, u in links[:100]]},
        )


REACHABLE_STATUSES = frozenset({401, 403, 429})
"""Answers that prove the page exists though we may not read it (login wall, bot block,
rate limit): a fabricated URL gives 404 or no answer, not these."""


def private_address(host: str) -> str | None:
    """The first address `host` resolves to that is not public (loopback, private,
    link-local such as 169.254.169.254, reserved, multicast), or None."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # unresolvable: the request itself reports it
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


class _PrivateHostRefused(Exception):
    pass


def check_reachable(url: str, timeout_s: float, *, allow_private_hosts: bool = False) -> str | None:
    """None when `url` answers a HEAD (or, if HEAD is refused, a GET) with a status below 400
    or in REACHABLE_STATUSES; otherwise why not. Redirects are followed.

    The URLs come from model output, which a prompt injection can steer: unless
    `allow_private_hosts`, a URL (or a redirect) to a non-public address is refused, so an
    evaluation run cannot be made to probe its own network (cloud metadata, admin ports).
    """
    import http.client
    import urllib.error
    import urllib.request

    def refuse_private(target: str) -> None:
        host = host_of(target)
        address = None if allow_private_hosts else private_address(host)
        if address is not None:
            raise _PrivateHostRefused(f"not checked: {host} is a non-public address ({address})")

    class GuardedRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            refuse_private(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    target = f"http://{url}" if url.lower().startswith("www.") else url
    opener = urllib.request.build_opener(GuardedRedirects())
    headers = {"User-Agent": "assay-valid-links/1"}
    try:
        refuse_private(target)
        for method in ("HEAD", "GET"):
            request = urllib.request.Request(target, method=method, headers=headers)
            try:
                with opener.open(request, timeout=timeout_s) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            if method == "HEAD" and status in (405, 501):
                continue
            if status < 400 or status in REACHABLE_STATUSES:
                return None
            return f"HTTP {status}"
    except _PrivateHostRefused as exc:
        return str(exc)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, _PrivateHostRefused):
            return str(exc.reason)
        return f"unreachable ({type(exc.reason).__name__}: {exc.reason})"[:160]
    except (TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
        return f"unreachable ({type(exc).__name__}: {exc})"[:160]
    return None


@dataclass(kw_only=True)
class ValidLinks(DetailedEvaluator):
    """Every link in the output is a syntactically valid http(s) URL, on an allowed domain
    when `allowed_domains` is set, and reachable when `check_reachable` is true.

    Links are `scheme://...` runs (any scheme, so `htps://` or `ftp://` fail) and bare `www.`
    hosts. A valid host is a dotted domain with an alphabetic TLD, an IP address or
    localhost. `allowed_domains` includes subdomains (`example.com` allows
    `docs.example.com`). `check_reachable` (default false: no network) sends an HTTP HEAD to
    each distinct link (GET if HEAD is refused) with `timeout_s`, at most `max_links` per
    output; results are cached per instance. Links to non-public addresses (loopback,
    private ranges, cloud metadata), directly or by redirect, are refused unless
    `allow_private_hosts: true`: the URLs come from model output, which an injected prompt
    can steer. The value is the share of links that pass (1.0
    with no links); a syntax-only failure is `format_break`, a disallowed or dead link
    `hallucination` (invented URLs are the usual cause).
    """

    output: ClassVar[str] = "pass/fail + share of good links 0-1"
    example: ClassVar[dict[str, Any]] = {"allowed_domains": ["example.com"]}
    allowed_domains: list[str] | None = None
    check_reachable: bool = False
    allow_private_hosts: bool = False
    timeout_s: float = 5.0
    max_links: int = 20
    failure_category: str | None = "hallucination"
    metric: str = "valid_links"
    _reachability: dict[str, str | None] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.allowed_domains is not None:
            if (
                not isinstance(self.allowed_domains, list)
                or not self.allowed_domains
                or not all(isinstance(d, str) and d.strip(". ") for d in self.allowed_domains)
            ):
                raise ValueError(
                    "valid_links: `allowed_domains` must be a non-empty list of domain names"
                )
            self.allowed_domains = [d.strip(". ").lower() for d in self.allowed_domains]
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or self.timeout_s <= 0
        ):
            raise ValueError(
                f"valid_links: `timeout_s` must be a positive number (got {self.timeout_s!r})"
            )
        if (
            isinstance(self.max_links, bool)
            or not isinstance(self.max_links, int)
            or self.max_links < 1
        ):
            raise ValueError(
                f"valid_links: `max_links` must be a positive integer (got {self.max_links!r})"
            )

    def _reachable_problem(self, url: str) -> str | None:
        if url not in self._reachability:
            if len(self._reachability) > 10_000:
                self._reachability.clear()
            self._reachability[url] = check_reachable(
                url, self.timeout_s, allow_private_hosts=self.allow_private_hosts
            )
        return self._reachability[url]

    def inspect(self, subject: Subject) -> Finding:
        links = find_urls(str(subject["output_text"]))
        if not links:
            return Finding(True, 1.0, "no links")
        problems: list[tuple[int, str, str]] = []
        syntax_only = True
        checked = 0
        for offset, url in links:
            problem = url_problem(url)
            if (
                problem is None
                and self.allowed_domains is not None
                and not host_allowed(host_of(url), self.allowed_domains)
            ):
                problem, syntax_only = f"host {host_of(url)} not in allowed_domains", False
            if problem is None and self.check_reachable and checked < self.max_links:
                checked += 1
                problem = self._reachable_problem(url)
                syntax_only = syntax_only and problem is None
            if problem is not None:
                problems.append((offset, url, problem))
        good_share = 1 - len(problems) / len(links)
        note = (
            f" (reachability checked for the first {self.max_links})"
            if self.check_reachable and checked >= self.max_links and len(links) > self.max_links
            else ""
        )
        details = {
            "links": len(links),
            "problems": [{"offset": o, "url": u, "problem": p} for o, u, p in problems[:100]],
        }
        if not problems:
            return Finding(
                True,
                1.0,
                f"{len(links)} link(s) valid{' and reachable' if self.check_reachable else ''}{note}",
                details=details,
            )
        shown = "; ".join(f"{_short(u, 80)} at char {o}: {p}" for o, u, p in problems[:5])
        category = "format_break" if syntax_only else "hallucination"
        return Finding(
            False,
            good_share,
            f"{len(problems)} of {len(links)} link(s) bad: {shown}{note}",
            category,
            details,
        )
