"""Imported scores: verdicts from human raters or external evaluators, in the score contract.

`assay scores import FILE` reads JSONL or CSV rows of `subject_id`, `metric`, `value` and an
optional `passed` (plus optional `candidate_id`, `explanation`, `failure_category`), and stores
them as scores whose evaluator is `imported:<source>` (source: `--source`, default the file's
stem), one lake partition per file content (`imported_scores/batch=<hash>`): importing the same
file again replaces its rows instead of adding duplicates.

Rows with a `candidate_id` score that candidate's output on a regression case (subject =
case_id): `candidate_scores` adds them to the candidate's partition, so the gate weighs them
like any evaluator's. A row with a value but no verdict is kept as `unavailable` (the gate only
counts verdicts) unless `--pass-threshold` turns values into verdicts. An optional
`judge_model` names the model behind the verdicts (a new model is a new calibration series).

Pairwise verdicts: a row with `winner` (a, b or tie) and `order` (which output was shown
first: a or b) is one judgement of the pair `subject_id` in one order (metric default
`pairwise`); a pair judged in both orders has two rows. Calibration measures their position
bias; for the gate (output a = the candidate), a candidate's pairs are reduced with the
`both_orders` consensus: a winner only when both orders agree, else a tie.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from assay.calibration import (
    FAIL_WORDS,
    PASS_WORDS,
    both_orders,
    pairwise_winner,
    winner_preference,
)
from assay.contracts.score import SCORE_ARROW_SCHEMA, SCORE_JSON_COLUMNS, Score
from assay.contracts.taxonomy import FAILURE_CATEGORIES
from assay.tabular import table_file_rows

IMPORTED_SCORES_TABLE = "imported_scores"
IMPORTED_PREFIX = "imported:"
PAIRWISE_METRIC = "pairwise"
ORDER_WORDS = {"a": "a", "ab": "a", "a_first": "a", "b": "b", "ba": "b", "b_first": "b"}
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
        subject = str(record.get("subject_id") or record.get("pair_id") or "").strip()
        pairwise = _pairwise(record, where)
        metric = str(record.get("metric") or (PAIRWISE_METRIC if pairwise else "")).strip()
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
        if pairwise is not None:  # a's preference; passed = a is not worse (as assay's pairwise judge)
            value, passed = winner_preference(pairwise["winner"]), pairwise["winner"] != "b"
        if passed is None and value is not None and pass_threshold is not None:
            passed = value >= pass_threshold
        if value is None and passed is None:
            raise ScoreFileError(f"{where}: give `value` (a number) or `passed` (a verdict), or both")
        category = record.get("failure_category") or None
        if category is not None and category not in FAILURE_CATEGORIES:
            raise ScoreFileError(f"{where}: key `failure_category`: {category!r}; valid: {', '.join(sorted(FAILURE_CATEGORIES))}")
        candidate_id = str(record.get("candidate_id") or "").strip() or None
        key = (candidate_id or "", subject, metric, pairwise["order"] if pairwise else "")
        if key in seen:
            shown = f" shown {pairwise['order']} first" if pairwise else ""
            raise ScoreFileError(f"{where}: {subject!r} / {metric!r}{shown} already scored on line {seen[key]}")
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
            judge_model=str(record.get("judge_model") or "").strip() or None,
            details=pairwise,
            scored_at=imported_at,
        )
        rows.append(score.model_dump() | {"candidate_id": candidate_id, "source_file": path.name})
    if not rows:
        raise ScoreFileError(f"{path}: no scores in the file")
    return rows


def _pairwise(record: dict[str, Any], where: str) -> dict[str, str] | None:
    """{winner, order} of a pairwise row, None on a row without `winner`."""
    if record.get("winner") in (None, ""):
        return None
    winner = pairwise_winner(record["winner"], f"{where}: key `winner`", ScoreFileError)
    order = ORDER_WORDS.get(str(record.get("order") or "").strip().lower())
    if order is None:
        raise ScoreFileError(
            f"{where}: key `order`: {record.get('order')!r}; valid: a or b (the output shown first; also ab, ba)"
        )
    return {"winner": winner, "order": order}


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
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in table.to_pylist():
        if row.get("candidate_id") != candidate_id or row["subject_id"] not in wanted:
            continue
        order = (_details(row) or {}).get("order") or ""
        key = (row["subject_id"], row["evaluator"], row["metric"], order)
        if key not in latest or row["scored_at"] > latest[key]["scored_at"]:
            latest[key] = row
    plain = [row for (*_, order), row in latest.items() if not order]
    pairs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for (subject, evaluator, metric, order), row in sorted(latest.items()):
        if order:
            pairs.setdefault((subject, evaluator, metric), []).append(row)
    reduced = [_both_orders_score(rows) for rows in pairs.values()]
    return [{k: v for k, v in row.items() if k in SCORE_ARROW_SCHEMA.names} for row in plain + reduced]


def _details(row: dict[str, Any]) -> dict[str, Any] | None:
    details = row.get("details")
    return json.loads(details) if isinstance(details, str) and details else details


def _both_orders_score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One score for a candidate's pair from its per-order rows: the `both_orders` consensus."""
    verdicts = {_details(r)["order"]: _details(r)["winner"] for r in rows}
    winner = both_orders(verdicts)
    consistent = set(verdicts) == {"a", "b"} and verdicts["a"] == verdicts["b"]
    return rows[-1] | {
        "value": winner_preference(winner),
        "passed": winner != "b",
        "details": {"reducer": "both_orders", "winner": winner, "verdicts_by_order": verdicts,
                    "position_consistent": consistent},
        "explanation": f"both_orders consensus: {winner} (" + ", ".join(f"{o} first: {w}" for o, w in sorted(verdicts.items())) + ")",
    }
