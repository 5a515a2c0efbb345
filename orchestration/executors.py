"""Where a launched run's steps execute (`workers.executor` in assay.yaml).

`multiprocess` (the default): Dagster's own, a process per step on the machine that runs the
run. `celery`: dagster-celery's executor, which puts each step on a Redis queue (the broker at
ASSAY_REDIS_URL, which also holds the results) for `assay worker` processes on any machine
sharing the Postgres instance. The executor and the workers must agree on the broker:
both take it from the same variable, and the config only names it (`env:`).

`assay run` executes in its own process whatever this says; runs launched by the daemon (the
schedule, the sensors, the UI's launches, backfills) use it.
"""

from __future__ import annotations

import dagster as dg

BROKER_ENV = "ASSAY_REDIS_URL"
CELERY_QUEUE = "dagster"
"""dagster-celery's queue: every worker listens on it."""


def celery_step_executor() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": BROKER_ENV}}, name="assay_celery"
    )


def configured_executor(executor: str) -> dg.ExecutorDefinition | None:
    """The executor of every job for `workers.executor` (None: Dagster's default)."""
    return celery_step_executor() if executor == "celery" else None
