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
from sqlalchemy import func
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
from labelhive.jobs import registry
from labelhive.jobs.models import FAILED
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import JobRecord
from labelhive.jobs.registry import Job
from labelhive.jobs.registry import UserError

log = logging.getLogger(__name__)


def get_record(job_id: str) -> JobRecord | None:
    return db.session.get(JobRecord, job_id)


def submit(
    job_id: str,
    job: Job | str,
    *args: Any,
    kind: str,
    queue: str | None = None,
    project_id: int | None = None,
    user_id: int | None = None,
    payload: bytes | None = None,
    reason: str | None = None,
) -> JobRecord:
    """Add a job's record to the session and enqueue the job when the session commits.

    The caller commits (house style). Submitting an id that already has a record returns that
    record and enqueues nothing: the id is the job's natural key.

    :param job: the registered job, or its name (:mod:`labelhive.jobs.registry`).
    :param queue: where to run it (``None``: the job's own queue).
    :param reason: why it is asked for (the record's first entry in ``runs``).
    :raise UnknownJob: ``job`` names no registered job.
    """
    record = db.session.get(JobRecord, job_id)
    if record is not None:
        return record
    job = registry.lookup(job) if isinstance(job, str) else job
    queue = queue or job.queue
    record = JobRecord(
        id=job_id,
        kind=kind,
        func=job.name,
        args=list(args),
        queue=queue,
        project_id=project_id,
        user_id=user_id,
        status=QUEUED,
        payload=payload,
        runs=[run_entry(reason)] if reason else None,
    )
    db.session.add(record)
    queues.enqueue_after_commit(job.name, *args, job_id=job_id, queue=queue)
    return record


def submit_once(
    job_id: str,
    job: Job | str,
    *args: Any,
    kind: str,
    queue: str | None = None,
    project_id: int | None = None,
    user_id: int | None = None,
    reason: str | None = None,
) -> bool:
    """Create and enqueue a job unless its record exists (periodic jobs); commits.

    Ends the session's current transaction first, then inserts without reading: on SQLite a
    transaction that read before another writer committed cannot write any more. A unique
    index other than the id's (one queued consensus per project) also makes it a no-op.

    :param job: the registered job, or its name.
    :param project_id: the project the job works on (shown with the project's jobs).
    :param user_id: who asked, if anyone.
    :param reason: why it is asked for (the first entry of the record's ``runs``).
    :return: whether this call created it (two schedulers may race; one wins).
    """
    job = registry.lookup(job) if isinstance(job, str) else job
    queue = queue or job.queue
    db.session.rollback()
    values = {
        "id": job_id,
        "kind": kind,
        "func": job.name,
        "args": list(args),
        "queue": queue,
        "project_id": project_id,
        "user_id": user_id,
        "runs": [run_entry(reason)] if reason else None,
    }
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
        queues.enqueue_after_commit(job.name, *args, job_id=job_id, queue=queue)
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


def run_job(
    job_id: str,
    body: Callable[[Run], dict[str, Any]],
    *,
    follow_up: Callable[[str], Any] | None = None,
) -> dict[str, Any] | None:
    """Run ``body`` as job ``job_id``: record it running, then finished or failed.

    :param follow_up: called once, after the end is recorded, with the record's ``follow_up``
        reason when one was set while the job ran (:func:`ask_follow_up`): the job starts its
        one follow-up run. Setting it and ending are each one ``UPDATE`` of the row, so a
        request is either seen by the end or finds the job no longer running.
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
    except UserError as exc:
        db.session.rollback()
        _then(follow_up, _end(job_id, FAILED, error=str(exc)))
        return {"error": str(exc)}
    except BaseException as exc:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        reason = _end(
            job_id, FAILED, error=f"Internal error ({type(exc).__name__}); it has been logged."
        )
        _then(follow_up, reason)
        raise
    finally:
        heartbeat.stop()
    # the outer caller commits (house style): what the body left, then the end, on its own
    db.session.commit()
    _then(follow_up, _end(job_id, FINISHED, result=result))
    return result


def _then(follow_up: Callable[[str], Any] | None, reason: str | None) -> None:
    if follow_up is not None and reason:
        follow_up(reason)


def run_entry(reason: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """One entry of a record's ``runs``: when, and why the job was asked for or re-run."""
    return {"at": (now or utcnow()).isoformat(), "reason": reason}


def add_run(record: JobRecord, reason: str, now: dt.datetime | None = None) -> None:
    """Append a reason to ``record.runs`` (in the session; the caller commits)."""
    record.runs = [*(record.runs or []), run_entry(reason, now)]


def ask_follow_up(where: Any, reason: str) -> list[str]:
    """Ask the running job(s) matching ``where`` for one more run once they end; commits.

    The first reason is kept: however many ask, one follow-up runs.

    :param where: a SQL condition on :class:`JobRecord` (``status == running`` is added).
    :return: the ids of the running jobs that will run again (none: nothing was running).
    """
    # end the session's read first: on SQLite a transaction that read before another writer
    # committed cannot write any more ("database is locked" at once)
    db.session.commit()
    ids = list(
        db.session.scalars(
            update(JobRecord)
            .where(where, JobRecord.status == RUNNING)
            .values(follow_up=func.coalesce(JobRecord.follow_up, reason))
            .returning(JobRecord.id)
        )
    )
    db.session.commit()
    return ids


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


def _end(job_id: str, status: str, *, result: Any = None, error: str | None = None) -> str | None:
    """Record the end; return the follow-up reason set while the job ran, if any."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated": now, "finished": now, "error": error}
    if status == FINISHED:
        values["result"] = result
        values["payload"] = None
    reason = db.session.scalar(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(**values)
        .returning(JobRecord.follow_up)
    )
    db.session.commit()
    return reason


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
        try:
            name = registry.lookup(record.func).name
        except registry.UnknownJob:
            # a job this release no longer has (see registry.LEGACY_PATHS): nothing can run it
            record.status = FAILED
            record.error = "This kind of job no longer exists; start the work again."
            record.finished = record.updated = now
            continue
        if record.attempts >= app.config["JOB_MAX_ATTEMPTS"]:
            record.status = FAILED
            record.error = f"Gave up after {record.attempts} attempts."
            record.finished = record.updated = now
            continue
        record.updated = now
        add_run(record, _lost_reason(record, app), now)
        again.append((record, name))
    db.session.commit()
    for record, name in again:
        log.warning("enqueueing job %s again (it was %s)", record.id, record.status)
        queues.enqueue_now(app, name, tuple(record.args), record.id, record.queue)
    return [record.id for record, _ in again]


def _lost_reason(record: JobRecord, app: Flask) -> str:
    seconds = app.config["JOB_STALE_SECONDS"]
    if record.status == RUNNING:
        return (
            f"re-run by the scheduler: attempt {record.attempts} stopped sending heartbeats"
            f" for {seconds} s (its worker died)"
        )
    if any(
        str(run.get("reason", "")).startswith("waiting for a consensus slot")  # consensus.slots
        for run in record.runs or []
    ):
        return f"re-enqueued by the scheduler: waited {seconds} s for a consensus slot"
    return (
        f"re-enqueued by the scheduler: still queued after {seconds} s"
        " but no longer in its queue (lost)"
    )


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
