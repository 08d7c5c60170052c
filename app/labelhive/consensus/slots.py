"""A cap on the consensus recomputations that run at once, over every project and worker.

Consensus has its own place at the back of the queues (:mod:`labelhive.jobs.queues`), but once
a worker takes a recomputation it keeps it for as long as it runs: with many projects
recomputing, every worker could be busy with consensus and a user's import or export that
arrives then would wait for one to end. ``CONSENSUS_MAX_RUNNING`` (default 1, 0: no cap) bounds
them; the other workers stay free.

A consensus job takes a slot before it starts (:func:`take`): in one transaction serialised
with every other taker (an advisory lock on PostgreSQL, SQLite's single writer), it counts the
consensus jobs running with a live heartbeat and either marks itself running or stays
``queued``, with the reason in its record's runs. A job that ends hands its slot to the job
waiting longest (:func:`wake_one`); if that hand-off is lost (its worker died), the scheduler
enqueues the waiting job again once it has waited ``JOB_STALE_SECONDS``
(:func:`labelhive.jobs.records.recover`).

Jobs run in-process (no Redis) run one at a time anyway: no cap is needed there.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import Connection
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from labelhive.db import rowcount
from labelhive.db import table_of
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs import registry
from labelhive.jobs.models import CONSENSUS
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import JobRecord

DEFAULT_MAX_RUNNING = 1
# how a waiting job's reason starts (the hand-off and the scheduler look for it)
WAITING = "waiting for a consensus slot"
FREED = "a consensus slot freed"
# the advisory lock that serialises the takers on PostgreSQL ("LHCS")
_LOCK_KEY = 0x4C484353
J = table_of(JobRecord)
log = logging.getLogger(__name__)


def max_running(config: Mapping[str, Any]) -> int:
    """``CONSENSUS_MAX_RUNNING`` (env ``LABELHIVE_CONSENSUS_MAX_RUNNING``); unset: 1; 0: no cap."""
    value = config.get("CONSENSUS_MAX_RUNNING")
    return DEFAULT_MAX_RUNNING if value is None else max(int(value), 0)


def take(job_id: str) -> int | None:
    """Take a consensus slot for ``job_id``: mark it running, or leave it queued and say why.

    :return: ``None`` when the job may run (a slot was free, there is no cap, jobs run
        in-process, or the job is not queued); else the number of consensus jobs running,
        which the job waits behind.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cap = max_running(app.config)
    if cap == 0 or connection.redis(app) is None:
        return None
    now = utcnow()
    alive = now - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"])
    db.session.commit()  # end the session's read: SQLite's writer must be this connection
    with db.engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            _serialise(conn)
            if conn.scalar(select(J.c.status).where(J.c.id == job_id)) != QUEUED:
                # ended already (the job returns its result), or running again after its
                # worker died (it held a slot): nothing to take
                return None
            running = (
                conn.scalar(
                    select(func.count()).where(
                        J.c.kind == CONSENSUS,
                        J.c.status == RUNNING,
                        J.c.updated >= alive,
                        J.c.id != job_id,
                    )
                )
                or 0
            )
            if running < cap:
                conn.execute(update(J).where(J.c.id == job_id).values(status=RUNNING, updated=now))
                return None
            reason = (
                f"{WAITING}: {running} consensus job(s) running, CONSENSUS_MAX_RUNNING is"
                f" {cap}; it starts when one ends"
            )
            _add_run(conn, job_id, reason, now)
    return running


def wake_one(ended: str) -> str | None:
    """Enqueue the consensus job that has waited longest for a slot, as ``ended`` ended.

    Two jobs ending at once wake two different jobs: the wake is a compare-and-set on the
    record's ``updated``. Enqueueing errors are logged: the scheduler enqueues it later.

    :return: the id of the job enqueued, if any.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if connection.redis(app) is None:
        return None
    db.session.commit()
    waiting = db.session.execute(
        select(J.c.id, J.c.func, J.c.args, J.c.queue, J.c.runs, J.c.updated)
        .where(J.c.kind == CONSENSUS, J.c.status == QUEUED)
        .order_by(J.c.updated, J.c.id)
    ).all()
    db.session.commit()
    for row in waiting:
        if not waiting_now(row.runs or []):
            continue
        runs = [*row.runs, records.run_entry(f"{FREED}: job {ended} ended")]
        claimed = rowcount(
            db.session.execute(
                update(J)
                .where(J.c.id == row.id, J.c.status == QUEUED, J.c.updated == row.updated)
                .values(runs=runs, updated=utcnow())
            )
        )
        db.session.commit()
        if not claimed:
            continue  # another ending job woke it, or it started
        try:
            name = registry.lookup(row.func).name
            queues.enqueue_now(app, name, tuple(row.args), row.id, row.queue)
        except Exception:  # noqa: BLE001 - the record stays queued; recover() retries it
            log.exception("could not enqueue the waiting consensus job %s", row.id)
        return str(row.id)
    return None


def waiting_now(runs: list[dict[str, Any]]) -> bool:
    """Whether a queued record's runs say it waits for a slot: a wait noted since it was
    last enqueued (requests merged into it since are notes, not enqueues)."""
    for run in reversed(runs):
        reason = str(run.get("reason", ""))
        if reason.startswith(WAITING):
            return True
        if reason.startswith((FREED, "re-enqueued by the scheduler")):
            return False
    return False


def _serialise(conn: Connection) -> None:
    # SQLite: the immediate transaction is the only writer already
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))


def _add_run(conn: Connection, job_id: str, reason: str, now: dt.datetime) -> None:
    runs = conn.scalar(select(J.c.runs).where(J.c.id == job_id)) or []
    conn.execute(
        update(J).where(J.c.id == job_id).values(runs=[*runs, records.run_entry(reason, now)],
                                                 updated=now)
    )  # fmt: skip
