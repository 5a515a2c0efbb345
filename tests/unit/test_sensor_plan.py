"""The regression sensor's plan (pure): register candidates, replay on each new dataset version
or candidate config, decide once when all are scored."""

from __future__ import annotations

import json

from assay.contracts.candidate import Candidate
from orchestration.sensors import candidate_fingerprint, plan_regression_runs

BASE = Candidate(candidate_id="prod-v1", model="sim/support-v1", is_baseline=True)
V2 = Candidate(candidate_id="support-v2", model="sim/support-v2")
LITE = Candidate(candidate_id="support-lite", model="sim/support-lite")
CANDIDATES = [BASE, V2, LITE]
IDS = sorted(c.candidate_id for c in CANDIDATES)


def _all_scored(version: str | None) -> dict[str, str | None]:
    return {c.candidate_id: version for c in CANDIDATES}


def test_new_candidates_become_partitions():
    plan = plan_regression_runs(CANDIDATES, {"prod-v1"}, None, _all_scored(None), {})
    assert plan.partitions_to_add == ["support-lite", "support-v2"]
    plan = plan_regression_runs(CANDIDATES, set(IDS), None, _all_scored(None), {})
    assert plan.partitions_to_add == []


def test_no_dataset_yet_means_no_replays_and_no_decision():
    plan = plan_regression_runs(CANDIDATES, set(), None, _all_scored(None), {})
    assert plan.partitions_to_add == IDS
    assert plan.replay == []
    assert plan.decide is False
    assert plan.cursor == {"replayed": {}, "decided": None}


def test_new_dataset_version_replays_every_candidate_before_deciding():
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {})
    assert sorted(plan.replay) == IDS
    assert plan.decide is False
    assert set(plan.cursor["replayed"]) == set(IDS)
    assert all(key.startswith("ds-1:") for key in plan.cursor["replayed"].values())
    # The cursor is what the sensor stores: it must survive a JSON round trip.
    assert json.loads(json.dumps(plan.cursor)) == plan.cursor


def test_replays_are_requested_once_per_version():
    first = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {})
    # Next tick: the runs are still going (nothing scored yet): nothing new to request.
    second = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), first.cursor)
    assert second.replay == [] and second.decide is False
    # Partly scored: still waiting.
    partial = {"prod-v1": "ds-1", "support-v2": "ds-1", "support-lite": None}
    third = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", partial, second.cursor)
    assert third.replay == [] and third.decide is False


def test_all_scored_on_current_version_decides_once():
    replayed = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {}).cursor
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored("ds-1"), replayed)
    assert plan.replay == []
    assert plan.decide is True
    assert plan.cursor["decided"] and plan.cursor["decided"].startswith("ds-1:")
    again = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored("ds-1"), plan.cursor)
    assert again.decide is False
    assert again.replay == []
    assert again.cursor == plan.cursor


def test_scores_on_an_old_version_do_not_trigger_a_decision():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", _all_scored(None), {}).cursor
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", _all_scored("ds-1"), cursor)
    assert plan.decide is False


def test_new_dataset_version_after_a_decision_replays_all_again():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {}).cursor
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored("ds-1"), cursor).cursor
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", _all_scored("ds-1"), cursor)
    assert sorted(plan.replay) == IDS
    assert plan.decide is False
    done = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", _all_scored("ds-2"), plan.cursor)
    assert done.decide is True and done.cursor["decided"] != cursor["decided"]


def test_changed_candidate_config_replays_only_that_candidate():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {}).cursor
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored("ds-1"), cursor).cursor
    changed = V2.model_copy(update={"model": "sim/support-xl"})
    assert candidate_fingerprint(changed) != candidate_fingerprint(V2)
    candidates = [BASE, changed, LITE]
    plan = plan_regression_runs(candidates, set(IDS), "ds-1", _all_scored("ds-1"), cursor)
    assert plan.replay == ["support-v2"]
    assert plan.decide is False  # not before the changed candidate is re-scored
    assert plan.cursor["replayed"]["prod-v1"] == cursor["replayed"]["prod-v1"]
    assert plan.cursor["replayed"]["support-v2"] != cursor["replayed"]["support-v2"]
    # Once re-scored, the new combination is decided (a new decision key).
    after = plan_regression_runs(candidates, set(IDS), "ds-1", _all_scored("ds-1"), plan.cursor)
    assert after.decide is True
    assert after.cursor["decided"] != cursor["decided"]


def test_changed_params_or_prompt_also_count_as_a_new_config():
    for update in ({"params": {"temperature": 0.2}}, {"prompt_version": "v2"}, {"prompt_template": "Be brief."}):
        assert candidate_fingerprint(LITE.model_copy(update=update)) != candidate_fingerprint(LITE)
    assert candidate_fingerprint(LITE) == candidate_fingerprint(
        Candidate(candidate_id="support-lite", model="sim/support-lite")
    )


def test_added_candidate_is_registered_and_replayed_alone():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored(None), {}).cursor
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", _all_scored("ds-1"), cursor).cursor
    xl = Candidate(candidate_id="support-xl", model="sim/support-xl")
    scored = _all_scored("ds-1") | {"support-xl": None}
    plan = plan_regression_runs([*CANDIDATES, xl], set(IDS), "ds-1", scored, cursor)
    assert plan.partitions_to_add == ["support-xl"]
    assert plan.replay == ["support-xl"]
    assert plan.decide is False


def test_no_candidates_never_decides():
    plan = plan_regression_runs([], set(), "ds-1", {}, {})
    assert plan == plan_regression_runs([], set(), "ds-1", {}, plan.cursor)
    assert plan.decide is False and plan.replay == [] and plan.partitions_to_add == []
