"""The regression sensor: register candidates, replay each on every new (dataset version,
candidate config), decide once when all are scored and no replay is still running.
One cursor scenario per test."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from assay.orchestration.sensors import decision_is_current, plan_regression_runs, replay_key

from assay.contracts.candidate import Candidate

BASE = Candidate(candidate_id="prod-v1", model="sim/support-v1", is_baseline=True)
V2 = Candidate(candidate_id="support-v2", model="sim/support-v2")
LITE = Candidate(candidate_id="support-lite", model="sim/support-lite")
CANDIDATES = [BASE, V2, LITE]
IDS = sorted(c.candidate_id for c in CANDIDATES)
NOTHING = {cid: None for cid in IDS}


def current(version: str, candidates=CANDIDATES) -> dict[str, str]:
    return {c.candidate_id: replay_key(version, c) for c in candidates}


def test_new_candidates_become_partitions():
    plan = plan_regression_runs(CANDIDATES, {"prod-v1"}, None, NOTHING, {})
    assert plan.partitions_to_add == ["support-lite", "support-v2"]
    assert plan_regression_runs(CANDIDATES, set(IDS), None, NOTHING, {}).partitions_to_add == []


def test_no_dataset_yet_means_no_replays_and_no_decision():
    plan = plan_regression_runs(CANDIDATES, set(), None, NOTHING, {})
    assert plan.replay == [] and plan.decide is False


def test_new_dataset_version_replays_every_candidate_before_deciding():
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", NOTHING, {})
    assert sorted(plan.replay) == IDS
    assert plan.decide is False
    assert plan.cursor["requested"] == current("ds-1")
    assert json.loads(json.dumps(plan.cursor)) == plan.cursor  # stored as the sensor cursor


def test_a_requested_replay_is_not_requested_again_while_it_runs():
    first = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", NOTHING, {})
    second = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", NOTHING, first.cursor, candidate_runs_in_flight=True)
    assert second.replay == [] and second.decide is False


def test_no_decision_while_some_candidates_are_still_stale():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", NOTHING, {}).cursor
    partial = current("ds-1") | {"support-lite": None}
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", partial, cursor)
    assert plan.replay == [] and plan.decide is False


def test_no_decision_while_a_candidate_run_is_in_flight():
    """The race seen in the UI: scores of the current version already in the lake (from the
    CLI), replays requested anyway by a fresh cursor; decide must wait for them."""
    cursor = {"requested": current("ds-1")}
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), cursor, candidate_runs_in_flight=True)
    assert plan.decide is False


def test_all_current_decides_once():
    cursor = {"requested": current("ds-1")}
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), cursor)
    assert plan.decide is True and plan.replay == []
    again = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), plan.cursor)
    assert again.decide is False


def test_replays_done_outside_the_sensor_count():
    """Scores current in the lake but no decision on them: a fresh sensor decides without
    replaying."""
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), {})
    assert plan.replay == [] and plan.decide is True


def test_a_fresh_sensor_on_a_decided_lake_requests_nothing():
    """`make demo` then `assay ui`: the lake already holds decisions on these scores, so the
    daemon's first tick repeats nothing, and remembers the key as decided."""
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), {}, decided_in_lake=True)
    assert plan.replay == [] and plan.decide is False
    assert plan.cursor["decided"]
    # A new dataset version later is replayed and decided as usual.
    after = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", current("ds-1"), plan.cursor)
    assert sorted(after.replay) == IDS
    assert plan_regression_runs(CANDIDATES, set(IDS), "ds-2", current("ds-2"), after.cursor).decide is True


def test_a_changed_candidate_config_replays_only_that_candidate():
    cursor = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), {}).cursor
    changed = V2.model_copy(update={"params": {"temperature": 0.7}})
    plan = plan_regression_runs([BASE, changed, LITE], set(IDS), "ds-1", current("ds-1"), cursor)
    assert plan.replay == ["support-v2"] and plan.decide is False


def test_a_new_dataset_version_replays_all_and_then_decides_again():
    decided = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), {}).cursor
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", current("ds-1"), decided)
    assert sorted(plan.replay) == IDS
    done = plan_regression_runs(CANDIDATES, set(IDS), "ds-2", current("ds-2"), plan.cursor)
    assert done.decide is True


@pytest.mark.parametrize(
    "update",
    [{"model": "sim/support-xl"}, {"prompt_template": "Be brief."}, {"prompt_version": "v2"}, {"params": {"top_p": 0.5}}],
)
def test_fingerprint_changes_with_anything_that_shapes_outputs(update):
    assert LITE.model_copy(update=update).fingerprint != LITE.fingerprint


def test_fingerprint_is_stable():
    assert Candidate(candidate_id="support-lite", model="sim/support-lite").fingerprint == LITE.fingerprint


def test_sensor_registers_partitions_and_requests_replays(tmp_path, monkeypatch):
    """The real sensor against a Dagster instance and a lake with a current dataset."""
    from assay.orchestration.sensors import regression_sensor
    from dagster import DagsterInstance, build_sensor_context

    from assay.lake import atomic_write_text

    config = tmp_path / "assay.yaml"
    config.write_text(
        "candidates:\n"
        "  - {candidate_id: prod-v1, model: sim/support-v1, is_baseline: true}\n"
        "  - {candidate_id: support-v2, model: sim/support-v2}\n"
    )
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    atomic_write_text(tmp_path / "home" / "lake" / "regression_dataset" / "CURRENT", "ds-1\n")
    with DagsterInstance.ephemeral() as instance:
        result = regression_sensor(build_sensor_context(instance=instance))
        assert [r.partition_key for r in result.run_requests] == ["prod-v1", "support-v2"]
        assert {r.job_name for r in result.run_requests} == {"candidate_job"}
        assert result.dynamic_partitions_requests[0].partition_keys == ["prod-v1", "support-v2"]
        # Same lake, the cursor it returned: nothing new to request.
        again = regression_sensor(build_sensor_context(instance=instance, cursor=result.cursor))
        assert again.run_requests == []


def test_a_changed_gate_policy_decides_again_without_replaying():
    decided = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), {}, policy="p1").cursor
    plan = plan_regression_runs(CANDIDATES, set(IDS), "ds-1", current("ds-1"), decided, policy="p2")
    assert plan.replay == [] and plan.decide is True


DECIDED_AT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
SCORED = {cid: DECIDED_AT - timedelta(minutes=5) for cid in IDS}


def decisions(policy: str = "p1", baseline: str = "prod-v1", at: datetime = DECIDED_AT, ids=("support-lite", "support-v2")):
    return [{"candidate_id": cid, "baseline_id": baseline, "policy_version": policy, "decided_at": at} for cid in ids]


def test_decisions_made_on_the_current_scores_stand():
    assert decision_is_current(decisions(), CANDIDATES, "p1", SCORED) is True


@pytest.mark.parametrize(
    ("rows", "policy", "scored"),
    [
        (None, "p1", SCORED),  # never decided on this dataset version
        (decisions(ids=("support-v2",)), "p1", SCORED),  # a candidate added since
        (decisions(ids=("support-lite", "support-v2", "support-xl")), "p1", SCORED),  # one removed since
        (decisions(baseline="prod-v0"), "p1", SCORED),  # another baseline
        (decisions(policy="p0"), "p1", SCORED),  # the gate or an SLO changed
        (decisions(), "p1", SCORED | {"support-v2": DECIDED_AT + timedelta(minutes=1)}),  # replayed since
        (decisions(), "p1", SCORED | {"support-lite": None}),  # a candidate not scored
        (decisions(at=None), "p1", SCORED),  # no decision time
    ],
    ids=["none", "candidate-added", "candidate-removed", "baseline", "policy", "replayed-since", "unscored", "no-time"],
)
def test_decisions_that_no_longer_stand(rows, policy, scored):
    assert decision_is_current(rows, CANDIDATES, policy, scored) is False
