"""The claim/submit engine: exact redundancy under any concurrency.

Each public function is one short transaction of its own (not the request's session), so the
locking is explicit and the same on every code path:

- PostgreSQL: the claim walks the open-task index with ``FOR UPDATE SKIP LOCKED`` (concurrent
  claimers never wait for each other), submit and every counter change take the task's row lock
  first, and the (task, user) unique constraints back the rules up.
- SQLite: every engine transaction is ``BEGIN IMMEDIATE``, so writers are serialised.

Lock order is always task row → its leases/answers, which rules out deadlocks between claims,
submits and the sweep; deadlocks and "database is locked" are still retried, to be safe.

Counters on the task row (``n_done``, ``n_reserved``) make "answers + live leases < n_answers" a
column comparison that the partial indexes serve. A lease holds its slot until it is deleted;
claims sweep their project's expired leases first, so an expired lease never blocks a claim.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from labelhive import metrics
from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.projects.models import Project
from labelhive.results.models import Result
from labelhive.tasks import rules
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Skip
from labelhive.tasks.models import Task
from labelhive.tasks.rules import Refusal

log = logging.getLogger(__name__)

T = Task.__table__
L = Lease.__table__
A = Answer.__table__
P = Project.__table__
R = Result.__table__
S = Skip.__table__

_RETRYABLE_SQLSTATES = {"40001", "40P01"}
_ATTEMPTS = 6
_R = TypeVar("_R")


class EngineError(Exception):
    """A refused claim/submit; ``reason`` is a :class:`Refusal`, ``str()`` a user message."""

    def __init__(self, reason: Refusal, message: str | None = None) -> None:
        super().__init__(message or rules.REFUSAL_MESSAGES[reason])
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Claim:
    task: dict[str, Any]
    expires_at: dt.datetime
    resumed: bool


@dataclasses.dataclass(frozen=True)
class Submitted:
    answer: dict[str, Any]
    created: bool
    completed_task: bool


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


def _retryable(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)


def _retrying(fn: Callable[[], _R]) -> _R:
    for attempt in range(_ATTEMPTS):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == _ATTEMPTS - 1 or not _retryable(exc):
                raise
            log.info("retrying engine transaction after %s", exc.orig)
            time.sleep(0.005 * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def _task_row(conn: Connection, task_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(T).where(T.c.id == task_id)).mappings().one())


def _sweep(conn: Connection, now: dt.datetime, project_id: int | None) -> int:
    """Delete expired leases and give their slots back; tasks locked by others wait a turn."""
    expired = select(L.c.task_id).where(L.c.expires_at <= now)
    if project_id is not None:
        expired = expired.where(L.c.project_id == project_id)
    locked = conn.scalars(
        select(T.c.id)
        .where(T.c.id.in_(expired))
        .order_by(T.c.id)
        .with_for_update(skip_locked=True, of=T)
    ).all()
    if not locked:
        return 0
    gone = conn.scalars(
        delete(L).where(L.c.task_id.in_(locked), L.c.expires_at <= now).returning(L.c.task_id)
    ).all()
    for task_id, count in sorted(collections.Counter(gone).items()):
        conn.execute(update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved - count))
    metrics.LEASES_EXPIRED.inc(len(gone))
    return len(gone)


def _order(ordering: str) -> list[Any]:
    filled = T.c.n_done + T.c.n_reserved
    if ordering == "breadth_first":
        return [T.c.priority_0.desc(), filled.asc(), T.c.id]
    if ordering == "random":
        return [T.c.priority_0.desc(), func.random()]
    # depth_first: finish the tasks closest to done
    return [T.c.priority_0.desc(), filled.desc(), T.c.id]


def _candidate(
    conn: Connection, project: Any, user_id: int, *, gold: bool, skip_skipped: bool
) -> int | None:
    conds = [
        T.c.project_id == project.id,
        ~exists().where(A.c.task_id == T.c.id, A.c.user_id == user_id),
        ~exists().where(L.c.task_id == T.c.id, L.c.user_id == user_id),
    ]
    if skip_skipped:
        conds.append(~exists().where(S.c.task_id == T.c.id, S.c.user_id == user_id))
    if gold:
        conds.append(T.c.gold_answer.is_not(None))
        order: list[Any] = [func.random()]
    else:
        conds += [
            T.c.state == "ongoing",
            T.c.gold_answer.is_(None),
            T.c.n_done + T.c.n_reserved < T.c.n_answers,
        ]
        order = _order(project.ordering)
    stmt = select(T.c.id).where(*conds).order_by(*order).limit(1)
    return conn.scalar(stmt.with_for_update(skip_locked=True, of=T))


def claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    """Hand ``user_id`` a task of the project, with a lease, or ``None`` when none is left.

    A user who holds a live lease gets that task back (its lease renewed).
    """
    return _measured_claim(engine, project_id, user_id, now, rng, ahead=False)


def claim_ahead(
    engine: Engine,
    project_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    """Lease one more task to a user who may already hold one (the labeling page's look-ahead).

    The extra lease is an ordinary lease: it reserves a slot like any other, so redundancy
    stays exact. The candidate query leaves out tasks the user holds or answered.
    """
    return _measured_claim(engine, project_id, user_id, now, rng, ahead=True)


def _measured_claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    now: dt.datetime | None,
    rng: random.Random | None,
    *,
    ahead: bool,
) -> Claim | None:
    started = time.perf_counter()
    result = _retrying(lambda: _claim(engine, project_id, user_id, now or utcnow(), rng, ahead))
    metrics.CLAIM_SECONDS.observe(time.perf_counter() - started)
    outcome = "none" if result is None else ("resumed" if result.resumed else "leased")
    metrics.CLAIMS.labels(outcome).inc()
    return result


def _claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    now: dt.datetime,
    rng: random.Random | None,
    ahead: bool,
) -> Claim | None:
    with _write(engine) as conn:
        project = conn.execute(
            select(P.c.id, P.c.lease_ttl, P.c.ordering, P.c.gold_rate).where(P.c.id == project_id)
        ).one_or_none()
        if project is None:
            return None
        expires = rules.lease_expiry(now, project.lease_ttl)
        if not ahead:
            held = conn.execute(
                select(L.c.id, L.c.task_id)
                .where(L.c.project_id == project_id, L.c.user_id == user_id, L.c.expires_at > now)
                .order_by(L.c.id)
                .limit(1)
            ).one_or_none()
            if held is not None:
                conn.execute(update(L).where(L.c.id == held.id).values(expires_at=expires))
                return Claim(_task_row(conn, held.task_id), expires, resumed=True)
        _sweep(conn, now, project_id)
        task_id = None
        if rules.serve_gold(project.gold_rate, rng or random.Random()):
            task_id = _candidate(conn, project, user_id, gold=True, skip_skipped=True)
        if task_id is None:
            task_id = _candidate(conn, project, user_id, gold=False, skip_skipped=True)
        if task_id is None:
            # only skipped tasks are left: offer them again rather than nothing
            task_id = _candidate(conn, project, user_id, gold=False, skip_skipped=False)
        if task_id is None:
            return None
        row = (
            conn.execute(
                update(T)
                .where(T.c.id == task_id)
                .values(n_reserved=T.c.n_reserved + 1)
                .returning(*T.c)
            )
            .mappings()
            .one()
        )
        conn.execute(
            insert(L).values(
                project_id=project_id,
                task_id=task_id,
                user_id=user_id,
                created=now,
                expires_at=expires,
            )
        )
        return Claim(dict(row), expires, resumed=False)


def submit(
    engine: Engine,
    task_id: int,
    user_id: int,
    info: Any,
    *,
    project_id: int | None = None,
    now: dt.datetime | None = None,
    user_ip: str | None = None,
    external_uid: str | None = None,
) -> Submitted:
    """Store ``user_id``'s answer to a task, exactly once, if the task has room.

    A retried submit with the same answer returns the stored answer (``created`` False).

    :raise EngineError: with the :class:`Refusal` reason; nothing is stored then.
    """
    started = time.perf_counter()
    try:
        result = _retrying(
            lambda: _submit(
                engine, task_id, user_id, info, project_id, now or utcnow(), user_ip, external_uid
            )
        )
    except EngineError as exc:
        metrics.REFUSALS.labels(exc.reason.value).inc()
        raise
    finally:
        metrics.SUBMIT_SECONDS.observe(time.perf_counter() - started)
    if isinstance(result, EngineError):
        metrics.REFUSALS.labels(result.reason.value).inc()
        raise result
    metrics.SUBMITS.labels("accepted" if result.created else "duplicate").inc()
    return result


def _submit(
    engine: Engine,
    task_id: int,
    user_id: int,
    info: Any,
    project_id: int | None,
    now: dt.datetime,
    user_ip: str | None,
    external_uid: str | None,
) -> Submitted | EngineError:
    with _write(engine) as conn:
        task = (
            conn.execute(select(T).where(T.c.id == task_id).with_for_update())
            .mappings()
            .one_or_none()
        )
        if task is None:
            raise EngineError(Refusal.TASK_NOT_FOUND)
        if project_id is not None and task["project_id"] != project_id:
            raise EngineError(Refusal.WRONG_PROJECT)
        existing = (
            conn.execute(select(A).where(A.c.task_id == task_id, A.c.user_id == user_id))
            .mappings()
            .one_or_none()
        )
        if existing is not None:
            if existing["info"] == info:
                return Submitted(dict(existing), created=False, completed_task=False)
            raise EngineError(Refusal.ALREADY_ANSWERED)
        options = conn.scalar(select(P.c.info).where(P.c.id == task["project_id"])) or {}
        answers = options.get("answers") if isinstance(options, dict) else None
        error = rules.answer_error(info, [str(o) for o in answers] if answers else [])
        if error:
            raise EngineError(Refusal.INVALID_ANSWER, error)

        own_lease = conn.execute(
            select(L.c.id, L.c.created).where(L.c.task_id == task_id, L.c.user_id == user_id)
        ).one_or_none()
        # under the row lock, expired leases of others give their slots back right now
        expired = conn.execute(
            delete(L)
            .where(L.c.task_id == task_id, L.c.expires_at <= now, L.c.user_id != user_id)
            .returning(L.c.id)
        ).all()
        reserved_by_others = task["n_reserved"] - len(expired) - (1 if own_lease else 0)
        gold = task["gold_answer"] is not None
        if own_lease is not None:
            conn.execute(delete(L).where(L.c.id == own_lease.id))
        if expired:
            metrics.LEASES_EXPIRED.inc(len(expired))
        if not gold and not rules.has_room(task["n_done"], reserved_by_others, task["n_answers"]):
            # give the slot back and commit that; the refusal is raised after the commit
            conn.execute(update(T).where(T.c.id == task_id).values(n_reserved=reserved_by_others))
            return EngineError(Refusal.NO_ROOM)

        answer = (
            conn.execute(
                insert(A)
                .values(
                    project_id=task["project_id"],
                    task_id=task_id,
                    user_id=user_id,
                    info=info,
                    created=own_lease.created if own_lease else now,
                    finish_time=now,
                    user_ip=user_ip,
                    external_uid=external_uid,
                )
                .returning(*A.c)
            )
            .mappings()
            .one()
        )
        n_done = task["n_done"] + 1
        complete = rules.is_complete(n_done, task["n_answers"], gold)
        conn.execute(
            update(T)
            .where(T.c.id == task_id)
            .values(
                n_done=n_done,
                n_reserved=reserved_by_others,
                state="completed" if complete else task["state"],
            )
        )
        if not gold:
            _check_not_over_collected(conn, task_id, task["n_answers"])
        if complete:
            _write_result(conn, task["project_id"], task_id, now)
        return Submitted(dict(answer), created=True, completed_task=complete)


def _check_not_over_collected(conn: Connection, task_id: int, n_answers: int) -> None:
    """An independent count of the stored answers, behind the counters: must never fire."""
    stored = conn.scalar(select(func.count()).select_from(A).where(A.c.task_id == task_id))
    if stored > n_answers:
        metrics.OVER_COLLECTION.inc()
        log.error("task %s holds %s answers for n_answers=%s", task_id, stored, n_answers)


def _write_result(conn: Connection, project_id: int, task_id: int, now: dt.datetime) -> None:
    answer_ids = conn.scalars(select(A.c.id).where(A.c.task_id == task_id).order_by(A.c.id)).all()
    conn.execute(update(R).where(R.c.task_id == task_id).values(last_version=False))
    conn.execute(
        insert(R).values(
            project_id=project_id,
            task_id=task_id,
            task_run_ids=list(answer_ids),
            info=None,
            last_version=True,
            created=now,
        )
    )


def release(engine: Engine, task_id: int, user_id: int, *, skip: bool = False) -> bool:
    """Give up a lease (``skip`` also keeps the task from being offered again soon).

    :return: whether a lease was released.
    """

    def run() -> bool:
        with _write(engine) as conn:
            task = conn.execute(
                select(T.c.id, T.c.project_id).where(T.c.id == task_id).with_for_update()
            ).one_or_none()
            if task is None:
                return False
            gone = conn.execute(
                delete(L).where(L.c.task_id == task_id, L.c.user_id == user_id).returning(L.c.id)
            ).all()
            if gone:
                conn.execute(
                    update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved - 1)
                )
            if skip and not conn.scalar(
                select(S.c.id).where(S.c.task_id == task_id, S.c.user_id == user_id)
            ):
                conn.execute(
                    insert(S).values(project_id=task.project_id, task_id=task_id, user_id=user_id)
                )
            return bool(gone)

    return _retrying(run)


def renew(
    engine: Engine, task_id: int, user_id: int, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """Extend a lease the user still holds (the labeling page's heartbeat).

    :return: the new expiry, or ``None`` when the lease is gone (swept, or answered).
    """
    now = now or utcnow()

    def run() -> dt.datetime | None:
        with _write(engine) as conn:
            ttl = conn.scalar(
                select(P.c.lease_ttl).join(T, T.c.project_id == P.c.id).where(T.c.id == task_id)
            )
            if ttl is None:
                return None
            expires = rules.lease_expiry(now, ttl)
            renewed = conn.execute(
                update(L)
                .where(L.c.task_id == task_id, L.c.user_id == user_id)
                .values(expires_at=expires)
                .returning(L.c.id)
            ).all()
            return expires if renewed else None

    return _retrying(run)


def undo(engine: Engine, answer_id: int, user_id: int, *, now: dt.datetime | None = None) -> Claim:
    """Take back the user's answer while its task is not complete, and lease the task again.

    :raise EngineError: ``TASK_NOT_FOUND`` when there is no such answer of this user,
        ``TASK_COMPLETED`` when the task is complete (its result already used the answer).
    """
    now = now or utcnow()

    def run() -> Claim:
        with _write(engine) as conn:
            task_id = conn.scalar(
                select(A.c.task_id).where(A.c.id == answer_id, A.c.user_id == user_id)
            )
            if task_id is None:
                raise EngineError(Refusal.TASK_NOT_FOUND, "No such answer of yours to undo.")
            task = (
                conn.execute(select(T).where(T.c.id == task_id).with_for_update()).mappings().one()
            )
            if task["state"] == "completed":
                raise EngineError(Refusal.TASK_COMPLETED)
            conn.execute(delete(A).where(A.c.id == answer_id))
            ttl = conn.scalar(select(P.c.lease_ttl).where(P.c.id == task["project_id"]))
            expires = rules.lease_expiry(now, ttl)
            conn.execute(
                insert(L).values(
                    project_id=task["project_id"],
                    task_id=task_id,
                    user_id=user_id,
                    created=now,
                    expires_at=expires,
                )
            )
            row = (
                conn.execute(
                    update(T)
                    .where(T.c.id == task_id)
                    .values(n_done=T.c.n_done - 1, n_reserved=T.c.n_reserved + 1)
                    .returning(*T.c)
                )
                .mappings()
                .one()
            )
            return Claim(dict(row), expires, resumed=True)

    return _retrying(run)


def set_redundancy(
    engine: Engine,
    n_answers: int,
    *,
    project_id: int | None = None,
    task_ids: list[int] | None = None,
    expect_n_answers: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Change ``n_answers`` of some tasks (by id, or all of a project) under their row locks.

    Tasks whose answers now meet the redundancy complete (with a result); raising it reopens them.

    :param expect_n_answers: change only tasks whose ``n_answers`` still is this (checked under
        the row lock): a compare-and-set for callers that decided from an earlier read, so a
        repeated or late decision never applies twice.
    :return: the number of tasks changed.
    """
    rules.validate_n_answers(n_answers)
    now = now or utcnow()
    if project_id is None and task_ids is None:
        raise ValueError("give project_id or task_ids")

    def run() -> int:
        with _write(engine) as conn:
            query = select(T.c.id, T.c.project_id, T.c.n_done, T.c.state, T.c.gold_answer)
            if task_ids is not None:
                query = query.where(T.c.id.in_(task_ids))
            if project_id is not None:
                query = query.where(T.c.project_id == project_id)
            if expect_n_answers is not None:
                query = query.where(T.c.n_answers == expect_n_answers)
            rows = conn.execute(query.order_by(T.c.id).with_for_update()).all()
            for row in rows:
                state = (
                    "ongoing"
                    if row.gold_answer is not None
                    else rules.state_after_redundancy_change(row.n_done, n_answers)
                )
                conn.execute(
                    update(T).where(T.c.id == row.id).values(n_answers=n_answers, state=state)
                )
                if state == "completed" and row.state != "completed":
                    _write_result(conn, row.project_id, row.id, now)
            return len(rows)

    return _retrying(run)


def sweep_expired(engine: Engine, *, now: dt.datetime | None = None) -> int:
    """Delete every expired lease (the scheduler's periodic job).

    :return: how many leases were swept.
    """
    return _retrying(lambda: _sweep_all(engine, now or utcnow()))


def _sweep_all(engine: Engine, now: dt.datetime) -> int:
    with _write(engine) as conn:
        return _sweep(conn, now, None)
