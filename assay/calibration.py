"""Calibration: human labels, and how well each scorer agrees with them.

An LLM judge is a model too: it drifts, and a new judge model or rubric version can agree with
people less than the old one. People label some scored subjects (pass/fail per scorer, or the
winner of a pair); this module reads those labels (CSV or JSONL), and measures agreement per
scorer series — one (scorer, scorer version, judge model) — with Cohen's kappa, accuracy, F1
and the confusion matrix, each with a bootstrap interval, over all time and per ISO week.
A scorer is any source of verdicts: an LLM judge, a deterministic evaluator, or imported
scores (`imported:<source>`). Changing the judge model in assay.yaml starts a new series.

Pairwise scorers (assay's `pairwise` judge, imported a/b/tie verdicts with the order the
outputs were shown in) add position bias: how often the same winner comes out of both orders,
how often the output shown first wins, and accuracy per order and where both orders agree.

Labels are matched to production `call_scores` (subject = call_id) and to imported scores
that name no candidate. Candidate scores are left out of the label match: one case is scored
once per candidate, on different outputs, so a label on a case does not say which output it
judged.

F1, precision and recall take `fail` as the positive class: what a judge is for is catching
failures, and with most calls passing, agreement on passes alone would flatter it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from assay.contracts.human_label import PAIRWISE_WINNERS, HumanLabel
from assay.tabular import table_file_rows

PASS_WORDS = {"pass", "passed", "true", "1", "yes", "y", "good", "ok"}
FAIL_WORDS = {"fail", "failed", "false", "0", "no", "n", "bad"}
SUBJECT_COLUMNS = ("subject_id", "call_id", "case_id", "pair_id")
LABEL_COLUMNS = ("label", "passed", "human_label")
WINNER_COLUMN = "winner"
IMPORTED_PREFIX = "imported:"


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


def pairwise_winner(value: Any, where: str, error: type[ValueError] = LabelFileError) -> str:
    """`a`, `b` or `tie` from a cell (case and spaces ignored); else one clear error."""
    text = str(value).strip().lower() if value is not None else ""
    if text not in PAIRWISE_WINNERS:
        raise error(f"{where}: winner {value!r} is not a pairwise verdict; valid: {', '.join(PAIRWISE_WINNERS)}")
    return text


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
    """Every label of a CSV (header row) or JSONL file: `subject_id` (or `call_id`, `pair_id`),
    `evaluator` (an assay.yaml evaluator, or `imported:<source>`), and `label` (pass/fail,
    true/false, 1/0) or, for a pairwise scorer, `winner` (a, b, tie); optional `labeler`,
    `labeled_at`, `note`. `known_evaluators`: the assay.yaml names and any other scorer assay
    has scores of; an `imported:` name is always accepted (its scores may come later)."""
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
        winner = record.get(WINNER_COLUMN)
        label_column = next((c for c in LABEL_COLUMNS if record.get(c) not in (None, "")), None)
        if label_column is None and winner in (None, ""):
            raise LabelFileError(
                f"{where}: no verdict; give one of the columns {', '.join(LABEL_COLUMNS)} (pass/fail), "
                f"or {WINNER_COLUMN} (a/b/tie) for a pairwise scorer"
            )
        evaluator = str(record.get("evaluator") or "").strip()
        if known is not None and evaluator not in known and not evaluator.startswith(IMPORTED_PREFIX):
            raise LabelFileError(
                f"{where}: evaluator {evaluator!r} names no scorer assay knows; valid: "
                f"{', '.join(sorted(known)) or 'none'}, or {IMPORTED_PREFIX}<source> (`assay scores import --source`)"
            )
        try:
            labels.append(
                HumanLabel(
                    subject_id=str(subject).strip(),
                    evaluator=evaluator,
                    passed=_verdict(record[label_column], f"{where}: {label_column}") if label_column else None,
                    winner=pairwise_winner(winner, where) if winner not in (None, "") else None,
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


def latest_labels(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], bool | str]:
    """One verdict per (subject_id, evaluator): the latest labelled (then imported) wins. The
    verdict is `passed` (bool) or, on a pairwise label, the winner (`a`, `b`, `tie`)."""
    latest = latest_label_rows(rows, lambda row: (row["subject_id"], row["evaluator"]))
    return {key: row["winner"] if row.get("winner") else row["passed"] for key, row in latest.items()}


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


BINARY_CELLS = ((False, False), (True, True), (True, False), (False, True))
"""(human passed, scorer passed) cells of a binary confusion matrix, in a fixed order."""
PAIRWISE_CELLS = tuple((gold, judged) for gold in PAIRWISE_WINNERS for judged in PAIRWISE_WINNERS)
NO_MODEL = "-"
"""The judge-model part of a series whose scorer is not an LLM (deterministic, imported)."""


def _kappa_from_counts(counts: np.ndarray, classes: int) -> np.ndarray:
    """Cohen's kappa for each row of flattened k x k confusion counts (human row, scorer column)."""
    matrix = counts.reshape(-1, classes, classes).astype(float)
    total = matrix.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1)
    observed = np.trace(matrix, axis1=1, axis2=2) / safe
    expected = (matrix.sum(axis=2) * matrix.sum(axis=1)).sum(axis=1) / safe**2
    # Both always give one and the same answer: chance explains all agreement.
    degenerate = expected >= 1.0 - 1e-12
    kappa = np.where(degenerate, np.where(observed >= 1.0, 1.0, 0.0), (observed - expected) / np.where(degenerate, 1, 1 - expected))
    return np.where(total > 0, kappa, np.nan)


def _binary_figures(counts: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy, kappa, F1 (fail = positive) for each row of BINARY_CELLS counts."""
    tp, tn, fp, fn = (counts[:, i].astype(float) for i in range(4))
    n = tp + tn + fp + fn
    # Re-order into a 2x2 (human fail/pass x scorer fail/pass) for the kappa.
    kappa = _kappa_from_counts(np.stack([tp, fn, fp, tn], axis=1), 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = (tp + tn) / n
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {"accuracy": accuracy, "cohen_kappa": kappa, "f1_fail": f1}


def _pairwise_figures(counts: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy and kappa (a/b/tie) for each row of PAIRWISE_CELLS counts."""
    matrix = counts.reshape(-1, 3, 3).astype(float)
    n = matrix.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.trace(matrix, axis1=1, axis2=2) / n
    return {"accuracy": accuracy, "cohen_kappa": _kappa_from_counts(counts, 3)}


def _resampled(per_unit: np.ndarray, figures: Callable[[np.ndarray], dict[str, np.ndarray]], *, confidence: float,
               resamples: int, seed: int) -> dict[str, tuple[float | None, float | None, float | None]]:
    """(observed, low, high) of each figure: percentile bootstrap over the units (calls, pairs),
    each unit carrying its confusion-cell counts, so the two verdicts of a pair move together."""
    observed = figures(per_unit.sum(axis=0, keepdims=True))
    units = per_unit.shape[0]
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[np.ndarray]] = defaultdict(list)
    step = max(1, 2_000_000 // max(units, 1))  # weights matrix of at most ~2M cells at a time
    for begin in range(0, resamples, step):
        weights = rng.multinomial(units, np.full(units, 1 / units), size=min(step, resamples - begin))
        for name, values in figures(weights @ per_unit).items():
            chunks[name].append(values)
    alpha = (1 - confidence) / 2
    result = {}
    for name, values in observed.items():
        point = float(values[0])
        draws = np.concatenate(chunks[name])
        draws = draws[~np.isnan(draws)]
        if np.isnan(point):
            result[name] = (None, None, None)
        else:
            low, high = np.quantile(draws, [alpha, 1 - alpha]) if draws.size else (point, point)
            result[name] = (point, float(low), float(high))
    return result


def _interval_columns(name: str, figure: tuple[float | None, float | None, float | None]) -> dict[str, float | None]:
    return {name: figure[0], f"{name}_low": figure[1], f"{name}_high": figure[2]}


def _with_cell_shares(figures: Callable[[np.ndarray], dict[str, np.ndarray]]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """`figures` plus each confusion cell's share of the verdicts (`cell_<i>`), so the
    confusion matrix gets bootstrap intervals like every other figure."""

    def with_shares(counts: np.ndarray) -> dict[str, np.ndarray]:
        total = counts.sum(axis=1).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = counts / total[:, None]
        return figures(counts) | {f"cell_{i}": shares[:, i] for i in range(counts.shape[1])}

    return with_shares


def _shares_json(cells: tuple, resampled: dict[str, tuple], word: Callable[[Any], str]) -> str:
    """{human: {scorer: [share, low, high]}} of a confusion matrix's cells."""
    matrix: dict[str, dict[str, list[float | None]]] = {}
    for i, (human, judged) in enumerate(cells):
        matrix.setdefault(word(human), {})[word(judged)] = list(resampled[f"cell_{i}"])
    return json.dumps(matrix, sort_keys=True)


def _matrix_json(cells: tuple, counts: np.ndarray, word: Callable[[Any], str]) -> str:
    matrix: dict[str, dict[str, int]] = {}
    for (human, judged), count in zip(cells, counts, strict=True):
        matrix.setdefault(word(human), {})[word(judged)] = int(count)
    return json.dumps(matrix, sort_keys=True)


def _pass_word(value: Any) -> str:
    return value if isinstance(value, str) else ("pass" if value else "fail")


def binary_series_figures(pairs: list[tuple[bool, bool]], *, confidence: float = 0.95, resamples: int = 2000,
                          seed: int = 20261122) -> dict[str, Any]:
    """(human passed, scorer passed) pairs -> the binary columns of a calibration row."""
    per_unit = np.array([[int(pair == cell) for cell in BINARY_CELLS] for pair in pairs], dtype=np.int64)
    resampled = _resampled(per_unit, _with_cell_shares(_binary_figures), confidence=confidence, resamples=resamples,
                           seed=seed)
    return {
        **agreement(pairs),
        **_interval_columns("accuracy", resampled["accuracy"]),
        **_interval_columns("cohen_kappa", resampled["cohen_kappa"]),
        **_interval_columns("f1_fail", resampled["f1_fail"]),
        "confusion_matrix": _matrix_json(BINARY_CELLS, per_unit.sum(axis=0), _pass_word),
        "confusion_shares": _shares_json(BINARY_CELLS, resampled, _pass_word),
    }


def pairwise_series_figures(
    pairs: dict[Any, dict[str, str]], gold: dict[Any, str], *, confidence: float = 0.95, resamples: int = 2000,
    seed: int = 20261122,
) -> dict[str, Any]:
    """Pairwise columns of a calibration row. `pairs`: pair key -> {order: winner}, where the
    order is the output shown first (`a` or `b`) and the winner `a`, `b` or `tie`; `gold`: pair
    key -> the human winner (labelled pairs only)."""
    both = [verdicts for verdicts in pairs.values() if set(verdicts) == {"a", "b"}]
    consistency = np.array([[int(v["a"] == v["b"])] for v in both], dtype=np.int64)
    decisive = [(order, winner) for verdicts in pairs.values() for order, winner in verdicts.items() if winner != "tie"]
    labelled = [(gold[key], verdicts) for key, verdicts in pairs.items() if key in gold]
    per_order = {
        order: [human == verdicts[order] for human, verdicts in labelled if order in verdicts] for order in ("a", "b")
    }
    agreeing = [human == verdicts["a"] for human, verdicts in labelled
                if set(verdicts) == {"a", "b"} and verdicts["a"] == verdicts["b"]]
    row: dict[str, Any] = {
        "pairs": len(pairs),
        "pairs_both_orders": len(both),
        "position_consistency": None, "position_consistency_low": None, "position_consistency_high": None,
        "first_position_win_share": sum(order == winner for order, winner in decisive) / len(decisive) if decisive else None,
        "accuracy_a_first": sum(per_order["a"]) / len(per_order["a"]) if per_order["a"] else None,
        "accuracy_b_first": sum(per_order["b"]) / len(per_order["b"]) if per_order["b"] else None,
        "accuracy_both_orders_agree": sum(agreeing) / len(agreeing) if agreeing else None,
        "pairs_both_orders_agree": len(agreeing),
        "n": sum(len(verdicts) for _, verdicts in labelled),
        "accuracy": None, "accuracy_low": None, "accuracy_high": None,
        "cohen_kappa": None, "cohen_kappa_low": None, "cohen_kappa_high": None,
        "confusion_matrix": None,
        "confusion_shares": None,
    }
    if both:
        row |= _interval_columns("position_consistency", _resampled(
            consistency, lambda c: {"position_consistency": c[:, 0] / len(both)}, confidence=confidence,
            resamples=resamples, seed=seed)["position_consistency"])
    if labelled:
        per_unit = np.array([[sum(1 for w in verdicts.values() if (human, w) == cell) for cell in PAIRWISE_CELLS]
                             for human, verdicts in labelled], dtype=np.int64)
        resampled = _resampled(per_unit, _with_cell_shares(_pairwise_figures), confidence=confidence,
                               resamples=resamples, seed=seed)
        row |= _interval_columns("accuracy", resampled["accuracy"]) | _interval_columns("cohen_kappa", resampled["cohen_kappa"])
        row["confusion_matrix"] = _matrix_json(PAIRWISE_CELLS, per_unit.sum(axis=0), str)
        row["confusion_shares"] = _shares_json(PAIRWISE_CELLS, resampled, str)
    return row


def both_orders(verdicts: dict[str, str]) -> str:
    """The `both_orders` consensus of a pair judged in both orders ({order: winner}): the
    winner when both orders name the same one, else `tie` (also when an order is missing), so
    a judge that favours whichever output it reads first cannot decide the pair."""
    if set(verdicts) == {"a", "b"} and verdicts["a"] == verdicts["b"]:
        return verdicts["a"]
    return "tie"


def winner_preference(winner: str) -> float:
    """Output a's preference for a winner: 1 (a wins), 0 (b wins), 0.5 (tie)."""
    return {"a": 1.0, "b": 0.0, "tie": 0.5}[winner]


def _winner(preference: float) -> str:
    return "a" if preference > 0.5 else "b" if preference < 0.5 else "tie"


def pairwise_verdicts(score: dict[str, Any]) -> dict[str, str] | None:
    """{order shown first: winner} of a pairwise score, or None when the score is not pairwise.
    Imported rows carry `details.winner` and `details.order`; assay's `pairwise` judge judges
    candidate (a) against baseline (b) in both orders and records each order's preference."""
    details = score.get("details")
    if isinstance(details, str):
        details = json.loads(details) if details else None
    if not isinstance(details, dict):
        return None
    if details.get("winner") in PAIRWISE_WINNERS and details.get("order") in ("a", "b"):
        return {details["order"]: details["winner"]}
    if "candidate_preference_candidate_first" in details and "candidate_preference_baseline_first" in details:
        return {"a": _winner(details["candidate_preference_candidate_first"]),
                "b": _winner(details["candidate_preference_baseline_first"])}
    return None


def fleiss_kappa(ratings: list[list[bool]]) -> float | None:
    """Fleiss' kappa of pass/fail ratings: one list per subject, one verdict per rater (the
    same number of raters on every subject). None without two subjects and two raters."""
    if len(ratings) < 2 or len(ratings[0]) < 2:
        return None
    raters = len(ratings[0])
    passes = np.array([sum(r) for r in ratings], dtype=float)
    counts = np.stack([passes, raters - passes], axis=1)
    per_subject = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    observed = float(per_subject.mean())
    shares = counts.sum(axis=0) / (len(ratings) * raters)
    expected = float((shares**2).sum())
    if expected >= 1.0 - 1e-12:
        return 1.0 if observed >= 1.0 - 1e-12 else 0.0
    return (observed - expected) / (1 - expected)


def juror_scores(score: dict[str, Any]) -> list[dict[str, Any]]:
    """A jury score's jurors as scores of their own (each juror's model is its judge model), so
    every juror is a calibration series; [] for a score that is not a jury's."""
    details = score.get("details")
    if isinstance(details, str):
        details = json.loads(details) if details else None
    jurors = details.get("jurors") if isinstance(details, dict) else None
    if not isinstance(jurors, dict):
        return []
    return [score | {"judge_model": model, "passed": verdict.get("passed"), "value": verdict.get("score"),
                     "details": None, "status": "completed" if verdict.get("passed") is not None else "error"}
            for model, verdict in jurors.items()]


def _jury_ratings(scores: Iterable[dict[str, Any]]) -> tuple[int, list[list[bool]]]:
    """(jurors, one list of juror verdicts per score every juror answered) of jury scores."""
    ratings, jurors = [], 0
    for score in scores:
        details = score.get("details")
        details = json.loads(details) if isinstance(details, str) and details else details
        verdicts = [v.get("passed") for v in ((details or {}).get("jurors") or {}).values()]
        jurors = max(jurors, len(verdicts))
        if verdicts and None not in verdicts:
            ratings.append([bool(v) for v in verdicts])
    return jurors, [r for r in ratings if len(r) == jurors]


def jury_agreement(scores: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The jurors' agreement on these jury scores: how many jurors, Fleiss' kappa between them
    and over how many subjects every juror answered."""
    jurors, ratings = _jury_ratings(scores)
    return {"jurors": jurors, "jury_fleiss_kappa": fleiss_kappa(ratings), "jury_subjects": len(ratings)}


def jury_verdict_agreement(juries: Mapping[str, Mapping[str, Any]],
                           scores_by_side: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """For a decision's report: per jury evaluator (name -> its params: `jury`, `jury_reducer`),
    the agreement between its jurors on the verdicts it gave each side (candidate, baseline):
    Fleiss' kappa, the outputs every juror judged, and the share of them all jurors agreed on."""
    rows = []
    for name, params in sorted(juries.items()):
        row: dict[str, Any] = {"evaluator": name, "jurors": list(params.get("jury") or []),
                               "jury_reducer": params.get("jury_reducer") or "majority"}
        for side, scores in scores_by_side.items():
            _, ratings = _jury_ratings(s for s in scores if s["evaluator"] == name and s.get("status") == "completed")
            row[side] = {"fleiss_kappa": fleiss_kappa(ratings), "outputs": len(ratings),
                         "unanimous_share": sum(len(set(r)) == 1 for r in ratings) / len(ratings) if ratings else None}
        rows.append(row)
    return rows


def _period(scored_at: Any) -> str | None:
    if not isinstance(scored_at, datetime):
        return None
    year, week, _ = scored_at.isocalendar()
    return f"{year}-W{week:02d}"


def calibration_rows(
    labels: dict[tuple[str, str], bool | str],
    scores: Iterable[dict[str, Any]],
    *,
    computed_at: datetime,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 20261122,
) -> list[dict[str, Any]]:
    """One row per scorer series and period (`all`, and each ISO week of the scores' time)
    with at least one labelled completed verdict; pairwise series also without labels, for
    their position figures. A score with a `candidate_id` is not matched to labels (see above).
    A subject scored again counts once, with its latest score."""
    latest: dict[tuple, dict[str, Any]] = {}
    scores = [expanded for score in scores for expanded in (score, *juror_scores(score))]
    for score in scores:
        if score.get("status") != "completed":
            continue
        verdicts = pairwise_verdicts(score)
        if verdicts is None and score.get("passed") is None:
            continue
        key = (score["evaluator"], score.get("evaluator_version") or "", score.get("judge_model") or NO_MODEL)
        unit = (score.get("candidate_id") or "", score["subject_id"])
        for order in verdicts or (None,):
            slot = (*key, *unit, order)
            if slot not in latest or (score.get("scored_at") or computed_at) >= (latest[slot].get("scored_at") or computed_at):
                latest[slot] = score
    groups: dict[tuple, dict[str, list]] = defaultdict(lambda: {"binary": [], "pairwise": []})
    for (evaluator, version, model, candidate, subject, order), score in latest.items():
        for period in ("all", _period(score.get("scored_at"))):
            if period is not None:
                kind = "binary" if order is None else "pairwise"
                groups[(evaluator, version, model, period)][kind].append((candidate, subject, order, score))
    rows = []
    options = {"confidence": confidence, "resamples": resamples, "seed": seed}
    for (evaluator, version, model, period), kinds in sorted(groups.items()):
        base = {name: None for name in ("series", "evaluator", "evaluator_version", "judge_model", "kind", "period")}
        base |= {"series": f"{evaluator}|{version}|{model}", "evaluator": evaluator, "evaluator_version": version,
                 "judge_model": model, "period": period, "computed_at": computed_at}
        if kinds["binary"]:
            pairs = [(human, bool(score["passed"])) for candidate, subject, _, score in kinds["binary"]
                     if not candidate and isinstance(human := labels.get((subject, evaluator)), bool)]
            jury = jury_agreement([score for *_, score in kinds["binary"]]) if model.startswith("jury:") else {}
            if pairs:
                rows.append(_full_row(base | {"kind": "binary"} | binary_series_figures(pairs, **options) | jury))
            elif jury.get("jury_fleiss_kappa") is not None:  # the jurors' agreement needs no label
                rows.append(_full_row(base | {"kind": "binary", "n": 0} | jury))
        if kinds["pairwise"]:
            by_pair: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
            for candidate, subject, order, score in kinds["pairwise"]:
                by_pair[(candidate, subject)][order] = pairwise_verdicts(score)[order]
            gold = {(c, s): labels[(s, evaluator)] for c, s in by_pair
                    if not c and isinstance(labels.get((s, evaluator)), str)}
            rows.append(_full_row(base | {"kind": "pairwise"} | pairwise_series_figures(by_pair, gold, **options)))
    return rows


CALIBRATED_TABLES = ("call_scores", "imported_scores", "candidate_scores")
"""Where scores to calibrate come from: production calls, imported scores, and (for the
position figures of pairwise judges and the agreement between a jury's jurors, which need no
label) the candidates' scores."""


def lake_calibration(
    lake, *, computed_at: datetime, confidence: float = 0.95, resamples: int = 2000, seed: int = 20261122
) -> tuple[dict[tuple[str, str], bool | str], list[dict[str, Any]]]:
    """(latest labels, calibration rows) of everything in the lake: what the `judge_calibration`
    asset stores and `assay judge calibration` prints."""
    table = lake.read_table(LABELS_TABLE)
    labels = latest_labels(table.to_pylist()) if table is not None else {}
    scores: list[dict[str, Any]] = []
    for name in CALIBRATED_TABLES:
        table = lake.read_table(name)
        rows = table.to_pylist() if table is not None else []
        if name == "candidate_scores":  # what needs no label: pairwise position, jurors' agreement
            rows = [row for row in rows if pairwise_verdicts(row) is not None or juror_scores(row)]
        scores.extend(rows)
    return labels, calibration_rows(labels, scores, computed_at=computed_at, confidence=confidence,
                                    resamples=resamples, seed=seed)


def scorer_names(lake) -> set[str]:
    """Every scorer the lake holds scores of (besides assay.yaml's): labels may name them."""
    names: set[str] = set()
    for name in CALIBRATED_TABLES:
        table = lake.read_table(name)
        if table is not None:
            names |= set(table.column("evaluator").to_pylist())
    return names


TRUST_FIGURES = ("series", "kind", "n", "cohen_kappa", "cohen_kappa_low", "cohen_kappa_high", "position_consistency",
                 "pairs_both_orders")


def judge_trust(
    calibration: Iterable[dict[str, Any]], judge_models: dict[str, str | None]
) -> dict[str, dict[str, Any] | None]:
    """Per judge (name -> its configured judge model, None when unknown), the all-time row of
    its series from the latest calibration: the configured model's series when there is one,
    else the series with the most labels. None: never calibrated."""
    latest: dict[str, list[dict[str, Any]]] = {}
    for row in calibration:
        name = row["evaluator"]
        if name not in judge_models or (row.get("period") or "all") != "all":  # rows before periods were all-time
            continue
        if name not in latest or row["computed_at"] > latest[name][0]["computed_at"]:
            latest[name] = [row]
        elif row["computed_at"] == latest[name][0]["computed_at"]:
            latest[name].append(row)
    trust: dict[str, dict[str, Any] | None] = {}
    for name, model in judge_models.items():
        rows = latest.get(name, [])
        chosen = next((r for r in rows if model is not None and r.get("judge_model") == model), None)
        chosen = chosen or max(rows, key=lambda r: (r.get("n") or 0, r["series"]), default=None)
        trust[name] = {k: chosen.get(k) for k in TRUST_FIGURES} if chosen else None
        if chosen and not chosen.get("kind"):
            trust[name]["kind"] = "binary"
    return trust


def with_position_consistency(trust: dict[str, Any] | None, scores: Iterable[dict[str, Any]], *, source: str) -> dict[str, Any] | None:
    """A pairwise judge's trust with the position consistency of these scores (the verdicts it
    gave on this decision's evidence) in place of the series' figure; unchanged without any."""
    pairs: dict[str, dict[str, str]] = {}
    for score in scores:
        verdicts = pairwise_verdicts(score) if score.get("status") == "completed" else None
        if verdicts:
            pairs.setdefault(score["subject_id"], {}).update(verdicts)
    if not pairs:
        return trust
    figures = pairwise_series_figures(pairs, {}, resamples=200)
    return {**(trust or {k: None for k in TRUST_FIGURES}), "kind": "pairwise",
            "position_consistency": figures["position_consistency"], "pairs_both_orders": figures["pairs_both_orders"],
            "position_source": source}


def _full_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every column of the calibration contract (those a kind does not have are None)."""
    from assay.contracts.calibration import CALIBRATION_ARROW_SCHEMA

    return {name: row.get(name) for name in CALIBRATION_ARROW_SCHEMA.names}


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
