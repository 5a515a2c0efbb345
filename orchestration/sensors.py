"""Sensors: the nightly follow-up after the daily chain, and the regression conductor that
registers candidates as partitions, replays them on each new dataset version and then decides.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from assay.assets.day_ingest import ingested_fingerprint, landing_fingerprint
from assay.assets.decision_gates import policy_version
from assay.assets.partitions import DAYS_TAG, FIRST_DAY, candidate_partitions
from assay.assets.slo_marts import days_from_tag
from assay.orchestration.batch_sensor import judge_batch_sensor
from assay.orchestration.jobs import candidate_job, curate_job, daily_job, decide_job

from assay.config import config_path, load_config
from assay.contracts.candidate import Candidate
from assay.dataset_pointer import current_version
from assay.lake import Lake
from assay.landing import land_new_watched, landed_days, watch_state_file
from assay.runtime import AssayHome


@dataclass
class RegressionPlan:
    partitions_to_add: list[str] = field(default_factory=list)
    replay: list[str] = field(default_factory=list)
    """Candidates to (re)run on the current dataset version."""
    decide: bool = False
    cursor: dict = field(default_factory=dict)


def replay_key(dataset_version: str, candidate: Candidate) -> str:
    return f"{dataset_version}:{candidate.fingerprint}"


def plan_regression_runs(
    candidates: list[Candidate],
    existing_partitions: set[str],
    dataset_version: str | None,
    replayed: dict[str, str | None],
    cursor: dict,
    *,
    candidate_runs_in_flight: bool = False,
    policy: str = "",
    decided_in_lake: bool = False,
) -> RegressionPlan:
    """What the regression sensor should do now (pure: tested without Dagster).

    `replayed` is what the lake holds: for each candidate, the replay key
    (`<dataset version>:<candidate fingerprint>`) its current scores were computed under, or
    None. So replays done by any means (the CLI, a UI backfill) count, not only the sensor's.
    cursor = {"requested": {candidate_id: key}, "decided": key}: a replay is requested once per
    key (a failed run is not retried in a loop; re-run it from the UI), and the decision runs
    once per set of keys, only after every candidate is scored and no candidate run is queued
    or running. `decided_in_lake`: the lake already holds decisions made on these scores under
    this policy (`decision_is_current`), e.g. by `assay run` or `make demo` before the daemon
    ever ticked: deciding again would only repeat them, so the key counts as decided.
    """
    requested = dict(cursor.get("requested", {}))
    plan = RegressionPlan(
        partitions_to_add=sorted(c.candidate_id for c in candidates if c.candidate_id not in existing_partitions)
    )
    plan.cursor = {"requested": requested, "decided": cursor.get("decided")}
    if dataset_version is None:
        return plan
    keys = {c.candidate_id: replay_key(dataset_version, c) for c in candidates}
    for cid, key in keys.items():
        if replayed.get(cid) != key and requested.get(cid) != key:
            plan.replay.append(cid)
            requested[cid] = key
    # `policy` (the gate and SLOs) is part of the key: changing a threshold re-decides.
    decision_key = ",".join(f"{cid}={key}" for cid, key in sorted(keys.items())) + f";policy={policy}"
    all_current = bool(candidates) and all(replayed.get(cid) == key for cid, key in keys.items())
    if all_current and not plan.replay and not candidate_runs_in_flight and cursor.get("decided") != decision_key:
        plan.decide = not decided_in_lake
        plan.cursor["decided"] = decision_key
    return plan


def decision_is_current(
    decisions: list[dict] | None,
    candidates: list[Candidate],
    policy: str,
    scored_at: dict[str, datetime | None],
) -> bool:
    """Whether the lake's decisions on the current dataset version still stand (pure).

    decisions: the rows of `deploy_decisions` for the current dataset version (None: none);
    scored_at: when each candidate's current scores were written. They stand when there is one
    per non-baseline candidate, against today's baseline, under this policy, made after every
    candidate's scores (a replay since, e.g. of a changed candidate, is newer). Anything
    unknown (no timestamp) means they do not: deciding once too often beats never deciding.
    """
    baseline = next((c.candidate_id for c in candidates if c.is_baseline), None)
    if decisions is None or baseline is None:
        return False
    expected = {c.candidate_id for c in candidates if not c.is_baseline}
    if {d["candidate_id"] for d in decisions} != expected or len(decisions) != len(expected):
        return False
    if any(d["baseline_id"] != baseline or d["policy_version"] != policy or d["decided_at"] is None for d in decisions):
        return False
    latest_scores = [scored_at.get(c.candidate_id) for c in candidates]
    if any(at is None for at in latest_scores):
        return False
    return min(d["decided_at"] for d in decisions) >= max(latest_scores)


def replayed_keys(lake: Lake, candidate_ids: list[str]) -> dict[str, str | None]:
    """For each candidate, the replay key its current scores belong to (None: not scored)."""
    keys: dict[str, str | None] = {}
    for cid in candidate_ids:
        scores = lake.read_partition("candidate_scores", {"candidate": cid})
        outputs = lake.read_partition("candidate_outputs", {"candidate": cid})
        if not scores or not outputs or not scores.num_rows or not outputs.num_rows:
            keys[cid] = None
            continue
        version = scores.column("dataset_version")[0].as_py()
        same_replay = outputs.column("dataset_version")[0].as_py() == version
        fingerprint = outputs.column("candidate_fingerprint")[0].as_py()
        keys[cid] = f"{version}:{fingerprint}" if same_replay else None
    return keys


def latest_scored_at(lake: Lake, candidate_ids: list[str]) -> dict[str, datetime | None]:
    """For each candidate, when its current scores were written (None: not scored)."""
    latest: dict[str, datetime | None] = {}
    for cid in candidate_ids:
        scores = lake.read_partition("candidate_scores", {"candidate": cid})
        times = [] if scores is None else [t for t in scores.column("scored_at").to_pylist() if t is not None]
        latest[cid] = max(times) if times else None
    return latest


def lake_decisions(lake: Lake, dataset_version: str | None) -> list[dict] | None:
    """The decision rows of one dataset version (only what `decision_is_current` compares)."""
    table = lake.read_partition("deploy_decisions", {"dataset_version": dataset_version}) if dataset_version else None
    if table is None:
        return None
    return table.select(["candidate_id", "baseline_id", "policy_version", "decided_at"]).to_pylist()


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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
    in_flight = context.instance.get_runs_count(
        dg.RunsFilter(job_name=candidate_job.name, statuses=IN_FLIGHT)
    )
    version = current_version(lake)
    policy = policy_version(config.gate, config.slos)
    plan = plan_regression_runs(
        config.candidates,
        set(context.instance.get_dynamic_partitions(candidate_partitions.name)),
        version,
        replayed_keys(lake, ids),
        cursor,
        candidate_runs_in_flight=in_flight > 0,
        policy=policy,
        decided_in_lake=decision_is_current(
            lake_decisions(lake, version), config.candidates, policy, latest_scored_at(lake, ids)
        ),
    )
    requests = [
        dg.RunRequest(run_key=f"{cid}@{plan.cursor['requested'][cid]}", job_name=candidate_job.name, partition_key=cid)
        for cid in plan.replay
    ]
    if plan.decide:
        decision_run_key = "decide@" + hashlib.sha256(plan.cursor["decided"].encode()).hexdigest()[:16]
        requests.append(dg.RunRequest(run_key=decision_run_key, job_name=decide_job.name))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[candidate_partitions.build_add_request(plan.partitions_to_add)]
        if plan.partitions_to_add
        else [],
        cursor=json.dumps(plan.cursor, sort_keys=True),
    )


def plan_late_days(landed: dict[str, str], ingested: dict[str, str | None], today: date) -> list[str]:
    """Past days whose landing files changed since their raw_calls partition was built.

    landed: day -> fingerprint of its landing files now; ingested: day -> fingerprint the
    lake's partition was built from (None: never built). Today is never touched (still
    landing), and yesterday only once built: its first run is the nightly schedule's.
    """
    yesterday = (today - timedelta(days=1)).isoformat()
    stale = []
    for day, fingerprint in sorted(landed.items()):
        if day >= today.isoformat():
            continue
        built = ingested.get(day)
        if built is None and day == yesterday:
            continue
        if built != fingerprint:
            stale.append(day)
    return stale


@dg.sensor(
    job=daily_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-runs the daily chain for a past day whose landing files changed (a late or "
    "re-delivered file) since its raw_calls partition was built.",
)
def late_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    home = AssayHome.from_env()
    lake = Lake(home.lake)
    days = landed_days(home.landing)
    landed = {day: landing_fingerprint(home.landing, date.fromisoformat(day)) for day in days}
    ingested = {day: ingested_fingerprint(lake, day) for day in days}
    stale = plan_late_days(landed, ingested, datetime.now(UTC).date())
    before = [day for day in stale if day < FIRST_DAY]
    if before:
        # Landed after these definitions loaded, before their first day: no partition to run.
        context.log.warning(
            f"landing folders for {', '.join(before)} are before the first partition day {FIRST_DAY}: "
            "not ingested; reload the code location (the first day moves back to the earliest landed day) "
            "or set project.start_day in assay.yaml"
        )
    # The run key carries the fingerprint: one run per state of the landing folder.
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"late:{day}:{landed[day]}", partition_key=day) for day in stale if day >= FIRST_DAY
        ]
    )


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lands what is new in the folders sources watch (`sources.<name>.watch` in assay.yaml, "
    "e.g. a synced Langfuse blob-storage export), each record to its own day; late_landing_sensor "
    "then re-runs the past days that changed, the nightly schedule yesterday.",
)
def source_watch_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    config = load_config()
    home = AssayHome.from_env()
    today = datetime.now(UTC).date()
    said = []
    for name, source in sorted(config.sources.items()):
        if not source.watch:
            continue
        folder = (config_path().parent / source.watch).resolve()
        landed, errors = land_new_watched(
            folder, home.landing, watch_state_file(home.root, name), source=name, fmt=source.format,
            default_app=config.project.app, today=today, start_day=config.project.start_day,
        )
        for error in errors:  # tried again at the next evaluation
            context.log.warning(error)
        days = sorted({day for item in landed for day in item.files})
        said.append(f"{name}: {len(landed)} file(s) landed" + (f" ({', '.join(days)})" if days else "")
                    + (f", {len(errors)} could not be" if errors else ""))
    return dg.SkipReason("; ".join(said) or "no source has a `watch:` folder")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job],
    request_job=curate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a day is scored, refresh the regression dataset and the SLO marts.",
)
def nightly_followup_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    run = context.dagster_run
    day = run.tags.get("dagster/partition")
    record = context.instance.get_run_record_by_id(run.run_id)
    if record is not None and record.end_time is not None:
        since = context.instance.get_run_records(dg.RunsFilter(
            job_name=curate_job.name, statuses=[dg.DagsterRunStatus.SUCCESS, *IN_FLIGHT],
            created_after=datetime.fromtimestamp(record.end_time, UTC),
        ))
        if curated_since(day, [r.dagster_run.tags for r in since]):
            return dg.SkipReason(f"daily_job {day or run.run_id[:8]}: already curated by a later curate_job run")
    # The SLO marts then rebuild only that day (incremental by day).
    return dg.RunRequest(run_key=f"followup:{run.run_id}", tags={DAYS_TAG: day} if day else {})


def curated_since(day: str | None, curate_run_tags: list[dict[str, str]]) -> bool:
    """Whether one of these curate_job runs (started after a daily run ended, not failed: their
    tags) covers that run's day: its `assay/days` tag names the day, or it has none (a build of
    every day). The CLI curates after its own days (`assay run`, `make demo`); a daemon that
    starts later and reads those daily runs' successes must not curate them again.
    """
    for tags in curate_run_tags:
        try:
            days = days_from_tag(tags.get(DAYS_TAG))
        except ValueError:
            continue  # a malformed tag: that run failed, it covers nothing
        if not days or (day is not None and day in days):
            return True
    return False


ALL_SENSORS = [regression_sensor, late_landing_sensor, source_watch_sensor, nightly_followup_sensor, judge_batch_sensor]


