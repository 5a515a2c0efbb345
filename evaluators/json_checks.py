"""JSON output checks: the output parses, has the keys the caller reads, with allowed values,
fits a JSON Schema, has a field with a value, matches a reference JSON field by field.

Equality is typed JSON equality throughout (`_same_json_value`): `1` is not `"1"`, `true` is
not `1`, `1` and `1.0` are the same number."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from assay.evaluators.base import DeterministicEvaluator, Subject, check_share
from assay.evaluators.evidence import DetailedEvaluator, Finding
from assay.evaluators.vectorised import SqlForm, concat_found, sql_string

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


# ------------------------------------------------------------------ JSON anywhere in a text

MAX_EMBEDDED_SCAN_CHARS = 100_000
MAX_EMBEDDED_STARTS = 200
"""Scanning for embedded JSON tries a decode at each `{` or `[`: bounded, so a long output
full of brackets costs at most this many attempts over the first 100,000 characters."""

_ANY_FENCE = re.compile(
    r"```[ \t]*(?:json|javascript|js)?[ \t]*\n(?P<body>.*?)```", re.IGNORECASE | re.DOTALL
)


def find_embedded_json(text: str) -> tuple[Any, int] | None:
    """The first JSON object or array in a text and its char offset, or None.

    Order: the whole text; the body of each fenced block (```json or a bare fence); then
    every `{`/`[` in the text, decoded with `raw_decode` (so trailing prose is fine). Scalars
    never count: "the answer is 42" does not contain JSON in the sense a caller means; nor
    does a one-scalar array in prose (a citation "[1]").
    """
    stripped = text.strip().lstrip("\ufeff")
    try:
        value = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        pass
    else:
        if isinstance(value, dict | list):
            return value, text.find(stripped[:1]) if stripped else 0
    for fence in _ANY_FENCE.finditer(text):
        try:
            value = json.loads(fence.group("body").strip())
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict | list):
            return value, fence.start("body")
    decoder = json.JSONDecoder()
    head = text[:MAX_EMBEDDED_SCAN_CHARS]
    attempts = 0
    for match in re.finditer(r"[{\[]", head):
        attempts += 1
        if attempts > MAX_EMBEDDED_STARTS:
            break
        try:
            value, _end = decoder.raw_decode(head, match.start())
        except (json.JSONDecodeError, RecursionError):
            continue
        if _counts_as_embedded(value):
            return value, match.start()
    return None


def _counts_as_embedded(value: Any) -> bool:
    """Inside prose, an object always counts; an array only with two or more items or a
    nested object/array, so a citation like "see [1]" is not taken for JSON output."""
    if isinstance(value, dict):
        return True
    if isinstance(value, list):
        return len(value) >= 2 or any(isinstance(v, dict | list) for v in value)
    return False


@dataclass(kw_only=True)
class ContainsJson(DeterministicEvaluator):
    """The output contains a JSON object or array somewhere: the whole text, a fenced code
    block, or embedded in prose ("Here you go: {...} Let me know").

    `json_type`: `any` (default), `object` or `array`. The value is 1.0 when found, else 0.0;
    the explanation gives where it starts. Bare scalars (`42`, `"yes"`) do not count.
    """

    kind: ClassVar[str] = "json"
    example: ClassVar[dict[str, Any]] = {"json_type": "object"}

    json_type: Literal["any", "object", "array"] = "any"
    failure_category: str | None = "format_break"
    metric: str = "contains_json"

    def __post_init__(self) -> None:
        if self.json_type not in ("any", "object", "array"):
            raise ValueError(
                f"contains_json: `json_type` must be any, object or array, got {self.json_type!r}"
            )

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        text = str(subject["output_text"])
        found = find_embedded_json(text)
        if found is None:
            return False, 0.0, "no JSON object or array found"
        value, offset = found
        kind = _json_type(value)
        if self.json_type != "any" and kind != self.json_type:
            return False, 0.0, f"found a JSON {kind} at char {offset}, expected an {self.json_type}"
        return True, 1.0, f"JSON {kind} at char {offset}"


# ---------------------------------------------------------------------------- JSON Schema


def _schema_path(path: Any) -> str:
    """`$.items[0].sku` from a jsonschema error's deque of keys and indices."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(kw_only=True)
class JsonSchema(DetailedEvaluator):
    """The output is JSON (bare, or in one ```json block) that validates against `schema`
    (JSON Schema; the draft is read from `$schema`, default 2020-12).

    The schema itself is checked when the config loads. The explanation names each failing
    path (`$.items[0].qty: -1 is less than the minimum of 1`), at most 5, deepest-first. The
    value is 1.0 when valid, else 0.0. Formats (`email`, `date-time`) are not enforced unless
    `check_formats: true`.
    """

    kind: ClassVar[str] = "json"
    example: ClassVar[dict[str, Any]] = {
        "schema": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"enum": ["open", "closed"]}},
        }
    }

    schema: dict[str, Any]
    check_formats: bool = False
    failure_category: str | None = "format_break"
    metric: str = "json_schema"
    _validator: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        import jsonschema

        if not isinstance(self.schema, dict):
            raise ValueError("json_schema: `schema` must be a JSON Schema object (a mapping)")
        cls = jsonschema.validators.validator_for(
            self.schema, default=jsonschema.Draft202012Validator
        )
        try:
            cls.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(
                f"json_schema: `schema` is not a valid JSON Schema at {_schema_path(exc.path)}: {exc.message}"
            ) from None
        format_checker = cls.FORMAT_CHECKER if self.check_formats else None
        self._validator = cls(self.schema, format_checker=format_checker)

    def inspect(self, subject: Subject) -> Finding:
        try:
            value = parse_json_output(str(subject["output_text"]))
        except _ParseFailure as exc:
            return Finding(False, 0.0, str(exc))
        errors = sorted(
            self._validator.iter_errors(value), key=lambda e: (-len(e.path), list(map(str, e.path)))
        )
        if not errors:
            return Finding(True, 1.0, "valid against the schema")
        shown = "; ".join(f"{_schema_path(e.path)}: {e.message[:160]}" for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        details = {
            "errors": [
                {"path": _schema_path(e.path), "keyword": e.validator, "message": e.message[:300]}
                for e in errors[:50]
            ]
        }
        return Finding(False, 0.0, f"{len(errors)} schema error(s): {shown}{more}", details=details)


# -------------------------------------------------------------------------- one JSON field

_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()


def parse_field_path(path: str) -> list[str]:
    """`items.0.sku` -> ["items", "0", "sku"]; a leading `$.` is allowed. Keys containing a
    dot cannot be addressed (no escaping: none of the outputs we check need it)."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("json_field: `path` must be a non-empty dotted path like `items.0.sku`")
    parts = path.removeprefix("$.").split(".")
    if any(p == "" for p in parts):
        raise ValueError(f"json_field: `path` {path!r} has an empty segment")
    return parts


def resolve_field(value: Any, parts: list[str]) -> tuple[bool, Any, str]:
    """(found, the value at the path, where it stopped). A numeric segment indexes a list
    (non-negative, from 0) or is a key of an object."""
    current = value
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if isinstance(current, dict):
            if part not in current:
                return False, None, f"no key {part!r} at {where}"
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit():
                return (
                    False,
                    None,
                    f"{'.'.join(parts[:depth]) or '$'} is an array; {part!r} is not an index",
                )
            index = int(part)
            if index >= len(current):
                return (
                    False,
                    None,
                    f"index {index} out of range at {where} (array of {len(current)})",
                )
            current = current[index]
        else:
            return (
                False,
                None,
                f"{'.'.join(parts[:depth]) or '$'} is a {_json_type(current)}, not an object or array",
            )
    return True, current, ""


@dataclass(kw_only=True)
class JsonField(DeterministicEvaluator):
    """The output's JSON has a field at `path` (dotted, list indices as numbers:
    `items.0.sku`), equal to `expected` when given.

    Equality is typed JSON equality: `1` is not `"1"`, `true` is not `1`, `null` only equals
    `null`; `1` and `1.0` are equal (JSON has one number type). Objects and arrays compare
    deeply. Without `expected` the field only has to exist (a `null` value exists). The value
    is 1.0 when the check passes, else 0.0.
    """

    kind: ClassVar[str] = "json"
    example: ClassVar[dict[str, Any]] = {"path": "items.0.sku", "expected": "A-100"}

    path: str
    expected: Any = _UNSET
    failure_category: str | None = "format_break"
    metric: str = "json_field"
    _parts: list[str] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self._parts = parse_field_path(self.path)

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        try:
            value = parse_json_output(str(subject["output_text"]))
        except _ParseFailure as exc:
            return False, 0.0, str(exc)
        found, actual, reason = resolve_field(value, self._parts)
        if not found:
            return False, 0.0, f"field {self.path} missing: {reason}"
        if self.expected is _UNSET:
            return True, 1.0, f"field {self.path} present ({_json_type(actual)})"
        if _same_json_value(actual, self.expected):
            return True, 1.0, f"field {self.path} equals {_show(self.expected)}"
        return (
            False,
            0.0,
            f"field {self.path} is {_show(actual)} ({_json_type(actual)}), "
            f"expected {_show(self.expected)} ({_json_type(self.expected)})",
        )


# ----------------------------------------------------------------- compare with a reference


def json_leaves(value: Any, path: str = "$") -> dict[str, Any]:
    """Every leaf of a JSON value by path (`$.items[0].sku`). Scalars, and empty objects and
    arrays, are leaves; arrays are addressed by position."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(json_leaves(item, f"{path}.{key}"))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(json_leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def json_similarity(
    actual: Any, expected: Any, *, ignore_extra: bool = False
) -> tuple[float, list[str]]:
    """(share of matching leaves, the differing paths with what differs).

    The denominator is every leaf path of either value (an extra field in the output counts
    against it), or only the expected's paths with `ignore_extra`. Leaves compare with typed
    JSON equality (`1 == 1.0`, `1 != "1"`). Two values with no leaves at all cannot occur:
    an empty object is itself a leaf.
    """
    got, want = json_leaves(actual), json_leaves(expected)
    paths = list(want) if ignore_extra else list(dict.fromkeys([*want, *got]))
    diffs: list[str] = []
    for path in paths:
        if path not in got:
            diffs.append(f"{path} missing (expected {_show(want[path], 40)})")
        elif path not in want:
            diffs.append(f"{path} unexpected ({_show(got[path], 40)})")
        elif not _same_json_value(got[path], want[path]):
            diffs.append(f"{path} is {_show(got[path], 40)}, expected {_show(want[path], 40)}")
    return (len(paths) - len(diffs)) / len(paths), diffs


@dataclass(kw_only=True)
class JsonDeepCompare(DetailedEvaluator):
    """The output's JSON matches `expected_output`'s JSON, leaf by leaf.

    The value is the share of leaf fields (recursively; arrays by position) that are equal
    with typed JSON equality; passes at >= `threshold` (default 1.0: every field). An extra
    field in the output counts as a difference unless `ignore_extra: true`. The explanation
    lists the differing paths (at most 10). `expected_output` may be JSON text or an
    already-decoded value.
    """

    kind: ClassVar[str] = "json"
    output: ClassVar[str] = "pass/fail + matching field share 0-1"
    example: ClassVar[dict[str, Any]] = {"threshold": 0.9}

    threshold: float = 1.0
    ignore_extra: bool = False
    failure_category: str | None = "reasoning_error"
    required_fields: tuple[str, ...] = ("output_text", "expected_output")
    metric: str = "json_deep_compare"

    def __post_init__(self) -> None:
        check_share("json_deep_compare", "threshold", self.threshold)

    def inspect(self, subject: Subject) -> Finding:
        expected = subject["expected_output"]
        if isinstance(expected, str):
            try:
                expected = parse_json_output(expected)
            except _ParseFailure as exc:  # a broken reference is not the model's failure
                return Finding(None, None, f"expected_output: {exc}", status="error")
        try:
            actual = parse_json_output(str(subject["output_text"]))
        except _ParseFailure as exc:
            return Finding(False, 0.0, str(exc), "format_break")
        share, diffs = json_similarity(actual, expected, ignore_extra=self.ignore_extra)
        passed = share >= self.threshold
        head = (
            f"{share:.3f} of fields match ({'>=' if passed else '<'} threshold {self.threshold:g})"
        )
        if not diffs:
            return Finding(passed, share, head)
        shown = "; ".join(diffs[:10]) + (f" (+{len(diffs) - 10} more)" if len(diffs) > 10 else "")
        return Finding(
            passed, share, f"{head}; differs: {shown}", details={"differences": diffs[:100]}
        )
