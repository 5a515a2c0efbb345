"""The team stack's test services (assay/testing/services.py): real Postgres and redis-server on
free loopback ports, stopped on exit, and their data found again by a second start on the same
folder (what `make demo-team` needs for a second run)."""

from __future__ import annotations

import socket

import pytest

from assay.testing.services import PostgresServer, RedisServer


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow  # initdb and two Postgres starts: ~10 s
def test_postgres_and_redis_keep_their_data_across_a_restart(tmp_path):
    import psycopg2
    import redis

    with PostgresServer(tmp_path / "pg", keep=True) as pg, RedisServer(tmp_path / "redis", persist=True) as rd:
        with psycopg2.connect(pg.url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
            cur.execute("create table runs (id int)")
            cur.execute("insert into runs values (1), (2)")
        redis.Redis.from_url(rd.url).set("assay:test", "kept")
        first_ports = (pg.port, rd.port)
    assert not any(_listening(port) for port in first_ports)  # stopped

    # keep=False: this time the data goes at stop (from the system temp folder, where it lives
    # when the service user cannot reach pytest's private temp folders).
    with PostgresServer(tmp_path / "pg") as pg, RedisServer(tmp_path / "redis", persist=True) as rd:
        with psycopg2.connect(pg.url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
            cur.execute("select count(*) from runs")
            assert cur.fetchone() == (2,)
        assert redis.Redis.from_url(rd.url).get("assay:test") == b"kept"
