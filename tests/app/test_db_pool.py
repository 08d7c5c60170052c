"""Pooled PostgreSQL connections: pinged when idle, replaced after a disconnect."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from labelhive.extensions import db
from tests.conftest import make_app


def _backend_pids(n: int) -> list[int]:
    """Check ``n`` connections out at once, then back in; their server process ids."""
    conns = [db.engine.connect() for _ in range(n)]
    pids = [conn.scalar(text("SELECT pg_backend_pid()")) for conn in conns]
    for conn in conns:
        conn.close()
    return pids


def _terminate(url: str, pids: list[int]) -> None:
    """What a PostgreSQL restart does to the pool: its server processes are gone."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        for pid in pids:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_dead_connection_is_replaced_before_use(pg_url: str) -> None:
    app = make_app(pg_url, DB_PING_IDLE_SECONDS=0)
    with app.app_context():
        old = _backend_pids(1)
        _terminate(pg_url, old)
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) not in old
        db.engine.dispose()


def test_a_connection_that_died_within_the_idle_window_fails_once_then_the_pool_recovers(
    pg_url: str,
) -> None:
    app = make_app(pg_url, DB_PING_IDLE_SECONDS=3600)
    with app.app_context():
        old = _backend_pids(2)
        _terminate(pg_url, old)
        # not pinged (it was used moments ago): the statement fails, as a request would (503)
        with pytest.raises(DBAPIError) as failed, db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
        # the disconnect invalidated the whole pool: the other dead connection is replaced too
        pids = _backend_pids(2)
        assert not set(pids) & set(old)
        db.engine.dispose()
