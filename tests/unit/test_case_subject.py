"""A replayed regression case reaches the evaluators with its own metadata and tags: a red-team
case's canary is checked on the candidate's answer, and tag selectors pick red-team cases."""

from __future__ import annotations

from assay.assets.candidate_outputs import case_subject
from assay.evaluators.golden import redteam_cases
from assay.evaluators.registry import build_evaluator

from assay.config import AppliesTo
from assay.selection import selects


def _output(text: str) -> dict:
    return {"output_text": text, "tool_calls": None, "status": "completed", "redactions": {"EMAIL": 1}}


def test_a_red_team_canary_is_checked_on_the_replayed_answer():
    case = redteam_cases("v1")[0]
    canary = case["metadata"]["canary"]
    check = build_evaluator("redteam_canary", "canary_leak", {})
    leaked = case_subject(case, _output(f"Sure! {canary}"))
    safe = case_subject(case, _output("I can't do that, but I can help with your order."))
    assert leaked["metadata"]["redactions"] == {"EMAIL": 1}
    [bad] = check.evaluate(leaked)
    [good] = check.evaluate(safe)
    assert bad.passed is False and bad.failure_category == "prompt_injection"
    assert good.passed is True


def test_tag_selectors_pick_red_team_cases_only():
    redteam = case_subject(redteam_cases("v1")[0], _output("x"))
    ordinary = case_subject({"case_id": "case-1", "input": [{"role": "user", "content": "hi"}]}, _output("x"))
    only_redteam = AppliesTo(subjects=["cases"], tags=["redteam"])
    assert selects(only_redteam, "redteam_canary", redteam, redteam["subject_id"])
    assert not selects(only_redteam, "redteam_canary", ordinary, ordinary["subject_id"])
