"""Jobs: the daily chain, the nightly follow-up, one candidate's regression run, the decision."""

from __future__ import annotations

import dagster as dg
from assay.assets.partitions import shadow_partitions
from assay.assets.slo_marts import slo_marts
from dagster_dbt import build_dbt_asset_selection

JOB_TAG = "assay/job"
"""Every run carries its job's name here: the team stack's run queue limits runs per job by it
(assay.runtime.TEAM_RUN_QUEUE)."""

DAILY_ASSETS = [
    "raw_calls", "rejected_calls", "trace_spans", "sampled_calls", "call_scores",
    "trace_subjects", "session_subjects", "trace_scores", "session_scores", "failures",
]

daily_job = dg.define_asset_job(
    "daily_job",
    run_tags={JOB_TAG: "daily_job"},
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Ingest, sample, score and classify one day of production calls.",
)

CANDIDATE_MARTS = build_dbt_asset_selection(
    [slo_marts], dbt_select="source:lake.candidate_outputs+ source:lake.candidate_scores+ source:lake.regression_dataset+"
)
"""The dbt models over the regression dataset and the candidates' replays and scores. The
production marts (SLO, drift, ingest) do not read them: curate_job builds those, once, for the
days the run scored; rebuilding them again in every decision (all days) cost a third of it."""

PRODUCTION_MARTS = dg.AssetSelection.assets(slo_marts) - CANDIDATE_MARTS
"""The rest: the marts over production calls, their scores and the agents' runs. The candidate
marts read what only candidate_job writes, so curate_job, which runs before the candidates'
replays, leaves them to decide_job (building them in both cost each nightly run 28 of its 87 dbt
nodes twice, over the previous run's candidate rows)."""

curate_job = dg.define_asset_job(
    "curate_job",
    run_tags={JOB_TAG: "curate_job"},
    selection=dg.AssetSelection.assets("regression_dataset", "judge_calibration") | PRODUCTION_MARTS,
    description="After a day is scored: refresh the regression dataset, the SLO marts and the judges' "
    "agreement with human labels.",
)

candidate_job = dg.define_asset_job(
    "candidate_job",
    run_tags={JOB_TAG: "candidate_job"},
    selection=dg.AssetSelection.assets("candidate_outputs", "candidate_scores"),
    description="Replay the current regression dataset through one candidate and score it.",
)

decide_job = dg.define_asset_job(
    "decide_job",
    run_tags={JOB_TAG: "decide_job"},
    selection=CANDIDATE_MARTS | dg.AssetSelection.assets("deploy_decisions"),
    description="Build the candidate marts over every candidate's scores and decide on each candidate.",
)

shadow_job = dg.define_asset_job(
    "shadow_job",
    run_tags={JOB_TAG: "shadow_job"},
    selection=dg.AssetSelection.assets("shadow_outputs", "shadow_scores"),
    partitions_def=shadow_partitions,
    description="Replay one past day's sampled production calls through one candidate and score the "
    "answers with that day's evaluators (`assay compare` runs it over many days).",
)

ALL_JOBS = [daily_job, curate_job, candidate_job, decide_job, shadow_job]
