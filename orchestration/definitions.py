"""The composition root: every asset, job, schedule, sensor and resource of assay.

Loaded by `dagster dev -w workspace.yaml` and by the CLI. Paths come from the environment:
ASSAY_HOME (default ./.assay) and ASSAY_CONFIG (default ./assay.yaml).
"""

from __future__ import annotations

import os

import dagster as dg
from assay.assets.agent_scores import agent_scores
from assay.assets.agent_subjects import agent_subjects
from assay.assets.assay_resource import AssayResource
from assay.assets.call_scores import call_scores
from assay.assets.candidate_outputs import candidate_outputs
from assay.assets.candidate_scores import candidate_scores
from assay.assets.dbt_cli_resource import OfflineDbtCliResource, dbt_executable
from assay.assets.deploy_decisions import deploy_decisions
from assay.assets.failures import failures
from assay.assets.judge_calibration import judge_calibration
from assay.assets.raw_calls import raw_calls
from assay.assets.regression_dataset import regression_dataset
from assay.assets.sampled_calls import sampled_calls
from assay.assets.shadow_replay import shadow_outputs, shadow_scores
from assay.assets.slo_marts import slo_marts
from assay.assets.warehouse_project import warehouse_project
from assay.orchestration.alert_sensors import ALERT_SENSORS
from assay.orchestration.executors import configured_executor
from assay.orchestration.jobs import ALL_JOBS
from assay.orchestration.schedules import nightly_schedule
from assay.orchestration.sensors import ALL_SENSORS

import assay  # noqa: F401  (applies the no-telemetry defaults before anything else loads)
from assay.config import config_path
from assay.runtime import AUTOMATION_ENV, AssayHome, configured_executor_name


def build_definitions() -> dg.Definitions:
    # `assay daemon --queue-only`: the daemon's code server offers no schedule or sensor to fire.
    automation = os.environ.get(AUTOMATION_ENV) != "off"
    return dg.Definitions(
        assets=[
            raw_calls,
            sampled_calls,
            call_scores,
            agent_subjects,
            agent_scores,
            judge_calibration,
            failures,
            regression_dataset,
            candidate_outputs,
            candidate_scores,
            slo_marts,
            deploy_decisions,
            shadow_outputs,
            shadow_scores,
        ],
        jobs=ALL_JOBS,
        schedules=[nightly_schedule] if automation else [],
        sensors=[*ALL_SENSORS, *ALERT_SENSORS] if automation else [],
        # `workers.executor`: steps of launched runs on Celery workers, or Dagster's default.
        executor=configured_executor(configured_executor_name()),
        resources={
            "assay": AssayResource(home_dir=str(AssayHome.from_env().root), config_file=str(config_path())),
            "dbt": OfflineDbtCliResource(
                project_dir=warehouse_project, dbt_executable=dbt_executable(),
                artifacts_dir=str(AssayHome.from_env().dbt_artifacts),
            ),
        },
    )


defs = build_definitions()
