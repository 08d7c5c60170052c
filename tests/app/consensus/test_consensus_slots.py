"""At most ``CONSENSUS_MAX_RUNNING`` consensus recomputations at once, over all projects: real
Redis, real ``labelhive worker`` processes (PostgreSQL for the one that holds a recomputation
mid-write), and the slot rules on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import select
from sqlalchemy import update

from labelhive.consensus import jobs as consensus_jobs
from labelhive.consensus import slots
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import records
from labelhive.jobs.models import JobRecord
from tests.common import engine
from tests.common.processes import labelhive_cli
from tests.common.redis import RedisServer
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def answered_projects(n: int) -> list[int]:
    """``n`` projects of 3 complete tasks (2 answers each)."""
    owner = make_user("owner")
    annotators = [make_user(f"a{i}") for i in range(2)]
    ids = []
    for p in range(n):
        project = make_project(owner, short_name=f"p{p}", n_tasks=3, n_answers=2)
        for user in annotators:
            while (claim := engine.claim(db.engine, project.id, user.id)) is not None:
                engine.submit(db.engine, claim.task["id"], user.id, "cat")
        ids.append(project.id)
    db.session.commit()
    return ids


def record(job_id: str) -> JobRecord:
    db.session.rollback()
    return db.session.scalar(
        select(JobRecord).where(JobRecord.id == job_id).execution_options(populate_existing=True)
    )


def worker(url: str, server: RedisServer) -> None:
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "consensus-slots-test",
        "LABELHIVE_CONSENSUS_MAX_RUNNING": "1",
        **server.config(),
    }
    done = labelhive_cli("worker", "--burst", "--queues", "high,default,low", env=env,
                         timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_second_worker_leaves_a_consensus_over_the_cap_queued_until_one_ends(
    pg_url: str, redis_server: RedisServer
) -> None:
    app = make_app(pg_url, **redis_server.config())
    with app.app_context():
        a, b = answered_projects(2)
        first, _ = consensus_jobs.request_consensus(a, "tasks completed")
        second, _ = consensus_jobs.request_consensus(b, "tasks completed")
        # hold project a's row: its recomputation runs, then waits to write
        holder = psycopg.connect(pg_url)
        holder.execute("SELECT id FROM project WHERE id = %s FOR UPDATE", (a,))
        busy = threading.Thread(target=worker, args=(pg_url, redis_server))
        busy.start()
        try:
            deadline = time.monotonic() + 60
            while record(first).status != "running":
                assert time.monotonic() < deadline, "the first job did not start"
                time.sleep(0.05)
            # a second worker takes the second job: over the cap, it stays queued and says why
            worker(pg_url, redis_server)
            waiting = record(second)
            assert (waiting.status, waiting.attempts, waiting.started) == ("queued", 0, None)
            assert waiting.runs[-1]["reason"].startswith(slots.WAITING + ": 1 consensus job")
            assert record(first).status == "running"
        finally:
            holder.rollback()
            holder.close()
            busy.join(timeout=180)
        ran, then = record(first), record(second)
        assert ran.status == "finished", ran.error
        # the first one's end handed its slot over: the busy worker ran the second after it
        assert (then.status, then.attempts) == ("finished", 1), then.error
        assert then.started >= ran.finished
        assert [r["reason"] for r in then.runs][-1] == f"a consensus slot freed: job {first} ended"
        assert then.result["n_items"] == 3
        db.session.remove()
        db.engine.dispose()


def add_record(job_id: str, project_id: int, status: str, updated: dt.datetime) -> None:
    db.session.add(
        JobRecord(
            id=job_id, kind="consensus", func="refresh_consensus", args=[job_id, project_id],
            queue="low", project_id=project_id, status=status, updated=updated,
            runs=[records.run_entry("tasks completed")],
        )
    )  # fmt: skip
    db.session.commit()


@pytest.fixture
def capped(any_url: str, redis_server: RedisServer) -> Iterator[Flask]:
    app = make_app(any_url, **redis_server.config())
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_slot_is_free_when_the_running_job_is_below_the_cap_or_dead(capped: Flask) -> None:
    a, b, c = answered_projects(3)
    now = utcnow()
    add_record("running", a, "running", now)
    add_record("next", b, "queued", now)
    assert slots.take("next") == 1  # the default cap: 1
    assert record("next").status == "queued"
    capped.config["CONSENSUS_MAX_RUNNING"] = 2
    assert slots.take("next") is None
    assert record("next").status == "running"
    # a running job whose heartbeat stopped (its worker died) holds no slot
    capped.config["CONSENSUS_MAX_RUNNING"] = 1
    stale = now - dt.timedelta(seconds=capped.config["JOB_STALE_SECONDS"] + 5)
    db.session.execute(update(JobRecord).where(JobRecord.id == "next").values(updated=stale))
    db.session.commit()
    add_record("third", c, "queued", now)
    assert slots.take("third") == 1  # "running" is alive, "next" is not
    capped.config["CONSENSUS_MAX_RUNNING"] = 0  # no cap
    assert slots.take("third") is None


def test_an_ending_job_wakes_the_one_waiting_longest_once(capped: Flask) -> None:
    a, b, c = answered_projects(3)
    now = utcnow()
    add_record("running", a, "running", now)
    add_record("older", b, "queued", now)
    add_record("newer", c, "queued", now + dt.timedelta(seconds=1))
    assert slots.take("older") == slots.take("newer") == 1
    # a request merged into a waiting job leaves it waiting
    assert consensus_jobs.request_consensus(b, "more answers") == ("older", "merged")
    low = Queue("low", connection=connection.redis(capped))
    low.empty()
    db.session.execute(update(JobRecord).where(JobRecord.id == "running").values(status="finished"))
    db.session.commit()
    assert slots.wake_one("running") == "older"
    assert low.job_ids == ["older"]
    assert record("older").runs[-1]["reason"] == "a consensus slot freed: job running ended"
    # "older" no longer waits: the next end wakes "newer", and then nobody
    assert slots.wake_one("older") == "newer"
    assert slots.wake_one("newer") is None
    assert low.job_ids == ["older", "newer"]


def test_the_scheduler_enqueues_a_forgotten_waiting_job_and_says_why(capped: Flask) -> None:
    a, b = answered_projects(2)
    add_record("running", a, "running", utcnow())
    add_record("waiting", b, "queued", utcnow())
    assert slots.take("waiting") == 1
    # its hand-off was lost (the running job's worker died): the scheduler enqueues it later
    stale = utcnow() - dt.timedelta(seconds=capped.config["JOB_STALE_SECONDS"] + 5)
    db.session.execute(update(JobRecord).values(updated=stale))
    db.session.commit()
    Queue("low", connection=connection.redis(capped)).empty()
    assert "waiting" in records.recover(capped)
    reason = record("waiting").runs[-1]["reason"]
    assert reason.startswith("re-enqueued by the scheduler: waited")
    assert reason.endswith("for a consensus slot")
