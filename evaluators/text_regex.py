"""The `regex` evaluator and the guard that refuses user patterns which backtrack
catastrophically (`compile_guarded`: a walk over the parsed pattern for nested quantifiers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from re import _compiler, _parser  # type: ignore[attr-defined]  # stdlib, Python >= 3.11
from typing import Any, ClassVar

from assay.evaluators.base import DeterministicEvaluator, Subject
from assay.evaluators.text import MAX_SEARCH_CHARS, _short
from assay.evaluators.vectorised import (
    SqlForm,
    non_ascii,
    python_regex_to_re2,
    sql_string,
)

MAX_PATTERN_CHARS = 500


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
