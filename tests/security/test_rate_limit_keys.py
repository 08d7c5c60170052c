"""Rate limits count per resolved account, else per address, and are shared through Redis
(issue 22, finding 1).

A random ``?api_key=`` or a key with extra spaces no longer gives a fresh bucket: a key that
resolves to no account counts against the client address, a valid key in any spelling against
its account. With Redis configured, every gunicorn worker counts in the same buckets.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from redis import Redis

from labelhive.extensions import db
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.redis import PASSWORD as REDIS_PASSWORD
from tests.common.redis import RedisServer
from tests.common.web import make_user
from tests.conftest import make_app

LIMIT = 4


@pytest.fixture
def limited(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, RATELIMIT_API=f"{LIMIT} per hour")
    with app.app_context():
        app.config["KEY"] = make_user("alice").api_key
    yield app
    with app.app_context():
        db.engine.dispose()


def _statuses(app: Flask, requests_: list[dict]) -> list[int]:
    client = app.test_client()
    return [client.get("/api/project", **kwargs).status_code for kwargs in requests_]


def test_random_keys_count_against_the_address(limited: Flask) -> None:
    random_keys = [
        {"query_string": {"api_key": secrets.token_urlsafe(24)}} for _ in range(LIMIT + 2)
    ]
    assert _statuses(limited, random_keys) == [200] * LIMIT + [429, 429]
    # the address's bucket is the anonymous one: no key at all is refused too now
    assert _statuses(limited, [{}]) == [429]


def test_a_valid_key_in_any_spelling_counts_against_its_account(limited: Flask) -> None:
    key = limited.config["KEY"]
    spellings = [
        {"headers": {"Authorization": key}},
        {"headers": {"Authorization": f"  {key}   "}},
        {"headers": {"Authorization": f"Bearer {key}"}},
        {"query_string": {"api_key": key}},
        {"headers": {"Authorization": f"bearer   {key}"}},
    ]
    assert _statuses(limited, spellings) == [200] * LIMIT + [429]
    # the account's bucket is not the address's: an anonymous caller still gets through
    assert _statuses(limited, [{}]) == [200]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_gunicorn_workers_share_the_buckets_in_redis(
    pg_server: PostgresServer, redis_server: RedisServer
) -> None:
    env = {
        "DATABASE_URL": pg_server.create_database("rate_limit_redis"),
        "SECRET_KEY": "rate-limit-test",
        "RATELIMIT_API": "6 per hour",
        **redis_server.config(),
    }
    labelhive_cli("db", "upgrade", env=env)
    with labelhive_server(env, workers=3, threads=2) as server:
        # a new connection per request: the kernel spreads them over the workers
        statuses = []
        for _ in range(12):
            with requests.Session() as session:
                statuses.append(session.get(server.url + "/api/project", timeout=10).status_code)
                session.close()
    assert statuses == [200] * 6 + [429] * 6
    client = Redis(port=redis_server.master_port, password=REDIS_PASSWORD)
    try:
        assert client.keys("LIMITS:LIMITER/labelhive/*"), "the buckets are not in Redis"
    finally:
        client.close()
