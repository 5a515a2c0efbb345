"""Vectorised evaluators: a deterministic evaluator's verdict over a whole partition as one
DuckDB query, equal to its per-call Python path.

An evaluator offers `sql_form() -> SqlForm | None`: SQL expressions over the partition's
columns (the call record's names) for `passed`, `value` and `explanation`. Where the SQL
cannot be proved to agree with Python for some rows (Unicode case folding that DuckDB's
`lower` does differently, a JSON text Python parses more leniently than yyjson, a regex class
whose meaning differs outside ASCII), the form marks those rows with `python_rows` and the
caller scores them with `evaluate()` instead. So the fast path never changes a verdict; it
only decides the rows it can decide exactly. `tests/unit/test_vectorised.py` checks equality
on generated data.

Missing inputs are handled here for every form, as the base class does per call: a row whose
required field is NULL or empty gets a `skipped` score naming the fields.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from assay.contracts.score import SCORE_ARROW_SCHEMA

NUMERIC_FIELDS = frozenset({"latency_ms", "ttft_ms", "cost_usd", "input_tokens", "output_tokens", "feedback_score"})


@dataclass(frozen=True)
class SqlForm:
    """One evaluator's verdict as SQL over a partition; see the module docstring."""

    passed: str
    """BOOLEAN expression."""
    value: str
    """DOUBLE expression (NULL allowed)."""
    explanation: str
    """VARCHAR expression, identical to the Python path's explanation."""
    python_rows: str = "FALSE"
    """BOOLEAN: rows the SQL cannot decide exactly; the caller scores them per call."""


def sql_string(text: str) -> str:
    """A SQL string literal (DuckDB: standard quoting, no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"


def sql_number(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def missing_sql(field: str) -> str:
    """SQL for `assay.evaluators.base.missing_fields`: absent (NULL) or empty."""
    if field in NUMERIC_FIELDS:
        return f"({field} IS NULL)"
    return f"({field} IS NULL OR CAST({field} AS VARCHAR) IN ('', '[]'))"


def _ranges_class(codepoints: Iterable[int]) -> str:
    """An RE2 character class matching exactly these code points (empty -> never matches)."""
    points = sorted(set(codepoints))
    if not points:
        return r"[^\x{0}-\x{10FFFF}]"
    parts: list[str] = []
    start = prev = points[0]
    for cp in points[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev != start else ""))
        start = prev = cp
    return "[" + "".join(parts) + "]"


@cache
def casefold_mismatch_class() -> str:
    """RE2 class of the code points where DuckDB's `lower` differs from Python's `casefold`
    (ß, İ, ligatures, ...): text containing one is compared case-insensitively in Python.

    Measured against the DuckDB in use rather than listed by hand, so a DuckDB or Python
    upgrade cannot silently change a verdict."""
    import duckdb

    # NUL (the separator below) and the surrogates (not characters) are left out.
    points = [cp for cp in range(1, sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    con = duckdb.connect()
    try:
        # One string back (NUL-separated) instead of a million rows: the transfer dominates.
        (joined,) = con.execute(
            "SELECT string_agg(lower(chr(CAST(range AS INTEGER))), chr(0) ORDER BY range) "
            "FROM range(1, ?) WHERE range NOT BETWEEN 55296 AND 57343",
            [sys.maxunicode + 1],
        ).fetchone()
    finally:
        con.close()
    lowered = joined.split("\0")
    return _ranges_class(cp for cp, low in zip(points, lowered, strict=True) if low != chr(cp).casefold())


def non_ascii(col: str) -> str:
    """SQL: the text has a character outside ASCII."""
    return f"regexp_matches({col}, '[^\\x00-\\x7F]')"


def concat_found(flags: Sequence[str], labels: Sequence[str]) -> str:
    """SQL for `', '.join(label for flag, label in zip(flags, labels) if flag)`."""
    return "concat_ws(', ', " + ", ".join(f"CASE WHEN {f} THEN {sql_string(lab)} END" for f, lab in zip(flags, labels, strict=True)) + ")"


# ---------------------------------------------------------------------------- regex: Python -> RE2

_MAXREPEAT = 4294967295
_RE2_MAX_COUNT = 1000
_ASCII_CATEGORY_RANGES = {
    # Python's str-pattern classes restricted to ASCII (rows with other characters go to Python).
    "CATEGORY_DIGIT": [(0x30, 0x39)],
    "CATEGORY_WORD": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    # str.isspace() in ASCII: \t \n \v \f \r, the four separators \x1c-\x1f, and space.
    "CATEGORY_SPACE": [(0x09, 0x0D), (0x1C, 0x20)],
}


class _NotRe2(Exception):
    """The pattern uses something RE2 lacks or means differently (lookaround, backreference,
    local flags, counts over 1000): it stays on the Python path."""


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for low, high in sorted(ranges):
        if low > start:
            out.append((start, low - 1))
        start = high + 1
    if start <= 0x10FFFF:
        out.append((start, 0x10FFFF))
    return out


def _range_text(low: int, high: int) -> str:
    return f"\\x{{{low:X}}}" + (f"-\\x{{{high:X}}}" if high != low else "")


class _Re2Writer:
    def __init__(self) -> None:
        self.unicode_sensitive = False
        """Set when the pattern's meaning depends on ASCII-only text (categories, \\b)."""

    def category(self, name: str) -> list[tuple[int, int]]:
        self.unicode_sensitive = True
        negate = name.startswith("CATEGORY_NOT_")
        base = name.replace("CATEGORY_NOT_", "CATEGORY_")
        if base not in _ASCII_CATEGORY_RANGES:
            raise _NotRe2(name)
        ranges = _ASCII_CATEGORY_RANGES[base]
        return _complement(ranges) if negate else ranges

    def char_class(self, items: list) -> str:
        negate, ranges = False, []
        for op, av in items:
            name = str(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                ranges.append((av, av))
            elif name == "RANGE":
                ranges.append(av)
            elif name == "CATEGORY":
                ranges.extend(self.category(str(av)))
            else:
                raise _NotRe2(name)
        if not ranges:
            raise _NotRe2("empty class")
        return ("[^" if negate else "[") + "".join(_range_text(a, b) for a, b in ranges) + "]"

    def sequence(self, items) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op, av) -> str:
        name = str(op)
        if name == "LITERAL":
            return _range_text(av, av)
        if name == "NOT_LITERAL":
            return "[^" + _range_text(av, av) + "]"
        if name == "ANY":
            return "."
        if name == "IN":
            return self.char_class(av)
        if name == "CATEGORY":
            return "[" + "".join(_range_text(a, b) for a, b in self.category(str(av))) + "]"
        if name == "BRANCH":
            return "(?:" + "|".join(self.sequence(alt) for alt in av[1]) + ")"
        if name == "SUBPATTERN":
            _group, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise _NotRe2("local flags")
            return "(?:" + self.sequence(body) + ")"
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, body = av
            if low > _RE2_MAX_COUNT or (high != _MAXREPEAT and high > _RE2_MAX_COUNT):
                raise _NotRe2("count over 1000")
            count = f"{{{low},}}" if high == _MAXREPEAT else f"{{{low},{high}}}"
            return "(?:" + self.sequence(body) + ")" + count + ("?" if name == "MIN_REPEAT" else "")
        if name == "AT":
            where = str(av)
            if where in ("AT_BOUNDARY", "AT_NON_BOUNDARY"):
                self.unicode_sensitive = True
                return "\\b" if where == "AT_BOUNDARY" else "\\B"
            return {
                "AT_BEGINNING": "^",
                "AT_BEGINNING_STRING": "\\A",
                "AT_END_STRING": "\\z",
                # Python's `$` (no MULTILINE) also matches before a final newline; RE2's does not.
                "AT_END": "$",
            }[where]
        raise _NotRe2(name)


@dataclass(frozen=True)
class Re2Pattern:
    search: str
    """RE2 pattern that matches where Python's `re.search` does."""
    position: str
    """RE2 pattern whose group 1 is the text before the first match (its start offset)."""
    ascii_only: bool
    """Equal to Python only on ASCII text: other rows go to the Python path."""


def python_regex_to_re2(pattern: str, *, ignore_case: bool) -> Re2Pattern | None:
    """An RE2 pattern with Python `re` semantics for `pattern`, or None when there is none."""
    import re
    from re import _parser  # type: ignore[attr-defined]

    flags = re.IGNORECASE if ignore_case else 0
    parsed = _parser.parse(pattern, flags)
    state_flags = parsed.state.flags
    writer = _Re2Writer()
    try:
        body = writer.sequence(parsed)
    except _NotRe2:
        return None
    multiline = bool(state_flags & re.MULTILINE)
    if not multiline:
        body = body.replace("$", "(?:\\n?\\z)") if "$" in body else body
    inline = ("i" if state_flags & re.IGNORECASE else "") + ("m" if multiline else "") + ("s" if state_flags & re.DOTALL else "")
    if state_flags & re.IGNORECASE and any(ord(ch) > 0x7F for ch in pattern):
        return None  # Unicode case folding of the pattern itself: leave it to Python
    prefix = f"(?{inline})" if inline else ""
    return Re2Pattern(
        search=prefix + body,
        position=prefix + "\\A((?s:.*?))(?:" + body + ")",
        ascii_only=writer.unicode_sensitive or bool(state_flags & re.IGNORECASE),
    )


# ---------------------------------------------------------------------------- running


@dataclass(frozen=True)
class VectorisedRun:
    """One evaluator's SQL scores (Arrow, score schema) and the subject ids left to Python."""

    scores: pa.Table
    python_subject_ids: list[str]


_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.int64(): "BIGINT",
}


def _null_of(field: pa.Field) -> str:
    duck = _DUCK_TYPES.get(field.type)
    if duck is None:
        if pa.types.is_timestamp(field.type):
            duck = "TIMESTAMPTZ"
        elif pa.types.is_integer(field.type):
            duck = "BIGINT"
        else:
            duck = "VARCHAR"
    return f"NULL::{duck}"


def run_sql_form(
    con: Any,
    relation: str,
    evaluator: Any,
    form: SqlForm,
    *,
    where: str = "TRUE",
    subject_id_column: str = "call_id",
    run_id: str | None = None,
    scored_at: datetime | None = None,
) -> VectorisedRun:
    """Score every row of `relation` (a table, view or `read_parquet(...)`) selected by
    `where` with one evaluator's SQL form.

    Returns the scores of the rows decided in SQL, in the score contract's schema, and the
    ids of the rows marked `python_rows`, for the caller to score per call.
    """
    required: Sequence[str] = tuple(evaluator.required_fields)
    missing_list = (
        "concat_ws(', ', " + ", ".join(f"CASE WHEN {missing_sql(f)} THEN {sql_string(f)} END" for f in required) + ")"
        if required
        else "''"
    )
    category = evaluator.failure_category
    computed = {
        "subject_id": f"CAST({subject_id_column} AS VARCHAR)",
        "evaluator": sql_string(evaluator.name),
        "evaluator_version": sql_string(str(evaluator.version)),
        "metric": sql_string(evaluator.metric or evaluator.name),
        "value": "CASE WHEN missing = '' THEN v_value END",
        "passed": "CASE WHEN missing = '' THEN v_passed END",
        "failure_category": (
            f"CASE WHEN missing = '' AND v_passed = FALSE THEN {sql_string(category)} END" if category else "NULL::VARCHAR"
        ),
        "explanation": "CASE WHEN missing = '' THEN v_explanation ELSE 'missing input: ' || missing END",
        "status": "CASE WHEN missing = '' THEN 'completed' ELSE 'skipped' END",
        "run_id": sql_string(run_id) if run_id else "NULL::VARCHAR",
        "scored_at": f"TIMESTAMPTZ {sql_string(scored_at.isoformat())}" if scored_at else "NULL::TIMESTAMPTZ",
    }
    select = ",\n  ".join(
        f"{computed[f.name]} AS {f.name}" if f.name in computed else f"{_null_of(f)} AS {f.name}"
        for f in SCORE_ARROW_SCHEMA
    )
    # `missing` first: the verdict expressions are only meaningful on complete rows, and
    # CASE keeps DuckDB from failing on them where an input is NULL.
    sql = f"""
WITH src AS (SELECT * FROM {relation} WHERE {where}),
m AS (SELECT *, {missing_list} AS missing FROM src),
d AS (
  SELECT *, (missing = '' AND coalesce(({form.python_rows}), FALSE)) AS to_python FROM m
),
v AS (
  SELECT *,
    CASE WHEN missing = '' AND NOT to_python THEN ({form.passed}) END AS v_passed,
    CASE WHEN missing = '' AND NOT to_python THEN CAST(({form.value}) AS DOUBLE) END AS v_value,
    CASE WHEN missing = '' AND NOT to_python THEN ({form.explanation}) END AS v_explanation
  FROM d
)
SELECT to_python, {select}
FROM v
"""
    table = con.sql(sql).to_arrow_table()
    to_python = table.column("to_python")
    python_ids = table.filter(to_python).column("subject_id").to_pylist()
    decided = table.filter(pc.invert(to_python)).drop(["to_python"])
    return VectorisedRun(decided.select(SCORE_ARROW_SCHEMA.names).cast(SCORE_ARROW_SCHEMA), python_ids)
