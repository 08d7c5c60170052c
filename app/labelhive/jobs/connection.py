"""The Redis connection, from configuration: through Sentinel, a plain URL, or none.

``REDIS_SENTINELS`` (``host:port[,host:port]``) wins over ``REDIS_URL``; with neither, there
is no Redis and jobs run in-process (:mod:`labelhive.jobs.queues`).

Connections from :meth:`redis.sentinel.Sentinel.master_for` do not retry unless given a
``retry``: without it a worker dies on the first ``ConnectionError`` of a failover. With one,
each command is retried with jittered exponential backoff, and every retry asks the Sentinels
for the master again, so a promoted replica is found without a restart. A failover makes writes
unavailable for a few seconds (``down-after-milliseconds`` plus the election); the default
retry budget (:data:`DEFAULT_RETRIES` attempts, backoff capped at 2 s) covers about 10 s.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import current_app
from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

DEFAULT_RETRIES = 12
_EXTENSION_KEY = "labelhive.redis"


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """Where Redis is, read from the Flask config."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    url: str
    password: str | None

    @property
    def configured(self) -> bool:
        return bool(self.sentinels or self.url)


def parse_sentinels(value: str) -> tuple[tuple[str, int], ...]:
    """Parse ``host:port[,host:port]`` (the port defaults to 26379).

    :raise ValueError: for a port that is not a number.
    """
    sentinels = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        try:
            sentinels.append((host.strip("[]"), int(port)))
        except ValueError:
            raise ValueError(f"REDIS_SENTINELS: {item!r} is not host:port") from None
    return tuple(sentinels)


def settings(config: Mapping[str, Any]) -> RedisSettings:
    return RedisSettings(
        sentinels=parse_sentinels(config.get("REDIS_SENTINELS") or ""),
        master=config.get("REDIS_MASTER") or "mymaster",
        url=config.get("REDIS_URL") or "",
        password=config.get("REDIS_PASSWORD") or None,
    )


def connect(
    config: Mapping[str, Any],
    *,
    retries: int = DEFAULT_RETRIES,
    socket_timeout: float = 5.0,
) -> Redis | None:
    """A new Redis client for the master, or ``None`` when Redis is not configured.

    Nothing is connected yet: clients connect on their first command.

    :param config: the Flask config (``REDIS_*`` keys).
    :param retries: attempts after a connection error (0: fail at once, as health checks want).
    :param socket_timeout: seconds for connecting and for each reply.
    """
    where = settings(config)
    if not where.configured:
        return None
    retry = Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.1), retries)
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "socket_keepalive": True,
        "retry": retry,
        "health_check_interval": 30,
    }
    if where.sentinels:
        sentinel = Sentinel(
            list(where.sentinels),
            # the operator's Sentinels have requirepass too
            sentinel_kwargs={
                "password": where.password,
                "socket_timeout": min(socket_timeout, 1.0),
                "socket_connect_timeout": min(socket_timeout, 1.0),
            },
            password=where.password,
        )
        return sentinel.master_for(where.master, **common)
    return Redis.from_url(where.url, password=where.password, **common)


def redis(app: Flask | None = None) -> Redis | None:
    """The application's shared Redis client (with retries), made on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if _EXTENSION_KEY not in app.extensions:
        app.extensions[_EXTENSION_KEY] = connect(app.config)
    return app.extensions[_EXTENSION_KEY]


def check(config: Mapping[str, Any], timeout: float = 1.0) -> str:
    """``"ok"``, or ``"unavailable: <reason>"`` after at most about ``timeout`` seconds.

    :raise LookupError: when Redis is not configured.
    """
    client = connect(config, retries=0, socket_timeout=timeout)
    if client is None:
        raise LookupError("Redis is not configured")
    try:
        client.ping()
        return "ok"
    except RedisError as exc:
        return f"unavailable: {type(exc).__name__}"
    finally:
        client.close()


def limiter_storage(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's storage URI and options: the same Redis, or memory without one.

    Short timeouts and no retries: the limiter fails open (``RATELIMIT_SWALLOW_ERRORS``), so a
    request must not wait for a failover to finish.
    """
    where = settings(config)
    password = urllib.parse.quote(where.password, safe="") if where.password else ""
    auth = f":{password}@" if password else ""
    fast = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    if where.sentinels:
        hosts = ",".join(f"{host}:{port}" for host, port in where.sentinels)
        uri = f"redis+sentinel://{auth}{hosts}/{where.master}"
        return uri, {**fast, "sentinel_kwargs": dict(fast), "use_replicas": False}
    if where.url:
        if where.password and "@" not in where.url:
            scheme, _, rest = where.url.partition("://")
            return f"{scheme}://{auth}{rest}", fast
        return where.url, fast
    return "memory://", {}
