"""Text evaluators: substrings (`contains`) and whole-text comparisons (`equals`,
`starts_with`, `ends_with`), and the helpers the other text modules share.

The other text checks live beside it, one concern each: `text_regex` (patterns and the
backtracking guard), `text_size` (length, words, reading time, one line), `text_language`,
`text_gibberish`, `text_email` and `text_links` (the only one that may call the network).

All read `output_text`; a subject without one is `skipped` by the base class (an
empty string counts as missing too: an empty answer is a provider or format problem that
other evaluators report, not a substring or length verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from assay.evaluators.base import DeterministicEvaluator, Subject
from assay.evaluators.vectorised import (
    SqlForm,
    casefold_mismatch_class,
    concat_found,
    non_ascii,
    sql_string,
)

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


_ASCII_WORD_CHAR = "0-9A-Za-z_"
_ASCII_SPACE = "\\t-\\r\\x1c-\\x20"  # str.isspace() within ASCII


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
