"""The worker outlives Redis being away longer than the client's retries (a slow failover).

RQ's dequeue loop already waits for Redis; these are the heartbeats outside it, sent after a
job and while a work horse runs. Redis here is a real redis-server, stopped by its PID; the
failover itself, with Sentinels, is in ``tests/integration/test_jobs_failover.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.executions import Execution

from labelhive.jobs import connection
from labelhive.jobs.worker import LabelhiveWorker
from tests.common.redis import RedisServer


def _worker_and_job(client):  # noqa: ANN001, ANN202
    queue = Queue("default", connection=client)
    worker = LabelhiveWorker([queue], connection=client)
    worker.register_birth()
    job = queue.enqueue("labelhive.jobs.records.get", "nothing")
    job.started_at = dt.datetime.now(dt.UTC)
    execution = Execution.create(job, ttl=60, pipeline=client)
    return worker, job, execution


def test_heartbeats_while_redis_is_away_are_skipped_not_fatal(caplog):
    server = RedisServer()
    server.start()
    try:
        client = connection.connect(server.config(), retries=0, socket_timeout=1)
        worker, job, execution = _worker_and_job(client)
        worker.heartbeat()
        worker.maintain_heartbeats(job, execution)
    finally:
        server.stop()
    # RQ's own heartbeat raises once Redis is gone: what ended the worker before
    with pytest.raises(RedisConnectionError):
        super(LabelhiveWorker, worker).heartbeat()
    worker.heartbeat()
    worker.maintain_heartbeats(job, execution)
    skipped = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(skipped) == 2, skipped
