"""Judge calibration: human labels, and how well each judge agrees with them.

An LLM judge is a model too: it drifts, and a new judge model or rubric version can agree with
people less than the old one. People label some scored calls (pass/fail per evaluator); this
module reads those labels (CSV or JSONL), and measures agreement per judge series — one
(evaluator, evaluator version, judge model) — with Cohen's kappa, accuracy, F1 and the
confusion matrix. Changing the judge model in assay.yaml starts a new series.

Labels are matched to production `call_scores` (subject = call_id). Candidate scores are left
out: one case is scored once per candidate, on different outputs, so a label on a case does
not say which output it judged.

F1, precision and recall take `fail` as the positive class: what a judge is for is catching
failures, and with most calls passing, agreement on passes alone would flatter it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.contracts.human_label import HumanLabel
from assay.tabular import table_file_rows

PASS_WORDS = {"pass", "passed", "true", "1", "yes", "y", "good", "ok"}
FAIL_WORDS = {"fail", "failed", "false", "0", "no", "n", "bad"}
SUBJECT_COLUMNS = ("subject_id", "call_id", "case_id")
LABEL_COLUMNS = ("label", "passed", "human_label")


class LabelFileError(ValueError):
    """A label file the user gave cannot be read: names the file, line and field."""


def _verdict(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in PASS_WORDS:
        return True
    if text in FAIL_WORDS:
        return False
    raise LabelFileError(
        f"{where}: label {value!r} is not a verdict; valid: {', '.join(sorted(PASS_WORDS))} (pass) "
        f"or {', '.join(sorted(FAIL_WORDS))} (fail)"
    )


def label_provenance(record: dict[str, Any], path: Path, line: int, imported_at: datetime) -> dict[str, Any]:
    """Who labelled, when, why, and where the label came from: shared by judge and case labels."""
    return {
        "labeler": record.get("labeler") or None,
        "labeled_at": record.get("labeled_at") or None,
        "note": record.get("note") or None,
        "source_file": path.name,
        "source_line": line,
        "imported_at": imported_at,
    }


def label_error(where: str, exc: ValidationError) -> LabelFileError:
    """A label row the contract refused, named by file:line and field."""
    first = exc.errors()[0]
    return LabelFileError(f"{where}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    return table_file_rows(path, error=LabelFileError, what="label")


def read_label_file(path: Path | str, *, known_evaluators: Iterable[str] | None = None) -> list[HumanLabel]:
    """Every label of a CSV (header row) or JSONL file: `subject_id` (or `call_id`), `evaluator`,
    `label` (pass/fail, true/false, 1/0), optional `labeler`, `labeled_at`, `note`."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file")
    known = set(known_evaluators) if known_evaluators is not None else None
    imported_at = datetime.now(UTC)
    labels = []
    for line, record in _records(path):
        where = f"{path}:{line}"
        subject = next((record[c] for c in SUBJECT_COLUMNS if record.get(c) not in (None, "")), None)
        if subject is None:
            raise LabelFileError(f"{where}: no subject id; give one of the columns {', '.join(SUBJECT_COLUMNS)}")
        label_column = next((c for c in LABEL_COLUMNS if c in record), None)
        if label_column is None:
            raise LabelFileError(f"{where}: no verdict; give one of the columns {', '.join(LABEL_COLUMNS)}")
        evaluator = str(record.get("evaluator") or "").strip()
        if known is not None and evaluator not in known:
            raise LabelFileError(
                f"{where}: evaluator {evaluator!r} is not in assay.yaml; valid: {', '.join(sorted(known)) or 'none'}"
            )
        try:
            labels.append(
                HumanLabel(
                    subject_id=str(subject).strip(),
                    evaluator=evaluator,
                    passed=_verdict(record[label_column], f"{where}: {label_column}"),
                    **label_provenance(record, path, line, imported_at),
                )
            )
        except ValidationError as exc:
            raise label_error(where, exc) from None
    if not labels:
        raise LabelFileError(f"{path}: no labels in the file")
    return labels


def batch_id(path: Path | str) -> str:
    """The partition a file's labels go to: its content hash, so importing it again replaces
    its own labels instead of adding duplicates."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def label_recency(row: dict[str, Any]) -> tuple[Any, Any, int]:
    """How recent a stored label (judge or case) is: when it was labelled (else imported),
    then when imported, then its line in the file. The largest is the one that counts."""
    return (row.get("labeled_at") or row["imported_at"], row["imported_at"], row.get("source_line") or 0)


def latest_label_rows(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, Any]]:
    """The most recent row (`label_recency`; on a tie, the later row) for each `key(row)`."""
    chosen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        if k not in chosen or label_recency(row) >= label_recency(chosen[k]):
            chosen[k] = row
    return chosen


def latest_labels(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """One verdict per (subject_id, evaluator): the latest labelled (then imported) wins."""
    latest = latest_label_rows(rows, lambda row: (row["subject_id"], row["evaluator"]))
    return {key: row["passed"] for key, row in latest.items()}


def agreement(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """(human passed, judge passed) pairs -> kappa, accuracy, F1 on `fail`, confusion matrix."""
    n = len(pairs)
    # Positive class = fail: tp = both say fail.
    tp = sum(1 for human, judge in pairs if not human and not judge)
    tn = sum(1 for human, judge in pairs if human and judge)
    fp = sum(1 for human, judge in pairs if human and not judge)  # judge fails what people pass
    fn = sum(1 for human, judge in pairs if not human and judge)  # judge passes a real failure
    accuracy = (tp + tn) / n if n else None
    human_fail, judge_fail = (tp + fn) / n if n else 0, (tp + fp) / n if n else 0
    expected = human_fail * judge_fail + (1 - human_fail) * (1 - judge_fail)
    if not n:
        kappa = None
    elif expected >= 1.0:  # both always give the same single answer: chance explains all
        kappa = 1.0 if accuracy == 1.0 else 0.0
    else:
        kappa = (accuracy - expected) / (1 - expected)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if n else None)
    return {
        "n": n,
        "accuracy": accuracy,
        "cohen_kappa": kappa,
        "f1_fail": f1,
        "precision_fail": precision,
        "recall_fail": recall,
        "both_fail": tp,
        "both_pass": tn,
        "judge_fail_human_pass": fp,
        "judge_pass_human_fail": fn,
    }


def calibration_rows(
    labels: dict[tuple[str, str], bool], scores: Iterable[dict[str, Any]], *, computed_at: datetime
) -> list[dict[str, Any]]:
    """One row per judge series with at least one labelled, completed judge score."""
    series: dict[tuple[str, str, str], list[tuple[bool, bool]]] = defaultdict(list)
    seen: set[tuple[str, str, str, str]] = set()
    for score in scores:
        if score.get("judge_model") is None or score.get("status") != "completed" or score.get("passed") is None:
            continue
        human = labels.get((score["subject_id"], score["evaluator"]))
        key = (score["evaluator"], score["evaluator_version"], score["judge_model"])
        if human is None or (*key, score["subject_id"]) in seen:  # a re-scored call counts once
            continue
        seen.add((*key, score["subject_id"]))
        series[key].append((human, bool(score["passed"])))
    return [
        {
            "series": f"{evaluator}|{version}|{model}",
            "evaluator": evaluator,
            "evaluator_version": version,
            "judge_model": model,
            **agreement(pairs),
            "computed_at": computed_at,
        }
        for (evaluator, version, model), pairs in sorted(series.items())
    ]


LABELS_TABLE = "human_labels"


def import_label_file(lake, path: Path | str, *, known_evaluators: Iterable[str] | None = None) -> tuple[str, int]:
    """Read a label file and store it in the lake (`human_labels/batch=<content hash>`)."""
    from assay.contracts.human_label import HUMAN_LABEL_ARROW_SCHEMA

    labels = read_label_file(path, known_evaluators=known_evaluators)
    batch = batch_id(path)
    lake.write_partition(
        LABELS_TABLE, [label.model_dump() for label in labels], partition={"batch": batch}, schema=HUMAN_LABEL_ARROW_SCHEMA
    )
    return batch, len(labels)
