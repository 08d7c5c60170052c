"""Queues, and enqueueing a job only once the database transaction that asked for it committed.

Queue names are part of the contract (DESIGN.md): :data:`HIGH` for per-answer follow-ups,
:data:`DEFAULT` for the work a user waits for (imports and exports), :data:`LOW` for background
upkeep (consensus, clean-up). Workers take from them in that order, so a user's import or export
never waits behind a queued consensus: at most behind one that is already running, which is one
per project at a time (:func:`labelhive.consensus.jobs.request_consensus`).

With no Redis configured, a job runs in this process instead, on one background thread with an
application context: the same job function, the same :class:`~labelhive.jobs.models.JobRecord`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from labelhive import metrics
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import registry
from labelhive.jobs.registry import DEFAULT as DEFAULT
from labelhive.jobs.registry import HIGH as HIGH
from labelhive.jobs.registry import LOW as LOW
from labelhive.jobs.registry import QUEUES as QUEUES

# a job that runs longer is stopped by the worker (a 100k-row import takes well under this)
JOB_TIMEOUT = 3600
# RQ's own copy of results; the JobRecord keeps them for as long as it lives
RESULT_TTL = 24 * 3600

_PENDING = "labelhive.pending_jobs"
log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def enqueue_after_commit(name: str, *args: Any, job_id: str, queue: str = DEFAULT) -> None:
    """Enqueue the job ``name`` with ``args`` once the current ``db.session`` transaction commits.

    Nothing is enqueued if it rolls back, so a worker never looks for rows that were never
    written. Enqueueing errors after the commit are logged, not raised: the job's record stays
    ``queued`` and the scheduler enqueues it again (:func:`labelhive.jobs.records.recover`).

    :param name: the job's registered name (:mod:`labelhive.jobs.registry`).
    :param args: primitive arguments (ids, strings, numbers), never ORM objects.
    :param job_id: the deterministic job id, also the ``JobRecord`` id.
    :param queue: one of :data:`QUEUES`.
    """
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}; use one of {', '.join(QUEUES)}.")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session = db.session()
    session.info.setdefault(_PENDING, []).append((app, name, args, job_id, queue))


def enqueue_now(app: Flask, name: str, args: tuple[Any, ...], job_id: str, queue: str) -> None:
    """Enqueue at once (the caller has committed): on Redis, or on the in-process thread.

    RQ is given :func:`labelhive.jobs.registry.perform` and the job's name, never the job
    function's own path, so a job waiting in Redis survives a rename of its function.

    :raise redis.exceptions.RedisError: when Redis stays unreachable through the retries.
    """
    client = connection.redis(app)
    if client is None:
        _in_process_executor().submit(run_in_process, app, name, args)
        return
    from rq import Queue

    Queue(queue, connection=client).enqueue_call(
        func=registry.perform,
        args=(name, *args),
        job_id=job_id,
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=7 * 24 * 3600,
    )


def run_in_process(app: Flask, name: str, args: tuple[Any, ...]) -> Any:
    """Run one job the way a worker does: in an app context, timed, session removed after."""
    started = time.monotonic()
    outcome = "failed"
    kind = name
    with app.app_context():
        try:
            job = registry.lookup(name)
            kind = job.name
            value = job(*args)
            outcome = "finished"
            return value
        except Exception:
            log.exception("in-process job %s%r failed", name, args)
            return None
        finally:
            db.session.remove()
            metrics.JOB_SECONDS.labels(kind=kind, outcome=outcome).observe(
                time.monotonic() - started
            )


def _in_process_executor() -> ThreadPoolExecutor:
    # one thread: jobs run one after another like one worker, and SQLite has one writer anyway
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelhive-job")
        return _executor


def _dispatch(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for app, name, args, job_id, queue in pending or ():
        try:
            enqueue_now(app, name, args, job_id, queue)
        except Exception:  # noqa: BLE001 - the record stays queued; recover() retries it
            log.exception("could not enqueue job %s; the scheduler will enqueue it again", job_id)


def _discard(session: Session, *_: Any) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Hook the session events once per process (idempotent)."""
    if not event.contains(Session, "after_commit", _dispatch):
        event.listen(Session, "after_commit", _dispatch)
        event.listen(Session, "after_soft_rollback", _discard)
