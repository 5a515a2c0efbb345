"""Sensors: the nightly follow-up after the daily chain, and the regression conductor that
registers candidates as partitions, replays them on each new dataset version and then decides.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import dagster as dg

from assay.config import load_config
from assay.contracts.candidate import Candidate
from assay.lake import Lake
from assay.runtime import AssayHome
from assets.partitions import candidate_partitions
from assets.regression_dataset import current_version
from orchestration.jobs import candidate_job, curate_job, daily_job, decide_job


def candidate_fingerprint(candidate: Candidate) -> str:
    """Changes when anything that shapes a candidate's outputs changes."""
    payload = json.dumps(candidate.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class RegressionPlan:
    partitions_to_add: list[str] = field(default_factory=list)
    replay: list[str] = field(default_factory=list)
    """Candidates to (re)run on the current dataset version."""
    decide: bool = False
    cursor: dict = field(default_factory=dict)


def plan_regression_runs(
    candidates: list[Candidate],
    existing_partitions: set[str],
    dataset_version: str | None,
    scored_versions: dict[str, str | None],
    cursor: dict,
) -> RegressionPlan:
    """What the regression sensor should do now (pure: tested without Dagster).

    cursor = {"replayed": {candidate_id: "<version>:<fingerprint>"}, "decided": "<key>"}.
    A candidate is replayed once per (dataset version, candidate config); the decision runs
    once per combination, after every candidate has scores for the current version.
    """
    replayed = dict(cursor.get("replayed", {}))
    plan = RegressionPlan(
        partitions_to_add=sorted(c.candidate_id for c in candidates if c.candidate_id not in existing_partitions)
    )
    if dataset_version is None:
        plan.cursor = {"replayed": replayed, "decided": cursor.get("decided")}
        return plan
    for candidate in candidates:
        key = f"{dataset_version}:{candidate_fingerprint(candidate)}"
        if replayed.get(candidate.candidate_id) != key:
            plan.replay.append(candidate.candidate_id)
            replayed[candidate.candidate_id] = key
    decision_key = dataset_version + ":" + ",".join(sorted(replayed.get(c.candidate_id, "") for c in candidates))
    all_scored = bool(candidates) and all(scored_versions.get(c.candidate_id) == dataset_version for c in candidates)
    if not plan.replay and all_scored and cursor.get("decided") != decision_key:
        plan.decide = True
        cursor_decided = decision_key
    else:
        cursor_decided = cursor.get("decided")
    plan.cursor = {"replayed": replayed, "decided": cursor_decided}
    return plan


def scored_versions(lake: Lake, candidate_ids: list[str]) -> dict[str, str | None]:
    """The dataset version each candidate's scores were computed on (None: not scored)."""
    versions: dict[str, str | None] = {}
    for cid in candidate_ids:
        table = lake.read_partition("candidate_scores", {"candidate": cid})
        versions[cid] = table.column("dataset_version")[0].as_py() if table is not None and table.num_rows else None
    return versions


@dg.sensor(
    jobs=[candidate_job, decide_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition per configured candidate, replays each candidate on every new "
    "dataset version, then requests the decision once all candidates are scored.",
)
def regression_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    home = AssayHome.from_env()
    config = load_config()
    lake = Lake(home.lake)
    cursor = json.loads(context.cursor) if context.cursor else {}
    ids = [c.candidate_id for c in config.candidates]
    plan = plan_regression_runs(
        config.candidates,
        set(context.instance.get_dynamic_partitions(candidate_partitions.name)),
        current_version(lake),
        scored_versions(lake, ids),
        cursor,
    )
    requests = [
        dg.RunRequest(run_key=f"{cid}@{plan.cursor['replayed'][cid]}", job_name=candidate_job.name, partition_key=cid)
        for cid in plan.replay
    ]
    if plan.decide:
        requests.append(dg.RunRequest(run_key=f"decide@{plan.cursor['decided']}", job_name=decide_job.name))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[candidate_partitions.build_add_request(plan.partitions_to_add)]
        if plan.partitions_to_add
        else [],
        cursor=json.dumps(plan.cursor, sort_keys=True),
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job],
    request_job=curate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a day is scored, refresh the regression dataset and the SLO marts.",
)
def nightly_followup_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"followup:{context.dagster_run.run_id}")


ALL_SENSORS = [regression_sensor, nightly_followup_sensor]


