"""Human labels on regression cases: export cases for labelling, import the verdicts, apply them.

`assay labels export` writes the current dataset version's cases (CSV or JSONL) with empty
`label` and `note` columns; people fill in `correct`, `wrong` or `critical`; `assay labels
import` stores the file in the lake (`case_labels/batch=<content hash>`), and the next
`regression_dataset` materialisation applies the latest label per case: `wrong` drops the
case (a false failure must not gate deploys), `critical` forces it critical (and smoke).

Judge labels (subject, evaluator, pass/fail; `assay.calibration`) go through the same
command: a file whose rows name no `evaluator` holds case labels.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.calibration import (
    LabelFileError,
    _records,
    batch_id,
    label_error,
    label_provenance,
    label_recency,
    latest_label_rows,
)
from assay.contracts.case_label import CASE_LABEL_ARROW_SCHEMA, CaseLabelRecord

CASE_LABELS_TABLE = "case_labels"
CASE_LABEL_WORDS = ("correct", "wrong", "critical")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet treats a cell starting with one of these as a formula (CSV injection)."""
EXPORT_COLUMNS = (
    "case_id", "source", "feature", "tier", "critical", "failure_category", "occurrences", "first_seen",
    "last_seen", "input_text", "context", "reference_output", "assertions", "baseline_output",
    "baseline_failed_evaluators", "current_label", "label", "note",
)  # fmt: skip


def is_case_label_file(path: Path | str) -> bool:
    """True when no row of the file names an evaluator (judge labels always do)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file")
    return not any(str(record.get("evaluator") or "").strip() for _, record in _records(path))


def read_case_label_file(path: Path | str, *, known_case_ids: Iterable[str] | None = None) -> list[CaseLabelRecord]:
    """Every label of a CSV (header row) or JSONL file: `case_id`, `label` (correct, wrong,
    critical), optional `note`, `labeler`, `labeled_at`. Rows with an empty label are skipped
    (an exported file where only some cases were labelled)."""
    path = Path(path)
    known = set(known_case_ids) if known_case_ids is not None else None
    imported_at = datetime.now(UTC)
    labels = []
    for line, record in _records(path):
        where = f"{path}:{line}"
        case_id = str(record.get("case_id") or "").strip()
        if not case_id:
            raise LabelFileError(f"{where}: no case_id; a case label needs the columns case_id, label")
        word = str(record.get("label") or "").strip().lower()
        if not word:
            continue
        if word not in CASE_LABEL_WORDS:
            raise LabelFileError(f"{where}: label {record.get('label')!r} is not a case label; valid: {', '.join(CASE_LABEL_WORDS)}")
        if known is not None and case_id not in known:
            raise LabelFileError(f"{where}: case_id {case_id!r} is in no dataset version")
        try:
            labels.append(
                CaseLabelRecord(
                    case_id=case_id,
                    label=word,
                    **label_provenance(record, path, line, imported_at),
                )
            )
        except ValidationError as exc:
            raise label_error(where, exc) from None
    if not labels:
        raise LabelFileError(f"{path}: no labelled cases in the file (fill the `label` column: {', '.join(CASE_LABEL_WORDS)})")
    return labels


def import_case_label_file(lake, path: Path | str, *, known_case_ids: Iterable[str] | None = None) -> tuple[str, int]:
    """Read a case label file and store it in the lake (`case_labels/batch=<content hash>`):
    importing the same file again replaces its own labels."""
    labels = read_case_label_file(path, known_case_ids=known_case_ids)
    batch = batch_id(path)
    lake.write_partition(
        CASE_LABELS_TABLE, [label.model_dump() for label in labels], partition={"batch": batch}, schema=CASE_LABEL_ARROW_SCHEMA
    )
    return batch, len(labels)


def latest_case_labels(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One label per case: the latest labelled (then imported, then later line) wins."""
    return latest_label_rows(rows, lambda row: row["case_id"])


def apply_case_labels(cases: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Cases with their latest human label applied, and counts of what each label did.

    A label on a case later merged as a near-duplicate applies to the case it was merged into;
    when several apply, the latest wins."""
    kept, applied = [], {"wrong_removed": 0, "critical_forced": 0, "correct": 0}
    for case in cases:
        ids = [case["case_id"], *case.get("near_duplicates", [])]
        found = [labels[i] for i in ids if i in labels]
        if not found:
            kept.append(case)
            continue
        label = max(found, key=label_recency)
        word = label["label"]
        if word == "wrong":
            applied["wrong_removed"] += 1
            continue
        case = case | {"human_label": word}
        if word == "critical":
            applied["critical_forced"] += 1
            case |= {"critical": True, "tier": "smoke"}
        else:
            applied["correct"] += 1
        kept.append(case)
    return kept, applied


# --------------------------------------------------------------------------- export


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with ' so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_rows(
    cases: list[dict[str, Any]],
    baseline_scores: Iterable[dict[str, Any]] = (),
    baseline_outputs: dict[str, str | None] | None = None,
) -> list[dict[str, Any]]:
    """One row per case for labelling, with the baseline's replay and failing evaluators on
    it when candidate scores exist."""
    failed: dict[str, set[str]] = {}
    for score in baseline_scores:
        if score.get("status") == "completed" and score.get("passed") is False:
            failed.setdefault(score["subject_id"], set()).add(score["evaluator"])
    baseline_outputs = baseline_outputs or {}
    rows = []
    for case in cases:
        user = next((m.get("content") for m in reversed(case.get("input") or []) if m.get("role") == "user"), None)
        rows.append(
            {
                "case_id": case["case_id"],
                "source": case.get("source") or "production",
                "feature": case.get("feature"),
                "tier": case.get("tier"),
                "critical": case.get("critical"),
                "failure_category": case.get("failure_category"),
                "occurrences": case.get("occurrences"),
                "first_seen": case["first_seen"].isoformat() if case.get("first_seen") else None,
                "last_seen": case["last_seen"].isoformat() if case.get("last_seen") else None,
                "input_text": user,
                "context": "\n---\n".join(case.get("context") or []) or None,
                "reference_output": case.get("reference_output"),
                "assertions": ", ".join(case.get("assertions") or []),
                "baseline_output": baseline_outputs.get(case["case_id"]),
                "baseline_failed_evaluators": ", ".join(sorted(failed.get(case["case_id"], ()))),
                "current_label": case.get("human_label"),
                "label": None,
                "note": None,
            }
        )
    return rows


def write_export(rows: list[dict[str, Any]], fmt: str) -> str:
    """The rows as CSV (cells neutralised against formula injection) or JSONL (as they are)."""
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; valid: csv, jsonl")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_COLUMNS))  # \r\n: cells holding \r or \n get quoted
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise_cell("" if row.get(k) is None else row.get(k)) for k in EXPORT_COLUMNS})
    return buffer.getvalue()
