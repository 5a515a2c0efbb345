"""The Celery app `assay worker` runs: dagster-celery's step task, with the broker and result
backend at ASSAY_REDIS_URL (the executor of `executors.py` reads the same variable).

`celery -A assay.orchestration.celery_worker worker -Q dagster` is what `assay worker` starts.
A worker needs what a step needs, and nothing local to another machine: this checkout (the
same version), ASSAY_CONFIG and ASSAY_HOME as the daemon has them, ASSAY_PG_URL (the Dagster
instance, through the run's instance ref), ASSAY_REDIS_URL, and the provider keys.
"""

from __future__ import annotations

import os

from assay.orchestration.executors import BROKER_ENV
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import assay  # noqa: F401  (no-telemetry defaults before anything else loads)


def _broker() -> str:
    url = os.environ.get(BROKER_ENV)
    if not url:
        raise SystemExit(f"assay worker: {BROKER_ENV} is not set (redis://host:6379/0, the Celery broker)")
    return url


app = make_app(CeleryExecutor.for_cli(broker=_broker(), backend=_broker()).app_args())
execute_plan = create_task(app)
