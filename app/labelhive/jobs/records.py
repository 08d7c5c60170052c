"""Job records: create them with the work that asks for a job, track a running job, recover.

A job function hands its body to :func:`run_job`, which marks the record running, keeps it
alive with a heartbeat, and records the result or the error. A record that is already
``finished`` is not run again: that, and job bodies that resume from what they already wrote,
is what makes a job that runs twice leave the same result.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import current_app
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import queues
from labelhive.jobs.models import FAILED
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import JobRecord
from labelhive.tasks.importers import ImportFormatError

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job cannot do its work for a reason the user can act on; ``str()`` says which."""


# errors whose message is meant for the user, and which a retry would not cure
USER_ERRORS: tuple[type[Exception], ...] = (JobError, ImportFormatError)


def get_record(job_id: str) -> JobRecord | None:
    return db.session.get(JobRecord, job_id)


def submit(
    job_id: str,
    func_path: str,
    *args: Any,
    kind: str,
    queue: str = queues.DEFAULT,
    project_id: int | None = None,
    user_id: int | None = None,
    payload: bytes | None = None,
) -> JobRecord:
    """Add a job's record to the session and enqueue the job when the session commits.

    The caller commits (house style). Submitting an id that already has a record returns that
    record and enqueues nothing: the id is the job's natural key.
    """
    record = db.session.get(JobRecord, job_id)
    if record is not None:
        return record
    record = JobRecord(
        id=job_id,
        kind=kind,
        func=func_path,
        args=list(args),
        queue=queue,
        project_id=project_id,
        user_id=user_id,
        status=QUEUED,
        payload=payload,
    )
    db.session.add(record)
    queues.enqueue_after_commit(func_path, *args, job_id=job_id, queue=queue)
    return record


def submit_once(job_id: str, func_path: str, *args: Any, kind: str, queue: str) -> bool:
    """Create and enqueue a job unless its record exists (periodic jobs); commits.

    Ends the session's current transaction first, then inserts without reading: on SQLite a
    transaction that read before another writer committed cannot write any more.

    :return: whether this call created it (two schedulers may race; one wins).
    """
    db.session.rollback()
    values = {"id": job_id, "kind": kind, "func": func_path, "args": list(args), "queue": queue}
    try:
        # Core, not the ORM: a record of the same id may sit in the session's identity map.
        # ON CONFLICT DO NOTHING: the usual outcome (another caller won) is no error, and no
        # ERROR line in PostgreSQL's log
        dialect = db.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = dialect_insert(JobRecord).values(**values).on_conflict_do_nothing()
            # RETURNING, not rowcount: psycopg may not report a row count here
            if db.session.scalar(stmt.returning(JobRecord.id)) is None:
                db.session.rollback()
                return False
        else:
            db.session.execute(insert(JobRecord).values(**values))
        queues.enqueue_after_commit(func_path, *args, job_id=job_id, queue=queue)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


class Run:
    """What a job body gets: its record's id, and progress reporting."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def progress(self, done: int, total: int | None = None, *, commit: bool = True) -> None:
        """Record progress.

        :param commit: ``True``: write it at once on a connection of its own (the body's
            transaction is left alone; it must not hold uncommitted writes, as SQLite has one
            writer). ``False``: write it in the body's transaction, committed with its work.
        """
        values: dict[str, Any] = {"done": done, "updated": utcnow()}
        if total is not None:
            values["total"] = total
        statement = update(JobRecord).where(JobRecord.id == self.job_id).values(**values)
        if not commit:
            db.session.execute(statement)
            return
        with db.engine.begin() as conn:
            conn.execute(statement)


def run_job(job_id: str, body: Callable[[Run], dict[str, Any]]) -> dict[str, Any] | None:
    """Run ``body`` as job ``job_id``: record it running, then finished or failed.

    :return: the body's result (also stored), the stored result if the job had finished
        before, or ``None`` when the record is gone (its project was deleted).
    :raise Exception: unexpected errors, after recording them, so RQ records them too.
    """
    record = _begin(job_id)
    if record is None or record.status == FINISHED:
        return None if record is None else record.result
    heartbeat = _Heartbeat(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]
    heartbeat.start()
    try:
        result = body(Run(job_id))
    except USER_ERRORS as exc:
        db.session.rollback()
        _end(job_id, FAILED, error=str(exc))
        return {"error": str(exc)}
    except BaseException as exc:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        _end(job_id, FAILED, error=f"Internal error ({type(exc).__name__}); it has been logged.")
        raise
    finally:
        heartbeat.stop()
    # the outer caller commits (house style): what the body left, then the end, on its own
    db.session.commit()
    _end(job_id, FINISHED, result=result)
    return result


def _begin(job_id: str) -> JobRecord | None:
    now = utcnow()
    db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id, JobRecord.status != FINISHED)
        .values(
            status=RUNNING,
            attempts=JobRecord.attempts + 1,
            started=now,
            updated=now,
            error=None,
        )
    )
    db.session.commit()
    return db.session.get(JobRecord, job_id)


def _end(job_id: str, status: str, *, result: Any = None, error: str | None = None) -> None:
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated": now, "finished": now, "error": error}
    if status == FINISHED:
        values["result"] = result
        values["payload"] = None
    db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))
    db.session.commit()


class _Heartbeat:
    """Touches the record's ``updated`` while the job runs, on its own connection.

    A ``running`` record that stops being touched belongs to a worker that died; the scheduler
    then enqueues the job again (:func:`recover`).
    """

    def __init__(self, app: Flask, job_id: str) -> None:
        self.app = app
        self.job_id = job_id
        self.interval = max(app.config["JOB_STALE_SECONDS"] / 4, 0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        with self.app.app_context():
            while not self.stopped.wait(self.interval):
                try:
                    with db.engine.begin() as conn:
                        conn.execute(
                            update(JobRecord)
                            .where(JobRecord.id == self.job_id, JobRecord.status == RUNNING)
                            .values(updated=utcnow())
                        )
                except Exception:  # noqa: BLE001 - a missed beat is retried on the next one
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def recover(app: Flask, now: dt.datetime | None = None) -> list[str]:
    """Enqueue again the jobs that Redis or a dead worker lost; fail those out of attempts.

    - ``queued`` records older than ``JOB_STALE_SECONDS`` whose RQ job is gone (Redis lost it
      in a failover, or enqueueing failed after the commit) or failed;
    - ``running`` records whose heartbeat stopped for ``JOB_STALE_SECONDS`` (the worker died).

    Run by the scheduler. Jobs are idempotent, so enqueueing one that was in fact alive costs a
    second run, never a second result.

    :return: the ids enqueued again.
    """
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"])
    client = connection.redis(app)
    candidates = db.session.scalars(
        select(JobRecord)
        .where(JobRecord.status.in_((QUEUED, RUNNING)), JobRecord.updated < stale)
        .order_by(JobRecord.updated)
        .limit(500)
    ).all()
    again = []
    for record in candidates:
        if record.status == QUEUED and client is not None and _alive_in_redis(record.id, client):
            continue
        if record.attempts >= app.config["JOB_MAX_ATTEMPTS"]:
            record.status = FAILED
            record.error = f"Gave up after {record.attempts} attempts."
            record.finished = record.updated = now
            continue
        record.updated = now
        again.append(record)
    db.session.commit()
    for record in again:
        log.warning("enqueueing job %s again (it was %s)", record.id, record.status)
        queues.enqueue_now(app, record.func, tuple(record.args), record.id, record.queue)
    return [record.id for record in again]


def _alive_in_redis(job_id: str, client: Any) -> bool:
    """Whether RQ will still run the job: waiting in its queue, running, or scheduled.

    ``queued`` in the job's hash is not enough: a worker that popped the job and then lost Redis
    before recording the execution (a failover) leaves it ``queued`` and in no list. Between a
    worker's pop and its execution record the job is briefly in no list either; taking it for
    lost then costs an idempotent second run.
    """
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.job import JobStatus

    try:
        job = Job.fetch(job_id, connection=client)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        queue = Queue(job.origin, connection=client)
        return any(
            client.lpos(key, job_id) is not None
            for key in (queue.key, queue.intermediate_queue_key)
        )
    return status in (JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
