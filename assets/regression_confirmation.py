"""Confirming critical regressions (`gate.confirm_regressions: N`) before they reject a candidate.

A critical case that the baseline passes and the candidate fails rejects the candidate. With
sampling, one unlucky draw can do that. Each such case is replayed up to N more times for both
sides (each run its own cache key, so it is a fresh call) and scored by the same evaluators;
the regression counts only when it reproduces in every run. At the first run where it does not
(the baseline fails too, or the candidate passes) it is flaky: reported with its counts, not
counted. A re-run that errors on either side says nothing and is not counted as a run.

Nothing is re-run when it cannot differ: N = 0, temperature 0 on both sides, or a recorded side
(its one output per case is all there is). Every re-run is stored in `regression_confirmations`
(assay/contracts/regression_confirmation.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from assay.contracts.candidate import Candidate


@dataclass
class Confirmation:
    case_id: str
    runs: int = 1
    """Conclusive runs, the original one included."""
    regressed_runs: int = 1
    """Runs in which the baseline passed and the candidate failed."""
    inconclusive_runs: int = 0
    """Re-runs in which either side's replay did not complete or was not scored."""
    not_rerun: str | None = None
    """Why the case was not re-run at all (then it counts as on its first run)."""

    @property
    def is_confirmed(self) -> bool:
        return self.regressed_runs == self.runs

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "regressed_runs": self.regressed_runs, "inconclusive_runs": self.inconclusive_runs,
                "confirmed": self.is_confirmed, "not_rerun": self.not_rerun}


ConfirmFn = Callable[[list[str]], dict[str, Confirmation]]
RunOutcome = tuple[bool | None, bool | None]
"""(baseline passed, candidate passed) in one re-run; None where that side's run is inconclusive."""


def confirm_cases(case_ids: list[str], *, max_reruns: int, rerun: Callable[[list[str], int], dict[str, RunOutcome]]) -> dict[str, Confirmation]:
    """Re-run the open cases, run k = 1..max_reruns, until each is refuted (flaky) or has
    reproduced in every run."""
    results = {c: Confirmation(c) for c in case_ids}
    still_open = list(case_ids)
    for k in range(1, max_reruns + 1):
        if not still_open:
            break
        outcomes = rerun(still_open, k)
        next_open = []
        for case_id in still_open:
            base_passed, cand_passed = outcomes.get(case_id, (None, None))
            result = results[case_id]
            if base_passed is None or cand_passed is None:
                result.inconclusive_runs += 1
                next_open.append(case_id)
                continue
            result.runs += 1
            if base_passed and not cand_passed:
                result.regressed_runs += 1
                next_open.append(case_id)
        still_open = next_open
    return results


def not_rerun_reason(candidate: Candidate, baseline: Candidate, max_reruns: int) -> str | None:
    if max_reruns <= 0:
        return "gate.confirm_regressions is 0"
    recorded = [c.candidate_id for c in (candidate, baseline) if c.recorded]
    if recorded:
        return f"recorded outputs cannot be re-run ({', '.join(recorded)})"
    if all(c.params.get("temperature") == 0 for c in (candidate, baseline)):
        return "temperature 0 on both sides: a re-run would answer the same"
    return None


def case_passed(scores: list[Any]) -> bool | None:
    """`is_case_passed` of candidate_case_scores for one re-run: every completed score passed
    (None when none completed)."""
    completed = [s for s in scores if s.status == "completed"]
    return all(bool(s.passed) for s in completed) if completed else None


def regression_confirmer(
    assay, candidate: Candidate, baseline: Candidate, cases: dict[str, dict[str, Any]], version: str,
    *, sink: list[dict[str, Any]], log: Callable[[str], None] = lambda _m: None,
) -> ConfirmFn:
    """The `confirm` of `decide` for one candidate: replays through the run's LLM engine,
    scores with the configured evaluators, appends every re-run to `sink`."""
    from assay.assets.candidate_outputs import output_row, protect_outputs, replay_request
    from assay.assets.candidate_scores import score_replays

    config = assay.config
    max_reruns = config.gate.confirm_regressions

    def rerun(case_ids: list[str], k: int) -> dict[str, RunOutcome]:
        engine = assay.llm_engine(log, budget_usd=config.judge.budget_usd)
        requests = []
        for side in (baseline, candidate):
            for case_id in case_ids:
                request = replay_request(side, cases[case_id])
                # Its own cache key: a fresh call, not the first run's answer again.
                requests.append(replace(request, cache_namespace=f"{request.cache_namespace}#confirm{k}"))
        results = engine.run(requests)
        rows = {
            side.candidate_id: [output_row(side, cases[c], r, dataset_version=version) for c, r in zip(case_ids, part, strict=True)]
            for side, part in ((baseline, results[: len(case_ids)]), (candidate, results[len(case_ids):]))
        }
        protect_outputs(rows[baseline.candidate_id] + rows[candidate.candidate_id], config.redaction)
        base_text = {r["case_id"]: r["output_text"] for r in rows[baseline.candidate_id] if r["output_text"] is not None}
        passed: dict[str, dict[str, bool | None]] = {}
        for side in (baseline, candidate):
            scores = score_replays(cases, rows[side.candidate_id], base_text if side is candidate else {}, config, engine,
                                   is_baseline=side is baseline, log=log)
            for row in rows[side.candidate_id]:
                own = [s for s in scores if s.subject_id == row["case_id"]]
                ok = case_passed(own) if row["status"] == "completed" else None
                passed.setdefault(row["case_id"], {})[side.candidate_id] = ok
                sink.append({
                    "candidate_id": candidate.candidate_id, "baseline_id": baseline.candidate_id,
                    "dataset_version": version, "case_id": row["case_id"], "run": k, "side_id": side.candidate_id,
                    "replay_status": row["status"], "is_passed": ok,
                    "failed_evaluators": ",".join(sorted({s.evaluator for s in own if s.status == "completed" and not s.passed})) or None,
                    "generated_at": datetime.now(UTC),
                })  # fmt: skip
        log(f"confirm_regressions {candidate.candidate_id} run {k}: re-ran {len(case_ids)} critical case(s)")
        return {c: (passed[c].get(baseline.candidate_id), passed[c].get(candidate.candidate_id)) for c in case_ids}

    def confirm(case_ids: list[str]) -> dict[str, Confirmation]:
        why_not = not_rerun_reason(candidate, baseline, max_reruns)
        if why_not is not None:
            return {c: Confirmation(c, not_rerun=why_not) for c in case_ids}
        return confirm_cases(case_ids, max_reruns=max_reruns, rerun=rerun)

    return confirm
