"""The composition root: every asset, job, schedule, sensor and resource of assay.

Loaded by `dagster dev -w workspace.yaml` and by the CLI. Paths come from the environment:
ASSAY_HOME (default ./.assay) and ASSAY_CONFIG (default ./assay.yaml).
"""

from __future__ import annotations

import dagster as dg

import assay  # noqa: F401  (applies the no-telemetry defaults before anything else loads)
from assay.config import config_path
from assay.runtime import AssayHome
from assets.assay_resource import AssayResource
from assets.call_scores import call_scores
from assets.candidate_outputs import candidate_outputs
from assets.candidate_scores import candidate_scores
from assets.deploy_decisions import deploy_decisions
from assets.failures import failures
from assets.judge_calibration import judge_calibration
from assets.raw_calls import raw_calls
from assets.regression_dataset import regression_dataset
from assets.sampled_calls import sampled_calls
from assets.shadow_replay import shadow_outputs, shadow_scores
from assets.slo_marts import slo_marts
from assets.warehouse_project import warehouse_project
from orchestration.alert_sensors import ALERT_SENSORS
from orchestration.dbt_resource import OfflineDbtCliResource, dbt_executable
from orchestration.jobs import ALL_JOBS
from orchestration.schedules import nightly_schedule
from orchestration.sensors import ALL_SENSORS


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            raw_calls,
            sampled_calls,
            call_scores,
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
        schedules=[nightly_schedule],
        sensors=[*ALL_SENSORS, *ALERT_SENSORS],
        resources={
            "assay": AssayResource(home_dir=str(AssayHome.from_env().root), config_file=str(config_path())),
            "dbt": OfflineDbtCliResource(
                project_dir=warehouse_project, dbt_executable=dbt_executable(),
                artifacts_dir=str(AssayHome.from_env().dbt_artifacts),
            ),
        },
    )


defs = build_definitions()
