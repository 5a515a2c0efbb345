"""JSON output checks: the output parses, has the keys the caller reads, with allowed values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from evaluators.base import DeterministicEvaluator, Subject
from evaluators.vectorised import SqlForm, concat_found, sql_string

MAX_SQL_NESTING_CHARS = 500
"""Texts with this many `[` / `{` are parsed in Python: its parser stops at ~1000 levels."""

_FENCE = re.compile(r"```[ \t]*json\b(?P<body>.*?)```", re.IGNORECASE | re.DOTALL)


class _ParseFailure(Exception):
    pass


def _describe(exc: json.JSONDecodeError, where: str) -> str:
    return f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"


def parse_json_output(text: str) -> Any:
    """The JSON value in a model output: the whole text, or the body of its single
    ```json fenced block (chat models often wrap JSON in a fence and a sentence of prose).

    Raises `_ParseFailure` with a precise message otherwise.
    """
    stripped = text.strip().lstrip("\ufeff")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        fences = list(_FENCE.finditer(text))
        if not fences:
            raise _ParseFailure(_describe(whole_error, "output")) from None
        if len(fences) > 1:
            raise _ParseFailure(
                f"output is not JSON and has {len(fences)} ```json blocks; expected exactly one"
            ) from None
        body = fences[0].group("body").strip()
        try:
            return json.loads(body)
        except json.JSONDecodeError as fence_error:
            raise _ParseFailure(_describe(fence_error, "the ```json block")) from None


def _same_json_value(a: Any, b: Any) -> bool:
    """JSON equality without Python's coercions: `1` is not `"1"`, and `true` is not `1`
    (in Python `True == 1`); `1` and `1.0` are the same JSON number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(kw_only=True)
class IsJson(DeterministicEvaluator):
    """The output is JSON (bare, or in one ```json fenced block).

    `required_keys`: top-level keys that must be present (the output must then be an object).
    `allowed_values`: for a key that is present, the values it may take, compared as JSON
    (`1` does not match `"1"`). A key listed here but absent is not a failure unless it is also
    required. The value is 1.0 when the check passes, else 0.0.
    """

    kind: ClassVar[str] = "json"

    required_keys: list[str] | None = None
    allowed_values: dict[str, list[Any]] | None = None
    failure_category: str | None = "format_break"
    metric: str = "is_json"

    def __post_init__(self) -> None:
        if self.required_keys is not None and (
            not isinstance(self.required_keys, list)
            or not all(isinstance(k, str) and k for k in self.required_keys)
        ):
            raise ValueError("is_json: `required_keys` must be a list of non-empty strings")
        if self.allowed_values is not None:
            if not isinstance(self.allowed_values, dict):
                raise ValueError("is_json: `allowed_values` must map a key to a list of values")
            for key, values in self.allowed_values.items():
                if not isinstance(values, list) or not values:
                    raise ValueError(
                        f"is_json: `allowed_values.{key}` must be a non-empty list of values"
                    )

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        try:
            value = parse_json_output(str(subject["output_text"]))
        except _ParseFailure as exc:
            return False, 0.0, str(exc)
        needs_object = bool(self.required_keys or self.allowed_values)
        if needs_object and not isinstance(value, dict):
            return False, 0.0, f"expected a JSON object, got a JSON {_json_type(value)}"
        problems: list[str] = []
        missing = [k for k in self.required_keys or [] if k not in value]
        if missing:
            problems.append(f"missing required key(s): {', '.join(missing)}")
        for key, allowed in (self.allowed_values or {}).items():
            if key in value and not any(_same_json_value(value[key], a) for a in allowed):
                problems.append(
                    f"key {key!r} has value {_show(value[key])} ({_json_type(value[key])}); "
                    f"allowed: {', '.join(_show(a) for a in allowed)}"
                )
        if problems:
            return False, 0.0, "; ".join(problems)
        return True, 1.0, f"valid JSON {_json_type(value)}"

    def sql_form(self) -> SqlForm | None:
        """Valid bare JSON objects and arrays are decided in SQL; everything else (fenced
        blocks, parse errors and their exact messages, allowed values) in Python.

        yyjson (DuckDB) also accepts trailing commas and NaN/Inf spellings Python rejects, and
        Python fails on nesting deeper than its recursion limit: such texts go to Python."""
        if self.allowed_values:
            return None
        text = "output_text"
        decidable = (
            f"regexp_matches({text}, '^[ \\t\\n\\r]*[{{\\[]') AND coalesce(TRY(json_valid({text})), FALSE) "
            f"AND NOT regexp_matches({text}, ',[ \\t\\n\\r]*[\\]}}]|(?i:nan|inf)') "
            f"AND length({text}) - length(replace(replace({text}, '[', ''), '{{', '')) < {MAX_SQL_NESTING_CHARS}"
        )
        kind = f"CASE json_type({text}) WHEN 'OBJECT' THEN 'object' ELSE 'array' END"
        keys = self.required_keys or []
        if not keys:
            return SqlForm(passed="TRUE", value="1.0", explanation=f"'valid JSON ' || {kind}", python_rows=f"NOT ({decidable})")
        has = [f"list_contains(json_keys({text}), {sql_string(k)})" for k in keys]
        is_object = f"json_type({text}) = 'OBJECT'"
        passed = f"({is_object} AND " + " AND ".join(has) + ")"
        return SqlForm(
            passed=passed,
            value=f"CASE WHEN {passed} THEN 1.0 ELSE 0.0 END",
            explanation=(
                f"CASE WHEN NOT {is_object} THEN 'expected a JSON object, got a JSON array' "
                f"WHEN {passed} THEN 'valid JSON object' "
                f"ELSE 'missing required key(s): ' || {concat_found([f'NOT {h}' for h in has], keys)} END"
            ),
            python_rows=f"NOT ({decidable})",
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
