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


RENEW_FRACTION = 5
"""Workers renew the steps they hold this many times per visibility timeout."""


def celery_settings(visibility_timeout_s: float) -> dict:
    """Celery settings the executor (which sends steps) and `assay worker` (which runs them)
    share, so that a worker killed in the middle of a step (`kill -9`, its machine gone) loses
    nothing:

    - `task_acks_late`: a step's message is acknowledged when the step has ended, not when a
      worker took it; until then Redis keeps it among the unacknowledged messages;
    - `task_reject_on_worker_lost`: when only the process running the step dies (the
      out-of-memory killer), the worker that survives puts the message back at once;
    - the Redis transport's `visibility_timeout`: when the whole worker dies, the message it
      held goes back on the queue once it is that old, and another worker runs the step.
      Its default is 1 h; `workers.visibility_timeout_s` sets it, and live workers renew the
      messages they hold (`assay.orchestration.celery_worker`), so a step longer than it is
      not run twice. The other workers look for such messages every `unacked_restore_interval`;
    - `worker_prefetch_multiplier` 1: a worker holds no message it has not started beyond its
      concurrency (a prefetched message would wait, unrenewed, in a dead worker).

    The run itself is not retried: its run worker keeps waiting for the step's result under the
    same task id, and gets it from whichever worker ran the step last. Answers the first
    attempt paid for come from the judge cache (files and Redis)."""
    restore_every_s = max(1.0, min(10.0, visibility_timeout_s / 3))
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s,
            "unacked_restore_interval": restore_every_s,
            "unacked_restore_throttle": 1,
            # dagster-celery's own defaults for reconnecting to the broker
            "max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
    }


def celery_step_executor(visibility_timeout_s: float) -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": BROKER_ENV},
         "config_source": celery_settings(visibility_timeout_s)},
        name="assay_celery",
    )


def configured_executor(executor: str, visibility_timeout_s: float | None = None) -> dg.ExecutorDefinition | None:
    """The executor of every job for `workers.executor` (None: Dagster's default);
    `visibility_timeout_s` is `workers.visibility_timeout_s` (read from the config when None)."""
    if executor != "celery":
        return None
    if visibility_timeout_s is None:
        from assay.runtime import configured_visibility_timeout_s

        visibility_timeout_s = configured_visibility_timeout_s()
    return celery_step_executor(visibility_timeout_s)
