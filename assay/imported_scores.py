"""Imported scores: verdicts from human raters or external evaluators, in the score contract.

`assay scores import FILE` reads JSONL or CSV rows of `subject_id`, `metric`, `value` and an
optional `passed` (plus optional `candidate_id`, `explanation`, `failure_category`), and stores
them as scores whose evaluator is `imported:<source>` (source: `--source`, default the file's
stem), one lake partition per file content (`imported_scores/batch=<hash>`): importing the same
file again replaces its rows instead of adding duplicates.

Rows with a `candidate_id` score that candidate's output on a regression case (subject =
case_id): `candidate_scores` adds them to the candidate's partition, so the gate weighs them
like any evaluator's. A row with a value but no verdict is kept as `unavailable` (the gate only
counts verdicts) unless `--pass-threshold` turns values into verdicts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from assay.calibration import FAIL_WORDS, PASS_WORDS
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.contracts.taxonomy import FAILURE_CATEGORIES
from assay.tabular import table_file_rows

IMPORTED_SCORES_TABLE = "imported_scores"
IMPORTED_PREFIX = "imported:"
IMPORTED_SCORE_SCHEMA = SCORE_ARROW_SCHEMA.append(pa.field("candidate_id", pa.string())).append(
    pa.field("source_file", pa.string())
)


class ScoreFileError(ValueError):
    """A score file cannot be imported: names the file, line and key."""


def _source_name(raw: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", raw.strip().lower()).strip("-")
    if not name:
        raise ScoreFileError(f"--source {raw!r}: give a name of letters, digits, `-`, `_` or `.`")
    return name


def _passed(raw: Any, where: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in PASS_WORDS:
        return True
    if text in FAIL_WORDS:
        return False
    raise ScoreFileError(f"{where}: key `passed`: {raw!r} is not a verdict; valid: true/false, pass/fail, 1/0")


def read_score_file(
    path: Path | str, *, source: str | None = None, pass_threshold: float | None = None
) -> list[dict[str, Any]]:
    """Rows in the imported-score schema (the Score contract plus candidate_id, source_file)."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: no such file")
    evaluator = IMPORTED_PREFIX + _source_name(source or path.stem)
    imported_at = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, record in table_file_rows(path, error=ScoreFileError, what="score"):
        where = f"{path}:{line}"
        subject = str(record.get("subject_id") or "").strip()
        metric = str(record.get("metric") or "").strip()
        for key, value in (("subject_id", subject), ("metric", metric)):
            if not value:
                raise ScoreFileError(f"{where}: key `{key}` is missing or empty")
        raw_value = record.get("value")
        value = None
        if raw_value not in (None, ""):
            try:
                value = float(raw_value)
            except (TypeError, ValueError):
                raise ScoreFileError(f"{where}: key `value`: {raw_value!r} is not a number") from None
        passed = _passed(record.get("passed"), where)
        if passed is None and value is not None and pass_threshold is not None:
            passed = value >= pass_threshold
        if value is None and passed is None:
            raise ScoreFileError(f"{where}: give `value` (a number) or `passed` (a verdict), or both")
        category = record.get("failure_category") or None
        if category is not None and category not in FAILURE_CATEGORIES:
            raise ScoreFileError(f"{where}: key `failure_category`: {category!r}; valid: {', '.join(sorted(FAILURE_CATEGORIES))}")
        candidate_id = str(record.get("candidate_id") or "").strip() or None
        key = (candidate_id or "", subject, metric)
        if key in seen:
            raise ScoreFileError(f"{where}: {subject!r} / {metric!r} already scored on line {seen[key]}")
        seen[key] = line
        score = Score(
            subject_id=subject,
            evaluator=evaluator,
            evaluator_version="1",
            metric=metric,
            value=value,
            passed=passed,
            failure_category=category if passed is False else None,
            explanation=(record.get("explanation") or None)
            if passed is not None
            else "imported value without a verdict (give `passed`, or import with --pass-threshold)",
            status="completed" if passed is not None else "unavailable",
            scored_at=imported_at,
        )
        rows.append(score.model_dump() | {"candidate_id": candidate_id, "source_file": path.name})
    if not rows:
        raise ScoreFileError(f"{path}: no scores in the file")
    return rows


def import_score_file(
    lake, path: Path | str, *, source: str | None = None, pass_threshold: float | None = None
) -> tuple[str, list[dict[str, Any]]]:
    rows = read_score_file(path, source=source, pass_threshold=pass_threshold)
    batch = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    lake.write_partition(
        IMPORTED_SCORES_TABLE, rows, partition={"batch": batch}, schema=IMPORTED_SCORE_SCHEMA, json_columns=SCORE_JSON_COLUMNS
    )
    return batch, rows


def imported_candidate_scores(lake, candidate_id: str, subject_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The imported scores of one candidate's outputs on these cases, in the Score contract;
    when several files score the same (case, evaluator, metric), the latest import wins."""
    table = lake.read_table(IMPORTED_SCORES_TABLE)
    if table is None:
        return []
    wanted = set(subject_ids)
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in table.to_pylist():
        if row.get("candidate_id") != candidate_id or row["subject_id"] not in wanted:
            continue
        key = (row["subject_id"], row["evaluator"], row["metric"])
        if key not in latest or row["scored_at"] > latest[key]["scored_at"]:
            latest[key] = row
    return [{k: v for k, v in row.items() if k in SCORE_ARROW_SCHEMA.names} for row in latest.values()]
