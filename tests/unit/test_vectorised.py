"""The vectorised (DuckDB) form of each deterministic evaluator gives exactly the scores of its
per-call Python path: status, verdict, value, explanation and category, row for row."""

from __future__ import annotations

import json
import random

import duckdb
import pyarrow as pa
import pytest
from assay.evaluators.registry import build_evaluator
from assay.evaluators.vectorised import python_regex_to_re2, run_sql_form

from assay.config import AppliesTo
from assay.selection import selects, selects_sql

PIECES = [
    "refund", "Refund", "REFUND", "return policy", "Straße", "STRASSE", "strasse", "İstanbul",
    "\u212a", "k", "ǅ", "ΣΑΣ", "σας", "٣٤٥", "123-4567", "555 1234", "😀", "\n", "\r\n", "\t", "\x1c",
    "\u00a0", "INTERNAL ONLY", "internal only", "{{name}}", "foo", "line", "ﬁle", "ß", " ", "  ",
    "a", "bbbc", "ac", "x" * 30, "é", "e\u0301", "it's", "don't-stop", "back\\slash", "\x0b", "\x0c", "\r",
    "say \"hi\"", "  refund  ",
]
JSON_TEXTS = [
    '{"category": "billing", "priority": "high"}',
    ' {"category": "billing"}\n',
    '[1, 2, 3]',
    '[1, 2,]',
    '{"a": 1,}',
    '{"a": NaN}',
    '[Infinity]',
    '"just a string"',
    '42',
    '```json\n{"category": "returns", "priority": "low"}\n```',
    'Here you go: ```json\n{"a": 1}\n``` and ```json\n{"b": 2}\n```',
    '{"category": "billing", "category": "shipping", "priority": 1}',
    '\ufeff{"a": 1}',
    '\x0c{"a": 1}',
    "[" * 600 + "]" * 600,
    '{"url": "https://x.example//path", "priority": "low", "category": "x"}',
    '{"a": "\\ud800"}',
    '{"a": 1} trailing',
    '{broken',
]


def _text(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return ""
    if roll < 0.35:
        return rng.choice(JSON_TEXTS)
    return "".join(rng.choice(PIECES) + rng.choice(["", " ", "\n", ". "]) for _ in range(rng.randint(1, 8)))


def _subjects(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    subjects = []
    for i in range(n):
        latency = rng.choice([None, 0.0, 2.5, 3.5, 999.5, 1000.0, 1000.4, 5000.0, 12345.678, float("nan"), float("inf")])
        cost = rng.choice([None, 0.0, 1e-7, 0.0004995, 0.002, 0.0020000001, 0.5])
        status = rng.choice(["success", "success", "error"])
        subjects.append(
            {
                "call_id": f"c{i:05d}",
                "subject_id": f"c{i:05d}",
                "feature": rng.choice(["rag_answer", "classify_ticket", "tool_router"]),
                "app": rng.choice(["acme", "beta", None]),
                "environment": rng.choice(["production", "staging"]),
                "model": rng.choice(["gpt-4o-mini", "claude-3-haiku"]),
                "prompt_id": rng.choice(["p1", "p2", None]),
                "prompt_version": rng.choice(["1", "2", None]),
                "metadata": rng.choice(
                    [None, {}, {"tags": ["vip"]}, {"tags": ["beta", "vip"]}, {"tags": "vip"}, {"tags": [1, "x"]}]
                ),
                "output_text": _text(rng),
                "status": status,
                "error_type": rng.choice([None, "", "RateLimitError"]) if status == "error" else None,
                "finish_reason": rng.choice([None, "stop", "length", "max_tokens", "tool_calls", ""]),
                "latency_ms": latency,
                "cost_usd": cost,
            }
        )
    return subjects


def _table(subjects: list[dict]) -> pa.Table:
    rows = [dict(s, metadata=None if s["metadata"] is None else json.dumps(s["metadata"])) for s in subjects]
    for row in rows:
        row.pop("subject_id")
    return pa.Table.from_pylist(rows)


EVALUATORS = [
    ("contains", {"value": ["refund", "return"], "mode": "any"}),
    ("contains", {"value": ["STRASSE", "k"], "mode": "all"}),
    ("contains", {"value": ["INTERNAL ONLY", "{{name}}"], "mode": "none"}),
    ("contains", {"value": ["Straße", "ǅ"], "mode": "any", "ignore_case": False}),
    ("contains", {"value": "İstanbul", "mode": "any"}),
    ("contains", {"value": ["it's", 'say "x"'], "mode": "none"}),
    ("regex", {"pattern": r"^\s*(```json\s*)?\{", "must_match": True}),
    ("regex", {"pattern": r"\brefund\b"}),
    ("regex", {"pattern": r"\d{3}", "must_match": False}),
    ("regex", {"pattern": "strasse", "ignore_case": True}),
    ("regex", {"pattern": r"foo$"}),
    ("regex", {"pattern": r"^$"}),
    ("regex", {"pattern": r"(?m)^line$"}),
    ("regex", {"pattern": r"[A-Z]{2,}"}),
    ("regex", {"pattern": r"a|b+?c"}),
    ("regex", {"pattern": r"\W+\S"}),
    ("regex", {"pattern": r"\{\{\w+\}\}", "must_match": False}),
    ("regex", {"pattern": r"[^a-z ]"}),
    ("regex", {"pattern": "Straße"}),
    ("regex", {"pattern": r"(?s)refund.+return"}),
    ("regex", {"pattern": r"x{30}"}),
    ("length", {"min_chars": 20, "max_chars": 120}),
    ("length", {"unit": "tokens", "min_tokens": 3, "max_tokens": 20}),
    ("word_count", {"min_words": 2, "max_words": 12}),
    ("one_line", {}),
    ("equals", {"value": ["refund", "foo"], "ignore_case": True}),
    ("equals", {"value": "Refund", "strip_whitespace": False}),
    ("starts_with", {"value": ["refund", "{"]}),
    ("ends_with", {"value": ["}", "line"], "ignore_case": True}),
    ("contains_all", {"value": ["a", "refund"]}),
    ("length", {"max_chars": 5}),
    ("is_json", {}),
    ("is_json", {"required_keys": ["category", "priority"]}),
    ("latency", {"max_ms": 1000}),
    ("latency", {"max_ms": 999.5}),
    ("cost", {"max_usd": 0.002}),
    ("provider_status", {}),
    ("finish_reason", {}),
]


def _python_scores(evaluator, subjects):
    return {_key(s) for subject in subjects for s in _evaluate(evaluator, subject)}


def _evaluate(evaluator, subject):
    try:
        return evaluator.evaluate(subject)
    except ValueError as exc:  # the scorer turns this into an `error` score; compare that
        return [evaluator.score(subject, status="error", label=type(exc).__name__, explanation=str(exc)[:500])]


def _key(score) -> tuple:
    value = score.value
    if isinstance(value, float) and value != value:
        value = "nan"
    return (score.subject_id, score.status, score.passed, value, score.explanation, score.failure_category, score.metric, score.evaluator_version)


@pytest.fixture(scope="module")
def partition():
    subjects = _subjects(1500, seed=7)
    con = duckdb.connect()
    con.register("calls", _table(subjects))
    yield con, subjects
    con.close()


@pytest.mark.parametrize(("type_", "params"), EVALUATORS, ids=lambda v: v if isinstance(v, str) else json.dumps(v)[:40])
def test_sql_form_equals_python_path(partition, type_, params):
    con, subjects = partition
    evaluator = build_evaluator("e", type_, params)
    form = evaluator.sql_form()
    assert form is not None, f"{type_} {params} should be vectorised"
    run = run_sql_form(con, "calls", evaluator, form)
    by_id = {s["subject_id"]: s for s in subjects}
    vectorised = {
        (r["subject_id"], r["status"], r["passed"], "nan" if r["value"] != r["value"] else r["value"], r["explanation"],
         r["failure_category"], r["metric"], r["evaluator_version"])
        for r in run.scores.to_pylist()
    }
    vectorised |= _python_scores(evaluator, [by_id[i] for i in run.python_subject_ids])
    expected = _python_scores(evaluator, subjects)
    assert vectorised == expected, sorted(vectorised ^ expected)[:6]


@pytest.mark.parametrize(("type_", "params"), EVALUATORS, ids=lambda v: v if isinstance(v, str) else json.dumps(v)[:40])
def test_plain_ascii_rows_never_fall_back_to_python(type_, params):
    """Routing to Python is for the rare text SQL cannot decide exactly, not the common case."""
    rng = random.Random(3)
    # Plain printable ASCII: a quote or backslash in a failing text is repr()'d by Python.
    ascii_pieces = [p for p in PIECES if p.isascii() and p.isprintable() and not set(p) & set("'\\")]
    subjects = _subjects(300, seed=5)
    for s in subjects:
        kept_json = s["output_text"] in JSON_TEXTS[:3]
        s["output_text"] = s["output_text"].strip() if kept_json else " ".join(rng.choice(ascii_pieces) for _ in range(6))
        s["latency_ms"], s["cost_usd"] = 120.0, 0.001
        if type_ == "is_json":  # invalid JSON goes to Python by design: its error message is exact
            s["output_text"] = rng.choice(JSON_TEXTS[:3])
    con = duckdb.connect()
    con.register("calls", _table(subjects))
    evaluator = build_evaluator("e", type_, params)
    run = run_sql_form(con, "calls", evaluator, evaluator.sql_form())
    assert run.python_subject_ids == []


@pytest.mark.parametrize(
    "pattern",
    [r"(?<=a)b", r"(a)\1", r"(?i:x)y", r"a{2000}", r"(?>a+)b"],
)
def test_patterns_re2_cannot_express_stay_in_python(pattern):
    assert python_regex_to_re2(pattern, ignore_case=False) is None
    assert build_evaluator("r", "regex", {"pattern": pattern}).sql_form() is None


def test_ignore_case_with_a_non_ascii_pattern_stays_in_python():
    assert python_regex_to_re2("straße", ignore_case=True) is None


SELECTORS = [
    AppliesTo(),
    AppliesTo(features=["rag_answer"]),
    AppliesTo(apps=["acme"], environments=["production"]),
    AppliesTo(models=["claude-3-haiku"], prompt_ids=["p1", "p2"], prompt_versions=["2"]),
    AppliesTo(tags=["vip"]),
    AppliesTo(tags=["x", "1"]),
    AppliesTo(features=[]),
    AppliesTo(sample_rate=0.3),
    AppliesTo(features=["tool_router", "classify_ticket"], sample_rate=0.5, tags=["beta"]),
]


@pytest.mark.parametrize("applies_to", SELECTORS, ids=lambda a: json.dumps(a.model_dump(exclude_defaults=True)))
def test_selector_sql_selects_the_same_calls_as_python(partition, applies_to):
    con, subjects = partition
    in_python = {s["call_id"] for s in subjects if selects(applies_to, "judge_x", s, s["call_id"])}
    in_sql = {r[0] for r in con.execute(f"SELECT call_id FROM calls WHERE {selects_sql(applies_to, 'judge_x')}").fetchall()}
    assert in_sql == in_python
    if applies_to.sample_rate < 1:
        share = len(in_python) / len(subjects)
        assert abs(share - applies_to.sample_rate * (len([s for s in subjects if selects(applies_to.model_copy(update={"sample_rate": 1.0}), "judge_x", s, s["call_id"])]) / len(subjects))) < 0.06
