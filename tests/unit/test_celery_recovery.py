"""The settings that let a step outlive its Celery worker (assay.orchestration.executors) and the
renewal of held messages (assay.orchestration.celery_worker.MessageRenewer), against a real
redis-server with kombu's own Redis transport: a message a live worker holds never grows old
enough to be put back; one whose worker died is put back after the visibility timeout. The
whole path (a worker killed mid-step, its step run again elsewhere) is in
tests/integration/test_team_loop.py."""

from __future__ import annotations

import time

import pytest
from assay.orchestration.executors import RENEW_FRACTION, celery_settings

from assay.testing.services import RedisServer

VISIBILITY_S = 2.0


def test_steps_are_acknowledged_late_and_come_back_after_the_configured_timeout():
    settings = celery_settings(45.0)
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1
    transport = settings["broker_transport_options"]
    assert transport["visibility_timeout"] == 45.0  # not Redis's hour
    assert transport["unacked_restore_interval"] == 10.0 and transport["unacked_restore_throttle"] == 1
    assert celery_settings(3.0)["broker_transport_options"]["unacked_restore_interval"] == 1.0


def test_workers_read_the_timeout_from_the_config(tmp_path, monkeypatch):
    from assay.runtime import configured_visibility_timeout_s

    config = tmp_path / "assay.yaml"
    config.write_text("workers:\n  visibility_timeout_s: 30\n")
    assert configured_visibility_timeout_s(config) == 30.0
    config.write_text("judge: {model: sim/judge}\n")
    assert configured_visibility_timeout_s(config) == 120.0


@pytest.fixture
def redis_url(tmp_path):
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


def _restore_visible(redis_url: str) -> list[str]:
    """What a surviving worker's sweep puts back on the queue (kombu's own code path)."""
    from kombu import Connection

    with Connection(redis_url, transport_options={"visibility_timeout": VISIBILITY_S}) as conn:
        channel = conn.default_channel
        channel.qos.restore_visible(num=100, interval=1)
        return [m.decode() for m in channel.client.lrange("dagster", 0, -1)]


def _deliver(redis_url: str, body: str, consumers: list) -> str:
    """A message on the `dagster` queue taken by a consumer that never acknowledges it (as a
    worker in the middle of a step, with late acknowledgement): its delivery tag. The consumer
    is kept open in `consumers` (closing it would put the message back at once: a killed
    worker never closes anything)."""
    from kombu import Connection

    producer = Connection(redis_url)
    producer.SimpleQueue("dagster").put(body)
    producer.release()
    consumer = Connection(redis_url, transport_options={"visibility_timeout": VISIBILITY_S})
    consumers.append(consumer)
    message = consumer.SimpleQueue("dagster").get(timeout=5)
    return message.delivery_tag


def test_a_held_message_is_renewed_and_a_dead_workers_message_comes_back(redis_url, monkeypatch):
    import redis

    monkeypatch.setenv("ASSAY_REDIS_URL", redis_url)  # the worker's app reads its broker at import
    from assay.orchestration.celery_worker import UNACKED_INDEX_KEY, MessageRenewer

    consumers: list = []
    held, lost = _deliver(redis_url, "held-step", consumers), _deliver(redis_url, "lost-step", consumers)
    renewer = MessageRenewer(redis_url, VISIBILITY_S / RENEW_FRACTION, lambda: [held, "acknowledged-meanwhile"])
    renewer.start()
    try:
        time.sleep(VISIBILITY_S * 1.5)  # older than the timeout, both of them
        requeued = _restore_visible(redis_url)
    finally:
        renewer.stop()
    client = redis.Redis.from_url(redis_url)
    assert len(requeued) == 1 and lost in requeued[0]  # the dead worker's step is back
    assert client.zscore(UNACKED_INDEX_KEY, held) is not None  # the live one's is still held
    assert client.zscore(UNACKED_INDEX_KEY, "acknowledged-meanwhile") is None  # not brought back
    assert client.zscore(UNACKED_INDEX_KEY, lost) is None
    for consumer in consumers:
        consumer.release()
