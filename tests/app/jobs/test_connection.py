"""Redis configuration, the Redis readiness report, queue metrics and the fail-open limiter."""

from __future__ import annotations

import pytest

from labelhive.jobs import connection
from tests.common.processes import free_port
from tests.conftest import make_app


def test_sentinels_win_over_url_and_keep_the_password_for_the_sentinels_too():
    config = {
        "REDIS_SENTINELS": "10.0.0.1:26379, redis-sentinel:26380,[::1]:5",
        "REDIS_URL": "redis://ignored:6379/0",
        "REDIS_PASSWORD": "p@ss",
    }
    where = connection.settings(config)
    assert where.sentinels == (("10.0.0.1", 26379), ("redis-sentinel", 26380), ("::1", 5))
    assert where.master == "mymaster"
    client = connection.connect(config)
    pool = client.connection_pool
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["password"] == "p@ss"
    assert pool.connection_kwargs["retry"].get_retries() == connection.DEFAULT_RETRIES
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel["password"] == "p@ss"
    uri, options = connection.limiter_storage(config)
    assert uri == "redis+sentinel://:p%40ss@10.0.0.1:26379,redis-sentinel:26380,::1:5/mymaster"
    assert options["socket_timeout"] == 0.5


def test_no_redis_and_plain_url():
    assert connection.connect({}) is None
    assert connection.limiter_storage({}) == ("memory://", {})
    with pytest.raises(ValueError, match="host:port"):
        connection.parse_sentinels("sentinel:port")
    uri, _ = connection.limiter_storage({"REDIS_URL": "redis://r:6379/1", "REDIS_PASSWORD": "x"})
    assert uri == "redis://:x@r:6379/1"


def test_readyz_reports_redis_down_without_taking_the_pod_out(sqlite_url):
    app = make_app(sqlite_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"].startswith("unavailable")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "labelhive_redis_up 0.0" in metrics
    assert "labelhive_job_seconds" in metrics


def test_readyz_without_redis_has_no_redis_check(sqlite_url):
    response = make_app(sqlite_url).test_client().get("/readyz")
    assert response.status_code == 200 and "redis" not in response.json["checks"]


def test_rate_limit_counts_in_memory_and_fails_open_when_redis_is_away(sqlite_url):
    # the API's limit is read per request (the site default is fixed by the first app built)
    limited = {"RATELIMIT_ENABLED": True, "RATELIMIT_API": "2 per minute"}
    client = make_app(sqlite_url, **limited).test_client()
    codes = [client.get("/api/project").status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429
    # the same limit on a Redis that does not answer: every request goes through
    away = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(sqlite_url, REDIS_URL=away, **limited).test_client()
    assert [client.get("/api/project").status_code for _ in range(4)] == [200] * 4
