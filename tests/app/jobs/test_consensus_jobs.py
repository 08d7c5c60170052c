"""One consensus job per project at a time, behind every import and export, with its reasons.

Real Redis (``tests/common/redis.py``), real ``labelhive worker`` processes, SQLite and
PostgreSQL for what a user reaches (the API, the queue order); the lock-step test that holds a
recomputation mid-write runs on PostgreSQL (SQLite has one writer: holding its lock would hold
the job's own start back too).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import warnings
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from labelhive import starters
from labelhive.consensus import jobs as consensus_jobs
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import records
from labelhive.jobs.models import JobRecord
from labelhive.projects.models import Project
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


def _app(url: str, server: RedisServer) -> Flask:
    return make_app(url, **server.config())


def _answered_project() -> tuple[int, str]:
    """A project with 4 complete tasks (2 answers each); returns its id and the owner's key."""
    owner = make_user("owner")
    annotators = [make_user(f"a{i}") for i in range(2)]
    project = make_project(owner, n_tasks=4, n_answers=2)
    for user in annotators:
        while (claim := engine.claim(db.engine, project.id, user.id)) is not None:
            engine.submit(db.engine, claim.task["id"], user.id, "cat")
    db.session.commit()
    return project.id, owner.api_key


def _consensus(project_id: int) -> list[JobRecord]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(JobRecord)
            .where(JobRecord.project_id == project_id, JobRecord.kind == "consensus")
            .order_by(JobRecord.created)
        )
    )


def _worker(url: str, server: RedisServer, queues: str = "high,default,low") -> None:
    env = {"DATABASE_URL": url, "SECRET_KEY": "consensus-jobs-test", **server.config()}
    done = labelhive_cli("worker", "--burst", "--queues", queues, env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr


def test_requests_merge_into_the_queued_job_and_the_api_shows_why(
    any_url: str, redis_server: RedisServer
) -> None:
    app = _app(any_url, redis_server)
    with app.app_context():
        project_id, key = _answered_project()
        client = app.test_client()
        first = client.post(f"/api/project/{project_id}/consensus", query_string={"api_key": key})
        again = client.post(f"/api/project/{project_id}/consensus", query_string={"api_key": key})
        assert first.status_code == again.status_code == 202
        assert first.get_json()["id"] == again.get_json()["id"]
        # the scheduler's periodic run, and a window's request, merge too
        assert not records.submit_once(
            f"consensus-{project_id}-99", "refresh_consensus", f"consensus-{project_id}-99",
            project_id, kind="consensus", project_id=project_id, reason="periodic",
        )  # fmt: skip
        _, outcome = consensus_jobs.request_consensus(project_id, "tasks completed")
        assert outcome == "merged"
        (queued,) = _consensus(project_id)
        assert queued.status == "queued" and queued.queue == "low"
        reasons = [run["reason"] for run in queued.runs]
        assert reasons[0].startswith("asked for on the results page")
        assert reasons[1:] == [f"merged: {reasons[0]}", "merged: tasks completed"]
        assert Queue("low", connection=connection.redis(app)).job_ids == [queued.id]

        listed = client.get(f"/api/project/{project_id}/jobs", query_string={"api_key": key})
        (job,) = [j for j in listed.get_json() if j["kind"] == "consensus"]
        assert (job["project_id"], job["attempts"], job["follow_up"]) == (project_id, 0, None)
        assert [run["reason"] for run in job["runs"]] == reasons

        _worker(any_url, redis_server)
        (done,) = _consensus(project_id)
        assert (done.status, done.attempts) == ("finished", 1), done.error
        assert done.result["n_items"] == 4
        db.session.remove()
        db.engine.dispose()


def test_exports_and_imports_run_before_a_queued_consensus(
    any_url: str, redis_server: RedisServer
) -> None:
    app = _app(any_url, redis_server)
    with app.app_context():
        project_id, _ = _answered_project()
        consensus_id, _ = consensus_jobs.request_consensus(project_id, "tasks completed")
        project = db.session.get(Project, project_id)
        export_id = starters.start_export(project, None, "answers", "csv").id
        import_id = starters.start_import(
            project, None, b"url\nhttps://img.example/9.jpg\n", "csv"
        ).id
        db.session.commit()
        # one worker: it takes the user's work first, though the consensus was asked for first
        _worker(any_url, redis_server)
        db.session.rollback()
        started = {
            job_id: db.session.get(JobRecord, job_id).started
            for job_id in (consensus_id, export_id, import_id)
        }
        assert all(db.session.get(JobRecord, j).status == "finished" for j in started)
        assert started[consensus_id] > max(started[export_id], started[import_id])
        db.session.remove()
        db.engine.dispose()


def test_a_request_while_it_runs_asks_for_exactly_one_follow_up(
    pg_url: str, redis_server: RedisServer
) -> None:
    app = _app(pg_url, redis_server)
    with app.app_context():
        project_id, _ = _answered_project()
        first, _ = consensus_jobs.request_consensus(project_id, "tasks completed")
        # hold the project row: the recomputation computes, then waits to write
        holder = psycopg.connect(pg_url)
        holder.execute("SELECT id FROM project WHERE id = %s FOR UPDATE", (project_id,))
        worker = threading.Thread(target=_worker, args=(pg_url, redis_server))
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while _consensus(project_id)[0].status != "running":
                assert time.monotonic() < deadline, "the job did not start"
                time.sleep(0.05)
            outcomes = [
                consensus_jobs.request_consensus(project_id, f"request {i}")[1] for i in range(3)
            ]
            assert outcomes == ["follow_up"] * 3
            assert len(_consensus(project_id)) == 1  # nothing queued beside it
        finally:
            holder.rollback()
            holder.close()
            worker.join(timeout=180)
        ran, follow = _consensus(project_id)
        assert ran.id == first and ran.status == "finished" and ran.follow_up == "request 0"
        assert follow.status == "finished", follow.error
        assert follow.runs[0]["reason"] == f"follow-up of {first}: request 0"
        db.session.remove()
        db.engine.dispose()


def test_a_job_started_beside_a_running_one_merges_into_it(any_url: str) -> None:
    """Two requests that raced past the merge: the second to start does not run beside."""
    app = make_app(any_url)
    with app.app_context():
        project_id, _ = _answered_project()
        running = "consensus-running"
        db.session.add(
            JobRecord(
                id=running, kind="consensus", func="refresh_consensus",
                args=[running, project_id], queue="low", project_id=project_id,
                status="running", attempts=1,
            )
        )  # fmt: skip
        late = "consensus-late"
        db.session.add(
            JobRecord(
                id=late, kind="consensus", func="refresh_consensus", args=[late, project_id],
                queue="low", project_id=project_id, status="queued",
            )
        )  # fmt: skip
        db.session.commit()
        assert consensus_jobs.refresh_consensus(late, project_id) == {"merged_into": running}
        db.session.rollback()
        assert db.session.get(JobRecord, late).status == "finished"
        assert (
            db.session.get(JobRecord, running).follow_up
            == f"asked for again while it ran (job {late})"
        )
        db.session.remove()
        db.engine.dispose()


def test_the_scheduler_re_running_a_lost_job_says_so(
    any_url: str, redis_server: RedisServer
) -> None:
    app = _app(any_url, redis_server)
    with app.app_context():
        project_id, key = _answered_project()
        job_id, _ = consensus_jobs.request_consensus(project_id, "tasks completed")
        # a worker took it and died: running, no heartbeat for longer than JOB_STALE_SECONDS
        old = utcnow() - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 5)
        db.session.execute(
            update(JobRecord)
            .where(JobRecord.id == job_id)
            .values(status="running", attempts=1, updated=old)
        )
        Queue("low", connection=connection.redis(app)).empty()
        db.session.commit()
        assert records.recover(app) == [job_id]
        record = _consensus(project_id)[0]
        assert record.runs[-1]["reason"].startswith(
            "re-run by the scheduler: attempt 1 stopped sending heartbeats"
        )
        _worker(any_url, redis_server)
        db.session.rollback()  # a new snapshot: the worker wrote since
        listed = app.test_client().get(
            f"/api/project/{project_id}/jobs", query_string={"api_key": key}
        )
        (job,) = [j for j in listed.get_json() if j["id"] == job_id]
        assert (job["status"], job["attempts"]) == ("finished", 2)
        assert [r["reason"] for r in job["runs"]] == [
            "tasks completed",
            record.runs[-1]["reason"],
        ]
        count = db.session.scalar(select(func.count()).select_from(JobRecord))
        assert count == 1
        db.session.remove()
        db.engine.dispose()


def test_the_migration_keeps_one_queued_consensus_per_project(any_url: str) -> None:
    """The previous release could queue several: upgrading merges them, then the index holds."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import SAWarning

    from labelhive import migrate

    app = make_app(any_url)
    with app.app_context():
        project_id, _ = _answered_project()
        db.session.remove()
        cfg = migrate.alembic_config(db.engine)
        with db.engine.begin() as conn, warnings.catch_warnings():
            # SQLite's table copy reflects users, whose lower(email) index (another
            # migration's) SQLAlchemy cannot reflect: a warning, not a fault
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0013_review")
        with db.engine.begin() as conn:
            for job_id in ("consensus-a", "consensus-b"):
                conn.execute(
                    text(
                        "INSERT INTO job_record (id, kind, func, args, queue, project_id, status,"
                        " done, attempts, created, updated)"
                        " VALUES (:id, 'consensus', 'refresh_consensus', '[]', 'default', :p,"
                        " 'queued', 0, 0, :now, :now)"
                    ),
                    {"id": job_id, "p": project_id, "now": utcnow()},
                )
        migrate.upgrade(db.engine)
        states = {r.id: r.status for r in _consensus(project_id)}
        assert states == {"consensus-a": "queued", "consensus-b": "finished"}
        # from now on a second queued one is refused by the database
        assert not records.submit_once(
            "consensus-c", "refresh_consensus", "consensus-c", project_id,
            kind="consensus", project_id=project_id,
        )  # fmt: skip
        db.session.remove()
        db.engine.dispose()
