"""The worker outlives Redis being away longer than the client's retries (a slow failover).

RQ's dequeue loop already waits for Redis; these are the other Redis calls of its work loop:
the heartbeats, the suspension check, registry maintenance, and the execution record written
before the fork. A job dropped that way is found by the scheduler's recovery and enqueued
again. Redis here is a real redis-server, stopped by its PID; the failover itself, with
Sentinels, is in ``tests/integration/test_jobs_failover.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.executions import Execution
from sqlalchemy import update

from labelhive import starters
from labelhive.accounts import services as accounts
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import JobRecord
from labelhive.jobs.worker import LabelhiveWorker
from labelhive.projects import services as projects
from tests.app.jobs.conftest import csv_file
from tests.common.redis import RedisServer
from tests.conftest import make_app


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server; a test may stop it early (stopping twice is harmless)."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: RedisServer):  # noqa: ANN202
    """A client that fails at once, as one whose retries ran out in a long failover."""
    return connection.connect(server.config(), retries=0, socket_timeout=1)


def _worker_and_job(client):  # noqa: ANN001, ANN202
    queue = Queue("default", connection=client)
    worker = LabelhiveWorker([queue], connection=client)
    worker.register_birth()
    job = queue.enqueue("labelhive.jobs.records.get", "nothing")
    job.started_at = dt.datetime.now(dt.UTC)
    execution = Execution.create(job, ttl=60, pipeline=client)
    return worker, job, execution


def test_heartbeats_while_redis_is_away_are_skipped_not_fatal(redis_server, caplog):
    worker, job, execution = _worker_and_job(_client(redis_server))
    worker.heartbeat()
    worker.maintain_heartbeats(job, execution)
    redis_server.stop()
    # RQ's own heartbeat raises once Redis is gone: what ended the worker before
    with pytest.raises(RedisConnectionError):
        super(LabelhiveWorker, worker).heartbeat()
    worker.heartbeat()
    worker.maintain_heartbeats(job, execution)
    skipped = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(skipped) == 2, skipped


def test_the_rest_of_the_work_loop_while_redis_is_away_is_skipped_not_fatal(redis_server, caplog):
    worker, job, _ = _worker_and_job(_client(redis_server))
    queue = Queue("default", connection=worker.connection)
    redis_server.stop()
    # each of these raised out of RQ's work loop, which then logged "quitting" and ended
    with pytest.raises(RedisConnectionError):
        super(LabelhiveWorker, worker).check_for_suspension(False)
    with pytest.raises(RedisConnectionError):
        super(LabelhiveWorker, worker).run_maintenance_tasks()
    with pytest.raises(RedisConnectionError):
        worker.prepare_execution(job)
    worker.check_for_suspension(False)
    worker.run_maintenance_tasks()
    worker.execute_job(job, queue)
    assert worker.horse_pid == 0  # the execution could not be recorded: no horse was forked
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("suspension check skipped") for m in messages), messages
    assert any(m.startswith("registry maintenance skipped") for m in messages), messages
    assert any(m.startswith(f"job {job.id} left to the scheduler") for m in messages), messages


@pytest.fixture
def redis_app(sqlite_url: str, redis_server: RedisServer) -> Iterator[tuple]:
    app = make_app(sqlite_url, **redis_server.config())
    with app.app_context():
        yield app, connection.redis(app)
        db.session.remove()
        db.engine.dispose()


def test_recover_enqueues_again_a_job_a_worker_popped_and_dropped(redis_app):
    app, client = redis_app
    owner = accounts.create_user("olivia", password=None)
    project = projects.create_project(owner, {"name": "Birds", "short_name": "birds", "info": {}})
    db.session.commit()
    dropped = starters.start_import(project, None, csv_file(3), "csv").id
    db.session.commit()
    waiting = starters.start_import(project, None, csv_file(3, start=3), "csv").id
    db.session.commit()
    queue = Queue("default", connection=client)
    assert queue.get_job_ids() == [dropped, waiting]
    # a worker on all the queues (as by default) pops the first job, then Redis fails over
    # before the execution is recorded
    all_queues = [Queue(name, connection=client) for name in queues.QUEUES]
    popped, _ = Queue.dequeue_any(all_queues, None, connection=client)
    assert popped.id == dropped and popped.get_status() == "queued"
    old = utcnow() - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
    db.session.execute(update(JobRecord).values(updated=old))
    db.session.commit()
    # still "queued" in its hash, in no list: lost; the one waiting in its queue is not
    assert records.recover(app) == [dropped]
    assert queue.get_job_ids() == [waiting, dropped]
