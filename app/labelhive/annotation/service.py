"""The annotation service: claim, submit, skip, undo, renew and progress, for every entry point.

The labeling page, the API and the CLI call these functions and translate their results to HTTP
or text; nothing else drives the store. The service owns the unit of work (it ends the request's
session transaction before the store runs its own, so there is one transaction at a time), the
retries of transactions the database aborted, the metrics, and the follow-ups of an answer
(adaptive redundancy, a consensus refresh). Decisions are :mod:`.core`'s, carried out by the
database's executor (:func:`store_for`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import has_app_context
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from labelhive import metrics
from labelhive.annotation import core
from labelhive.annotation import statements as st
from labelhive.annotation.core import Caller
from labelhive.annotation.core import Refusal
from labelhive.annotation.postgres import PostgresStore
from labelhive.annotation.sqlite import SQLiteStore
from labelhive.annotation.store import AnnotatorProgress
from labelhive.annotation.store import Claim
from labelhive.annotation.store import Holding
from labelhive.annotation.store import Store
from labelhive.annotation.store import Submitted
from labelhive.db import utcnow
from labelhive.extensions import db

log = logging.getLogger(__name__)

__all__ = [
    "AnnotatorProgress",
    "Caller",
    "Holding",
    "Claim",
    "Refusal",
    "Refused",
    "Submitted",
    "claim",
    "hold",
    "progress",
    "release",
    "renew",
    "set_redundancy",
    "skip",
    "store_for",
    "submit",
    "sweep_expired",
    "undo",
]

T, L, A = st.T, st.L, st.A

_RETRYABLE_SQLSTATES = {"40001", "40P01"}
_ATTEMPTS = 6
_R = TypeVar("_R")
# one generator for the process: a new ``Random()`` seeds itself from the OS, 8 µs a claim
_RNG = random.Random()  # noqa: S311 (mixing in gold tasks, not security)


class Refused(Exception):
    """A refused request: ``reason`` is a :class:`Refusal`, ``str()`` a sentence for the user."""

    def __init__(self, reason: Refusal, message: str | None = None) -> None:
        super().__init__(message or core.REFUSAL_MESSAGES[reason])
        self.reason = reason

    @classmethod
    def of(cls, decision: core.Refuse) -> Refused:
        return cls(decision.reason, decision.message)


# --- the executor of a database -------------------------------------------------------------

_STORES: weakref.WeakKeyDictionary[Engine, Store] = weakref.WeakKeyDictionary()
_STORES_GUARD = threading.Lock()


def store_for(engine: Engine | None = None) -> Store:
    """The executor of ``engine``'s database (the app's by default), one per engine.

    What an executor learns (PostgreSQL's expected project settings, SQLite's writer queue)
    stays with its engine, so it never carries over to another database.
    """
    engine = engine if engine is not None else db.engine
    found = _STORES.get(engine)
    if found is None:
        with _STORES_GUARD:
            found = _STORES.get(engine)
            if found is None:
                kind = PostgresStore if engine.dialect.name == "postgresql" else SQLiteStore
                found = _STORES[engine] = kind(engine)
    return found


def end_transaction() -> None:
    """Commit the request's session before the store runs a transaction of its own.

    One transaction at a time: the session's connection goes back to the pool and, on SQLite,
    reads after the call see the store's writes. No session yet: nothing to end, none made.
    What the request loaded stays loaded (the signed-in user, the project): reloading them
    after the commit would cost a statement each for rows the store does not write.
    """
    if not has_app_context() or not db.session.registry.has():
        return
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def _retryable(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)


def _retrying(fn: Callable[[], _R]) -> _R:
    """Run one unit of work, again after a deadlock, serialization failure or busy SQLite."""
    end_transaction()
    for attempt in range(_ATTEMPTS):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == _ATTEMPTS - 1 or not _retryable(exc):
                raise
            log.info("retrying annotation transaction after %s", exc.orig)
            time.sleep(0.005 * 2**attempt * (1 + _RNG.random()))
    raise AssertionError("unreachable")


# --- claim, submit, and the rest --------------------------------------------------------------


def claim(
    project_id: int,
    caller: Caller,
    *,
    ahead: bool = False,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    """Lease the caller a task of the project: the one they hold, else the next by the rules.

    :param ahead: lease one more task next to one held (the labeling page's look-ahead): an
        ordinary lease, which reserves a slot like any other, so redundancy stays exact.
    :return: the claim, or ``None`` when no task is left for the caller.
    :raise Refused: ``PROJECT_NOT_FOUND``, or ``FORBIDDEN`` when the caller may not contribute.
    """
    store = store_for(engine)
    when = now or utcnow()
    draw = (rng or _RNG).random()
    started = time.perf_counter()
    result = _retrying(lambda: store.claim(project_id, caller, when, draw, ahead=ahead))
    metrics.CLAIM_SECONDS.observe(time.perf_counter() - started)
    if isinstance(result, core.Refuse):
        metrics.CLAIMS.labels("refused").inc()
        raise Refused.of(result)
    outcome = "none" if result is None else ("resumed" if result.resumed else "leased")
    metrics.CLAIMS.labels(outcome).inc()
    return result


def submit(
    task_id: int,
    caller: Caller,
    info: Any,
    *,
    project_id: int | None = None,
    user_ip: str | None = None,
    external_uid: str | None = None,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
    follow_up: bool = True,
) -> Submitted:
    """Store the caller's answer to a task, exactly once, if the task has room.

    A retried submit with the same answer returns the stored answer (``created`` False).

    :param project_id: the project the caller says the task is in (``WRONG_PROJECT`` if not).
    :param follow_up: run what follows an answer that completes its task (adaptive redundancy,
        a consensus refresh); off for callers that batch those themselves.
    :raise Refused: with the :class:`Refusal` reason; nothing is stored then.
    """
    store = store_for(engine)
    when = now or utcnow()
    started = time.perf_counter()
    try:
        result = _retrying(
            lambda: store.submit(
                task_id,
                caller,
                info,
                project_id=project_id,
                now=when,
                user_ip=user_ip,
                external_uid=external_uid,
            )
        )
    finally:
        metrics.SUBMIT_SECONDS.observe(time.perf_counter() - started)
    if isinstance(result, core.Refuse):
        metrics.REFUSALS.labels(result.reason.value).inc()
        raise Refused.of(result)
    metrics.SUBMITS.labels("accepted" if result.created else "duplicate").inc()
    if result.created and not result.gold and result.stored is not None:
        _check_not_over_collected(task_id, result.stored, result.n_answers)
    if follow_up:
        _after_submit(result, engine)
    return result


def _check_not_over_collected(task_id: int, stored: int, n_answers: int) -> None:
    """An independent count of the stored answers, behind the counters: must never fire."""
    if stored > n_answers:
        metrics.OVER_COLLECTION.inc()
        log.error("task %s holds %s answers for n_answers=%s", task_id, stored, n_answers)


def _after_submit(submitted: Submitted, engine: Engine | None) -> None:
    # imported here: results imports this package (adaptive redundancy raises n_answers here)
    from labelhive.consensus import adaptive

    adaptive.after_submit(engine if engine is not None else db.engine, submitted)


def release(task_id: int, user_id: int, *, engine: Engine | None = None) -> bool:
    """Give up a lease (idempotent). :return: whether the user held one."""
    store = store_for(engine)
    return _retrying(lambda: store.release(task_id, user_id, skip=False))


def skip(task_id: int, user_id: int, *, engine: Engine | None = None) -> bool:
    """Give up a lease and keep the task from being offered again while others are left."""
    store = store_for(engine)
    return _retrying(lambda: store.release(task_id, user_id, skip=True))


def renew(
    task_id: int, user_id: int, *, engine: Engine | None = None, now: dt.datetime | None = None
) -> dt.datetime | None:
    """Extend a lease the user still holds (the labeling page's heartbeat).

    :return: the new expiry, or ``None`` when the lease is gone (swept, or answered).
    """
    store = store_for(engine)
    when = now or utcnow()
    return _retrying(lambda: store.renew(task_id, user_id, when))


def undo(
    answer_id: int,
    caller: Caller,
    *,
    author_id: int | None = None,
    project_id: int | None = None,
    managers_too: bool = False,
    keep_lease: bool = True,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """Take back an answer while its task is not complete.

    :param author_id: whose answer (the caller's by default).
    :param project_id: the project the answer must be in (``TASK_NOT_FOUND`` if not).
    :param managers_too: the project's managers may take back anyone's answer.
    :param keep_lease: lease the task to the author again (undo, to answer again), or free the
        slot (a deletion).
    :raise Refused: ``TASK_NOT_FOUND`` (no such answer of the author), ``FORBIDDEN``,
        ``TASK_COMPLETED`` (its result used the answer).
    """
    store = store_for(engine)
    when = now or utcnow()

    def decide(
        task: core.TaskFacts | None, project: core.ProjectFacts | None, ttl: int
    ) -> core.Refuse | core.TakeBack:
        context = core.UndoContext(
            caller,
            when,
            task,
            project,
            lease_ttl=ttl,
            expected_project_id=project_id,
            managers_too=managers_too,
        )
        return core.decide_undo(context, keep_lease=keep_lease)

    author = caller.id if author_id is None else author_id
    result = _retrying(lambda: store.undo(answer_id, author, when, decide))
    if isinstance(result, core.Refuse):
        raise Refused.of(result)
    return result


def set_redundancy(
    n_answers: int,
    *,
    project_id: int | None = None,
    task_ids: list[int] | None = None,
    expect_n_answers: int | None = None,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Change ``n_answers`` of some tasks (by id, or all of a project) under their row locks.

    Tasks whose answers now meet the redundancy complete (with a result); raising it reopens
    them.

    :param expect_n_answers: change only tasks whose ``n_answers`` still is this (checked under
        the row lock): a compare-and-set for callers that decided from an earlier read, so a
        repeated or late decision never applies twice.
    :return: the number of tasks changed.
    """
    # imported here: the input rule lives with the task schema
    from labelhive.tasks import rules

    rules.validate_n_answers(n_answers)
    if project_id is None and task_ids is None:
        raise ValueError("give project_id or task_ids")
    store = store_for(engine)
    when = now or utcnow()
    return _retrying(
        lambda: store.set_redundancy(
            n_answers,
            project_id=project_id,
            task_ids=task_ids,
            expect_n_answers=expect_n_answers,
            now=when,
        )
    )


def sweep_expired(*, engine: Engine | None = None, now: dt.datetime | None = None) -> int:
    """Delete every expired lease (the scheduler's periodic job). :return: how many."""
    store = store_for(engine)
    when = now or utcnow()
    return _retrying(lambda: store.sweep_expired(when))


# --- progress -----------------------------------------------------------------------------------


def progress(project_id: int, user_id: int) -> AnnotatorProgress:
    """The caller's progress in a project (``userprogress``, the labeling page's counter)."""
    row = db.session.execute(select(*st.progress_columns(project_id, user_id))).one()
    return AnnotatorProgress(row.answered or 0, row.tasks or 0)


# --- the labeling page's holding: the task on screen and the one behind it --------------------

# leases one user holds in one project on the labeling page: the task on screen and the
# prefetched one (whose image the browser has loaded before the keypress that shows it)
MAX_HELD = 2


def hold(
    project_id: int,
    caller: Caller,
    *,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Holding:
    """Make sure the caller holds up to :data:`MAX_HELD` tasks of the project; return them,
    oldest lease first, with the caller's progress.

    The second lease is a look-ahead: an ordinary lease, which reserves a slot like any other,
    so redundancy stays exact.

    :raise Refused: as :func:`claim`.
    """
    store = store_for(engine)
    when = now or utcnow()
    draw = (rng or _RNG).random()
    started = time.perf_counter()
    result = _retrying(lambda: store.hold(project_id, caller, when, draw, MAX_HELD))
    metrics.CLAIM_SECONDS.observe(time.perf_counter() - started)
    if isinstance(result, core.Refuse):
        metrics.CLAIMS.labels("refused").inc()
        raise Refused.of(result)
    if result.taken:
        metrics.CLAIMS.labels("leased").inc(result.taken)
    return result
