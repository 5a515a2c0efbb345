"""The Celery app `assay worker` runs: dagster-celery's step task, with the broker and result
backend at ASSAY_REDIS_URL (the executor of `executors.py` reads the same variable) and the
settings that let a step outlive the worker running it (`executors.celery_settings`).

`celery -A assay.orchestration.celery_worker worker -Q dagster` is what `assay worker` starts.
A worker needs what a step needs, and nothing local to another machine: this checkout (the
same version), ASSAY_CONFIG and ASSAY_HOME as the daemon has them, ASSAY_PG_URL (the Dagster
instance, through the run's instance ref), ASSAY_REDIS_URL, and the provider keys.

Renewing what a worker holds: with late acknowledgement, a step's message stays in Redis's
index of unacknowledged messages (scored by when it was delivered) until the step ends, and
any worker puts a message older than the visibility timeout back on the queue. A step longer
than the timeout would then run twice at once. So the worker's main process re-scores the
messages it holds every fifth of the timeout (`MessageRenewer`): only a message whose worker
is gone grows old, and the timeout can be short enough for a lost step to run again soon.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from assay.orchestration.executors import BROKER_ENV, RENEW_FRACTION, celery_settings
from celery import signals
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import assay  # noqa: F401  (no-telemetry defaults before anything else loads)
from assay.runtime import configured_visibility_timeout_s

UNACKED_INDEX_KEY = "unacked_index"
"""kombu's Redis transport: delivery tag -> when delivered (no `global_keyprefix` is set)."""

log = logging.getLogger(__name__)


def _broker() -> str:
    url = os.environ.get(BROKER_ENV)
    if not url:
        raise SystemExit(f"assay worker: {BROKER_ENV} is not set (redis://host:6379/0, the Celery broker)")
    return url


class MessageRenewer:
    """A thread of the worker's main process: every `interval_s`, the delivery time of each
    message this worker holds (running or waiting for a pool process) becomes now. `XX`: a
    message acknowledged meanwhile is not brought back."""

    def __init__(self, redis_url: str, interval_s: float, held_tags):
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.interval_s = interval_s
        self.held_tags = held_tags
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="assay-renew-messages", daemon=True)

    def renew(self) -> int:
        tags = list(self.held_tags())
        if tags:
            now = time.time()
            self.client.zadd(UNACKED_INDEX_KEY, dict.fromkeys(tags, now), xx=True)
        return len(tags)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.renew()
            except Exception as exc:  # the broker away for a moment: try again next time
                log.warning("assay worker: could not renew held messages: %s", exc)

    def start(self) -> MessageRenewer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def _held_tags() -> list[str]:
    from celery.worker import state

    requests = list(state.reserved_requests) + list(state.active_requests)
    return sorted({str(r.message.delivery_tag) for r in requests if r.message is not None})


_VISIBILITY_TIMEOUT_S = configured_visibility_timeout_s()
app = make_app(
    CeleryExecutor.for_cli(broker=_broker(), backend=_broker(),
                           config_source=celery_settings(_VISIBILITY_TIMEOUT_S)).app_args()
)
execute_plan = create_task(app)


@signals.worker_ready.connect
def _start_renewing(**_kwargs) -> None:
    MessageRenewer(_broker(), _VISIBILITY_TIMEOUT_S / RENEW_FRACTION, _held_tags).start()
