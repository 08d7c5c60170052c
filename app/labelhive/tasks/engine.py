"""The claim/submit engine: exact redundancy under any concurrency.

Each public function is one short transaction of its own (not the request's session), so the
locking is explicit and the same on every code path:

- PostgreSQL: the claim walks the open-task index with ``FOR UPDATE SKIP LOCKED`` (concurrent
  claimers never wait for each other), submit and every counter change take the task's row lock
  first, and the (task, user) unique constraints back the rules up.
- SQLite: every engine transaction is ``BEGIN IMMEDIATE``, so writers are serialised; the
  writers of one process queue on a lock before they take a connection.

Lock order is always task row → its leases/answers, which rules out deadlocks between claims,
submits and the sweep; deadlocks and "database is locked" are still retried, to be safe.

Round trips, and the Python around each statement, are the cost under load, so the hot path
is short. On PostgreSQL both run on the driver connection (:mod:`labelhive.tasks.driver`): a
claim is one read of the project (settings, owner and published flag for ``authorize``, the
lease the user holds, whether any lease expired) and ONE statement that picks, reserves and
leases (a CTE, in autocommit: it is atomic by itself), and once the process knows the
project's ordering and lease TTL, both in one statement that takes only if the read is as
expected (a refused ``authorize`` then gives the slot back); a submit is two round trips in
psycopg's pipeline mode, ``BEGIN`` with the task's row lock and then one read of everything
it checks (the task, its project, the user's answer and lease, the expired leases of others),
then the writes with ``COMMIT``, so the row lock is held for one turn of the thread. The rare paths
(renewing a held lease, sweeping expired ones) and SQLite take ordinary transactions through
SQLAlchemy, with the same rules.

Counters on the task row (``n_done``, ``n_reserved``) make "answers + live leases < n_answers" a
column comparison that the partial indexes serve. A lease holds its slot until it is deleted;
claims sweep their project's expired leases first, so an expired lease never blocks a claim.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from contextlib import nullcontext
from typing import Any
from typing import NamedTuple
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import Integer
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import literal_column
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import OperationalError

from labelhive import metrics
from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.projects.models import Project
from labelhive.results.models import Result
from labelhive.tasks import driver
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
    # the project raises redundancy on disagreement (results.adaptive): read under the lock
    adaptive_redundancy: bool = False


class ProjectRef(NamedTuple):
    """What authorization needs of a project (:mod:`labelhive.projects.access`)."""

    id: int
    owner_id: int
    published: bool


# ``authorize`` arguments: called with the project (``None`` when claim finds no such project)
# before anything is written; it raises to refuse
Authorize = Callable[[ProjectRef | None], None]


# SQLite: the writers of one process queue on a lock of their own rather than in SQLite's busy
# handler, which polls with sleeps growing to 100 ms however soon the database is free again
# (a tail of most of a second for 8 threads); other processes still meet the busy handler
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def _writers(engine: Engine) -> AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(engine, threading.Lock())


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    with _writers(engine), engine.connect() as conn:
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


def _candidate_query(
    ordering: str, project_id: Any, user_id: Any, gold: bool, skip_skipped: bool
) -> Any:
    conds = [
        T.c.project_id == project_id,
        ~exists().where(A.c.task_id == T.c.id, A.c.user_id == user_id),
        ~exists().where(L.c.task_id == T.c.id, L.c.user_id == user_id),
    ]
    if skip_skipped:
        conds.append(~exists().where(S.c.task_id == T.c.id, S.c.user_id == user_id))
    if gold:
        conds.append(T.c.gold_answer.is_not(None))
        order: list[Any] = [func.random()]
    else:
        # the open-task indexes' own predicate, with its constant written in: a prepared
        # statement's generic plan can only use a partial index whose predicate it implies,
        # and ``state = $1`` implies nothing (PostgreSQL then scans past every done task)
        conds += [
            T.c.state == literal_column("'ongoing'"),
            T.c.gold_answer.is_(None),
            T.c.n_done + T.c.n_reserved < T.c.n_answers,
        ]
        order = _order(ordering)
    return select(T.c.id).where(*conds).order_by(*order).limit(literal_column("1"))


def _candidate(
    conn: Connection, project: Any, user_id: int, *, gold: bool, skip_skipped: bool
) -> int | None:
    stmt = _candidate_query(project.ordering, project.id, user_id, gold, skip_skipped)
    return conn.scalar(stmt.with_for_update(skip_locked=True, of=T))


def claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
    authorize: Authorize | None = None,
) -> Claim | None:
    """Hand ``user_id`` a task of the project, with a lease, or ``None`` when none is left.

    A user who holds a live lease gets that task back (its lease renewed).

    :param authorize: checks the caller against the project read by the claim itself (no
        read of its own); see :data:`Authorize`.
    """
    return _measured_claim(engine, project_id, user_id, now, rng, authorize, ahead=False)


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
    return _measured_claim(engine, project_id, user_id, now, rng, None, ahead=True)


def _measured_claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    now: dt.datetime | None,
    rng: random.Random | None,
    authorize: Authorize | None,
    *,
    ahead: bool,
) -> Claim | None:
    started = time.perf_counter()
    when = now or utcnow()
    result = _retrying(lambda: _claim(engine, project_id, user_id, when, rng, ahead, authorize))
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
    authorize: Authorize | None,
) -> Claim | None:
    if engine.dialect.name == "postgresql":
        try:
            claimed = _claim_pg(engine, project_id, user_id, now, rng, ahead, authorize)
        except _Refused as refused:
            # the combined statement leased a task before ``authorize`` saw the project; its
            # connection is back in the pool now, and the slot goes back too
            release(engine, refused.task_id, user_id)
            raise refused.error from None
        if claimed is not _TRANSACTION:
            return claimed
        authorize = None  # done: it passed on the same read
    with _write(engine) as conn:
        # one round trip: the project's settings, the lease the user holds, whether to sweep
        project = conn.execute(_claim_context(ahead), {"p": project_id, "u": user_id, "now": now})
        project = project.one_or_none()
        if authorize is not None:
            authorize(_project_ref(project))
        if project is None:
            return None
        expires = rules.lease_expiry(now, project.lease_ttl)
        if project.held_id is not None:
            # the lock order (task row, then its leases) holds for renewals too: a submit
            # counts the task's leases under that lock
            _lock_task_of_lease(conn, project.held_id)
            task_id = conn.scalar(
                update(L)
                .where(L.c.id == project.held_id)
                .values(expires_at=expires)
                .returning(L.c.task_id)
            )
            # None: the lease was answered (by this user, elsewhere) since the read above
            if task_id is not None:
                return Claim(_task_row(conn, task_id), expires, resumed=True)
        if project.has_expired:
            _sweep(conn, now, project_id)
        take = _take_pg if conn.dialect.name == "postgresql" else _take
        for gold, skip_skipped in _kinds(project.gold_rate, rng):
            row = take(conn, project, user_id, gold, skip_skipped, now, expires)
            if row is not None:
                return Claim(row, expires, resumed=False)
        return None


_TRANSACTION: Any = object()


def _project_ref(row: Any) -> ProjectRef | None:
    return None if row is None else ProjectRef(row.id, row.owner_id, row.published)


def _lock_task_of_lease(conn: Connection, lease_id: int) -> None:
    conn.execute(
        select(T.c.id)
        .where(T.c.id == select(L.c.task_id).where(L.c.id == lease_id).scalar_subquery())
        .with_for_update(of=T)
    ).all()


def _claim_pg(
    engine: Engine,
    project_id: int,
    user_id: int,
    now: dt.datetime,
    rng: random.Random | None,
    ahead: bool,
    authorize: Authorize | None,
) -> Claim | None:
    """The usual PostgreSQL claim: one statement, or two, and no explicit transaction.

    The context read takes no lock (it decides nothing by itself) and each take is ONE atomic
    statement that locks, re-checks and reserves, so autocommit saves the ``BEGIN`` and
    ``COMMIT`` round trips. Both run on the driver (:mod:`labelhive.tasks.driver`).
    Once this process has read a project's ordering and lease TTL, the read and the usual take
    go as one statement (:func:`_read_and_take_pg`), which takes only if the project is as
    expected (published, that ordering and TTL, no gold to serve, no lease held by the user, no
    expired lease to sweep); otherwise it reads alone and Python goes on from the read. A held
    lease to renew or expired leases to sweep take several writes: then it returns
    ``_TRANSACTION`` and the caller runs the transactional claim.

    :raise _Refused: ``authorize`` refused the caller after the combined statement leased a
        task; the caller gives the slot back.
    """
    with engine.connect() as base:
        conn = base.execution_options(isolation_level="AUTOCOMMIT")
        params: dict[str, Any] = {"p": project_id, "u": user_id, "now": now}
        expected = None if ahead else _EXPECTED.get(project_id)
        with driver.connection(conn) as raw:
            taken = None
            tried = False
            if expected is None:
                context = driver.compiled(conn.dialect, _claim_context(ahead))
                project = driver.one(raw, context, params)
            else:
                ordering, ttl = expected
                params.update(ordering=ordering, ttl=ttl, expires=rules.lease_expiry(now, ttl))
                statement = driver.compiled(conn.dialect, _read_and_take_pg(ordering))
                found = driver.one_dict(raw, statement, params)
                project, taken, tried = _read_and_taken(found)
            if authorize is not None:
                try:
                    authorize(_project_ref(project))
                except Exception as exc:
                    if taken is None:
                        raise
                    # the slot goes back once this connection is returned (see _claim)
                    raise _Refused(taken["id"], exc) from exc
            if project is None:
                return None
            if not ahead:
                _EXPECTED[project_id] = (project.ordering, project.lease_ttl)
            expires = rules.lease_expiry(now, project.lease_ttl)
            if taken is not None:
                return Claim(taken, expires, resumed=False)
            if project.held_id is not None or project.has_expired:
                return _TRANSACTION
            params["expires"] = expires
            for gold, skip_skipped in _kinds(project.gold_rate, rng):
                if tried and (gold, skip_skipped) == _USUAL_KIND:
                    continue  # the combined statement ran this one and found nothing
                take = _take_pg_statement(project.ordering, gold, skip_skipped)
                row = driver.one_dict(raw, driver.compiled(conn.dialect, take), params)
                if row is not None:
                    return Claim(row, expires, resumed=False)
        return None


class _Refused(Exception):
    """``authorize`` refused a caller whom the combined statement had leased a task."""

    def __init__(self, task_id: int, error: Exception) -> None:
        super().__init__(task_id, error)
        self.task_id = task_id
        self.error = error


# per process: each project's (ordering, lease TTL) as its last claim read them, so that the
# next claim can send its take with the read; a changed project only costs that claim a take
_EXPECTED: dict[int, tuple[str, int]] = {}
# (gold, leave out skipped tasks) of the take sent with the read: no gold, skipped tasks left out
_USUAL_KIND = (False, True)
_RNG = random.Random()


class _ProjectRead(NamedTuple):
    """:func:`_claim_context`'s row, out of :func:`_read_and_take_pg`'s."""

    id: int
    owner_id: int
    published: bool
    lease_ttl: int
    ordering: str
    gold_rate: float
    held_id: int | None
    has_expired: bool


def _read_and_taken(
    found: dict[str, Any] | None,
) -> tuple[_ProjectRead | None, dict[str, Any] | None, bool]:
    """``(project, the task taken or None, whether the take ran)`` of a combined claim."""
    if found is None:
        return None, None, False
    project = _ProjectRead(*(found.pop(f"read_{name}") for name in _ProjectRead._fields))
    tried = found.pop("took")
    return project, (found if found["id"] is not None else None), tried


@functools.cache
def _read_and_take_pg(ordering: str) -> Any:
    """The claim's read and its usual take as ONE statement (a CTE), for one ordering.

    The take runs only when the project is as the caller expects (``took``); its lease expiry
    comes from the expected TTL, so it is the one Python computes. The row is the read's
    columns (``read_*``), ``took``, and the taken task's columns (``NULL`` when none).
    """
    read = _claim_context(False).subquery()
    took = and_(
        read.c.published,
        read.c.held_id.is_(None),
        ~read.c.has_expired,
        read.c.gold_rate <= 0,
        read.c.ordering == bindparam("ordering"),
        read.c.lease_ttl == bindparam("ttl", type_=Integer),
    ).label("took")
    context = select(*read.c, took).cte("context")
    gold, skip_skipped = _USUAL_KIND
    candidate = _candidate_query(
        ordering, bindparam("p", type_=Integer), bindparam("u", type_=Integer), gold, skip_skipped
    ).where(select(context.c.took).scalar_subquery())
    reserved, leased = _reserve_and_lease(candidate)
    return (
        select(
            *[context.c[c.name].label(f"read_{c.name}") for c in read.c],
            context.c.took,
            *[reserved.c[c.name] for c in T.c],
        )
        .select_from(context.outerjoin(reserved, literal(True)))
        .add_cte(leased)
    )


def _kinds(gold_rate: float, rng: random.Random | None) -> list[tuple[bool, bool]]:
    """The candidate queries to try, in order, as (gold, leave out skipped tasks)."""
    # one generator for the process: a new ``Random()`` seeds itself from the OS, 8 µs a claim
    kinds = [(True, True)] if rules.serve_gold(gold_rate, rng or _RNG) else []
    # only skipped tasks are left: offer them again rather than nothing
    return [*kinds, (False, True), (False, False)]


@functools.cache
def _claim_context(ahead: bool) -> Any:
    held = (
        select(L.c.id)
        .where(
            L.c.project_id == P.c.id,
            L.c.user_id == bindparam("u"),
            L.c.expires_at > bindparam("now"),
        )
        .order_by(L.c.id)
        .limit(1)
        .scalar_subquery()
    )
    expired = exists().where(L.c.project_id == P.c.id, L.c.expires_at <= bindparam("now"))
    return select(
        P.c.id,
        P.c.owner_id,
        P.c.published,
        P.c.lease_ttl,
        P.c.ordering,
        P.c.gold_rate,
        (literal(None, Integer) if ahead else held).label("held_id"),
        expired.label("has_expired"),
    ).where(P.c.id == bindparam("p", type_=Integer))


def _take(
    conn: Connection,
    project: Any,
    user_id: int,
    gold: bool,
    skip_skipped: bool,
    now: dt.datetime,
    expires: dt.datetime,
) -> dict[str, Any] | None:
    """Lease a candidate task in three statements (SQLite: the transaction is a write lock)."""
    task_id = _candidate(conn, project, user_id, gold=gold, skip_skipped=skip_skipped)
    if task_id is None:
        return None
    row = (
        conn.execute(
            update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved + 1).returning(*T.c)
        )
        .mappings()
        .one()
    )
    conn.execute(
        insert(L).values(
            project_id=project.id, task_id=task_id, user_id=user_id, created=now, expires_at=expires
        )
    )
    return dict(row)


def _take_pg(
    conn: Connection,
    project: Any,
    user_id: int,
    gold: bool,
    skip_skipped: bool,
    now: dt.datetime,
    expires: dt.datetime,
) -> dict[str, Any] | None:
    """Lease a candidate task in ONE statement: pick (``SKIP LOCKED``), reserve, insert the lease.

    The same rules as :func:`_take`; one round trip instead of three, and psycopg prepares it
    on the server after a few executions.
    """
    stmt = _take_pg_statement(project.ordering, gold, skip_skipped)
    params = {"p": project.id, "u": user_id, "now": now, "expires": expires}
    row = conn.execute(stmt, params).mappings().one_or_none()
    return None if row is None else dict(row)


@functools.cache
def _take_pg_statement(ordering: str, gold: bool, skip_skipped: bool) -> Any:
    candidate = _candidate_query(
        ordering, bindparam("p", type_=Integer), bindparam("u", type_=Integer), gold, skip_skipped
    )
    reserved, leased = _reserve_and_lease(candidate)
    return select(*[reserved.c[c.name] for c in T.c]).add_cte(leased)


def _reserve_and_lease(candidate: Any) -> tuple[Any, Any]:
    """The CTEs of a take: pick ``candidate`` (``SKIP LOCKED``), reserve it, insert the lease."""
    picked = candidate.with_for_update(skip_locked=True, of=T).cte("picked")
    reserved = (
        update(T)
        .where(T.c.id == picked.c.id)
        .values(n_reserved=T.c.n_reserved + 1)
        .returning(*T.c)
        .cte("reserved")
    )
    leased = (
        insert(L)
        .from_select(
            ["project_id", "task_id", "user_id", "created", "expires_at"],
            select(
                reserved.c.project_id,
                reserved.c.id,
                bindparam("u", type_=Integer),
                bindparam("now", type_=L.c.created.type),
                bindparam("expires", type_=L.c.expires_at.type),
            ),
        )
        .returning(L.c.id)
        .cte("leased")
    )
    return reserved, leased


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
    authorize: Authorize | None = None,
) -> Submitted:
    """Store ``user_id``'s answer to a task, exactly once, if the task has room.

    A retried submit with the same answer returns the stored answer (``created`` False).

    :param authorize: checks the caller against the task's project, read under the task's
        row lock with everything else (no read of its own); see :data:`Authorize`.
    :raise EngineError: with the :class:`Refusal` reason; nothing is stored then.
    """
    started = time.perf_counter()
    run = _submit_pg if engine.dialect.name == "postgresql" else _submit
    when = now or utcnow()
    try:
        result = _retrying(
            lambda: run(
                engine, task_id, user_id, info, project_id, when, user_ip, external_uid, authorize
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


def _check_submit(
    found: Any, info: Any, project_id: int | None, authorize: Authorize | None
) -> None:
    """The refusals decided by the context read alone (both dialects); raises EngineError.

    The caller handles an existing answer (idempotent retry or a different answer) between
    the project check and the answer's validation: ``answer_id`` is not checked here.
    """
    if found is None:
        raise EngineError(Refusal.TASK_NOT_FOUND)
    if authorize is not None:
        authorize(ProjectRef(found["project_id"], found["owner_id"], found["published"]))
    if project_id is not None and found["project_id"] != project_id:
        raise EngineError(Refusal.WRONG_PROJECT)


def _check_answer(found: Any, info: Any) -> None:
    options = found["project_info"] or {}
    answers = options.get("answers") if isinstance(options, dict) else None
    error = rules.answer_error(info, [str(o) for o in answers] if answers else [])
    if error:
        raise EngineError(Refusal.INVALID_ANSWER, error)


def _submit(
    engine: Engine,
    task_id: int,
    user_id: int,
    info: Any,
    project_id: int | None,
    now: dt.datetime,
    user_ip: str | None,
    external_uid: str | None,
    authorize: Authorize | None,
) -> Submitted | EngineError:
    with _write(engine) as conn:
        # one round trip, in the write transaction: the task, its project (answer options,
        # owner), this user's stored answer and lease
        params = {"t": task_id, "u": user_id, "now": now}
        found = conn.execute(_submit_context(), params).mappings().one_or_none()
        _check_submit(found, info, project_id, authorize)
        task = found
        if found["answer_id"] is not None:
            existing = conn.execute(select(A).where(A.c.id == found["answer_id"])).mappings().one()
            if existing["info"] == info:
                return Submitted(dict(existing), created=False, completed_task=False)
            raise EngineError(Refusal.ALREADY_ANSWERED)
        _check_answer(found, info)

        # under the row lock: the user's own lease goes (its slot is the one the answer fills)
        # and expired leases of others give their slots back right now
        gone = conn.execute(
            delete(L)
            .where(L.c.task_id == task_id, or_(L.c.user_id == user_id, L.c.expires_at <= now))
            .returning(L.c.user_id)
        ).all()
        own = sum(1 for row in gone if row.user_id == user_id)
        expired = len(gone) - own
        reserved_by_others = task["n_reserved"] - len(gone)
        gold = task["gold_answer"] is not None
        if expired:
            metrics.LEASES_EXPIRED.inc(expired)
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
                    created=found["lease_created"] or now,
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
        # the RETURNING counts the stored answers independently of the counters
        stored = conn.scalar(
            update(T)
            .where(T.c.id == task_id)
            .values(
                n_done=n_done,
                n_reserved=reserved_by_others,
                state="completed" if complete else task["state"],
            )
            .returning(
                select(func.count()).select_from(A).where(A.c.task_id == task_id).scalar_subquery()
            )
        )
        if not gold:
            _check_not_over_collected(task_id, stored, task["n_answers"])
        if complete:
            _write_result(conn, task["project_id"], task_id, now, had_result=found["has_result"])
        return Submitted(
            dict(answer),
            created=True,
            completed_task=complete,
            adaptive_redundancy=bool(found["adaptive_redundancy"]),
        )


def _submit_pg(
    engine: Engine,
    task_id: int,
    user_id: int,
    info: Any,
    project_id: int | None,
    now: dt.datetime,
    user_ip: str | None,
    external_uid: str | None,
    authorize: Authorize | None,
) -> Submitted | EngineError:
    """:func:`_submit` on PostgreSQL: two round trips, the same rules and statements' effects.

    In psycopg's pipeline mode on the driver connection: ``BEGIN``, the task's row lock and the
    context read go together, Python decides, then the writes and ``COMMIT`` go together. So
    the row lock, which the task's other annotators queue for, is held for one turn of this
    thread instead of six. The connection is in autocommit and the transaction explicit:
    psycopg would otherwise wait for its own ``BEGIN`` alone (a sync), one round trip more.
    The lock is a statement of its own so that the context read's snapshot starts after it:
    a submit that queued behind another sees that one's answer and leases.
    The context read counts the leases the delete will remove (every lease change takes the
    task's row lock first); the delete and the counter update are one statement all the same,
    so ``n_reserved`` follows the rows actually deleted.
    """
    params: dict[str, Any] = {"t": task_id, "u": user_id, "now": now}
    dialect = engine.dialect
    with (
        engine.connect() as base,
        driver.connection(base.execution_options(isolation_level="AUTOCOMMIT")) as raw,
    ):
        try:
            with raw.pipeline() as pipeline:
                raw.execute(driver.BEGIN)
                # the lock first, then the read: under READ COMMITTED a statement that waited
                # for a row lock still reads the rest (answers, leases) as of its start
                raw.execute(*driver.compiled(dialect, _pg_lock_task()).call(params))
                found = driver.one_dict(raw, driver.compiled(dialect, _submit_context()), params)
                _check_submit(found, info, project_id, authorize)
                task: dict[str, Any] = found  # type: ignore[assignment]
                if task["answer_id"] is not None:
                    existing = driver.one_dict(
                        raw, driver.compiled(dialect, _answer_by_id()), {"a": task["answer_id"]}
                    )
                    raw.rollback()
                    if existing is not None and existing["info"] == info:
                        return Submitted(existing, created=False, completed_task=False)
                    raise EngineError(Refusal.ALREADY_ANSWERED)
                _check_answer(task, info)
                expired = task["expired_leases"]
                gone = expired + (task["lease_created"] is not None)
                reserved_by_others = task["n_reserved"] - gone
                gold = task["gold_answer"] is not None
                if not gold and not rules.has_room(
                    task["n_done"], reserved_by_others, task["n_answers"]
                ):
                    # give the slot back and commit that; the refusal is raised after
                    driver.one(raw, driver.compiled(dialect, _pg_free_leases()), params)
                    raw.execute(driver.COMMIT)
                    pipeline.sync()  # committed before it counts
                    _count_expired(expired)
                    return EngineError(Refusal.NO_ROOM)
                n_done = task["n_done"] + 1
                complete = rules.is_complete(n_done, task["n_answers"], gold)
                params.update(
                    p=task["project_id"],
                    info=driver.jsonb(info),
                    created=task["lease_created"] or now,
                    ip=user_ip,
                    uid=external_uid,
                    n_done=n_done,
                    state="completed" if complete else task["state"],
                )
                answer = raw.cursor(row_factory=driver.dict_row)
                answer.execute(*driver.compiled(dialect, _pg_insert_answer()).call(params))
                counted = raw.cursor()
                counted.execute(*driver.compiled(dialect, _pg_count_answer()).call(params))
                if complete:
                    if task["has_result"]:
                        raw.execute(*driver.compiled(dialect, _pg_retire_result()).call(params))
                    raw.execute(*driver.compiled(dialect, _pg_insert_result()).call(params))
                raw.execute(driver.COMMIT)
            # the pipeline's exit sent it all with one sync and read every result
            row = answer.fetchone()
            stored = counted.fetchone()
        except BaseException:
            raw.rollback()
            raise
    _count_expired(expired)
    if not gold:
        _check_not_over_collected(task_id, stored[0], task["n_answers"])
    return Submitted(
        row,
        created=True,
        completed_task=complete,
        adaptive_redundancy=bool(task["adaptive_redundancy"]),
    )


def _count_expired(expired: int) -> None:
    if expired:
        metrics.LEASES_EXPIRED.inc(expired)


@functools.cache
def _answer_by_id() -> Any:
    return select(A).where(A.c.id == bindparam("a", type_=Integer))


def _pg_gone() -> Any:
    return (
        delete(L)
        .where(
            L.c.task_id == bindparam("t", type_=Integer),
            or_(
                L.c.user_id == bindparam("u", type_=Integer),
                L.c.expires_at <= bindparam("now", type_=L.c.expires_at.type),
            ),
        )
        .returning(L.c.id)
        .cte("gone")
    )


@functools.cache
def _pg_lock_task() -> Any:
    return select(T.c.id).where(T.c.id == bindparam("t", type_=Integer)).with_for_update()


@functools.cache
def _pg_free_leases() -> Any:
    """Delete the user's and the expired leases of the task, and take their slots back."""
    gone = _pg_gone()
    freed = select(func.count()).select_from(gone).scalar_subquery()
    return (
        update(T)
        .where(T.c.id == bindparam("t", type_=Integer))
        .values(n_reserved=T.c.n_reserved - freed)
        .returning(T.c.n_reserved)
        .add_cte(gone)
    )


@functools.cache
def _pg_insert_answer() -> Any:
    return (
        insert(A)
        .values(
            project_id=bindparam("p", type_=Integer),
            task_id=bindparam("t", type_=Integer),
            user_id=bindparam("u", type_=Integer),
            info=bindparam("info", type_=A.c.info.type),
            created=bindparam("created", type_=A.c.created.type),
            finish_time=bindparam("now", type_=A.c.finish_time.type),
            user_ip=bindparam("ip", type_=A.c.user_ip.type),
            external_uid=bindparam("uid", type_=A.c.external_uid.type),
        )
        .returning(*A.c)
    )


@functools.cache
def _pg_count_answer() -> Any:
    """The leases go, the answer counts; RETURNING recounts the stored answers independently."""
    gone = _pg_gone()
    freed = select(func.count()).select_from(gone).scalar_subquery()
    task_id = bindparam("t", type_=Integer)
    return (
        update(T)
        .where(T.c.id == task_id)
        .values(
            n_done=bindparam("n_done", type_=Integer),
            n_reserved=T.c.n_reserved - freed,
            state=bindparam("state", type_=T.c.state.type),
        )
        .returning(
            select(func.count()).select_from(A).where(A.c.task_id == task_id).scalar_subquery()
        )
        .add_cte(gone)
    )


@functools.cache
def _pg_retire_result() -> Any:
    task_id = bindparam("t", type_=Integer)
    return update(R).where(R.c.task_id == task_id, R.c.last_version).values(last_version=False)


@functools.cache
def _pg_insert_result() -> Any:
    """The task's result: its answer ids (this statement sees the answer just inserted)."""
    task_id = bindparam("t", type_=Integer)
    ids = func.jsonb_agg(aggregate_order_by(A.c.id, A.c.id))
    return insert(R).from_select(
        ["project_id", "task_id", "task_run_ids", "last_version", "created"],
        select(
            bindparam("p", type_=Integer),
            task_id,
            ids,
            literal(True),
            bindparam("now", type_=R.c.created.type),
        ).where(A.c.task_id == task_id),
    )


@functools.cache
def _submit_context() -> Any:
    """The submit's one read: the task, its project (answer options, owner, adaptive
    redundancy), this user's answer and lease, the task's expired leases of others.

    It takes no lock: the caller holds the task's row lock already (PostgreSQL:
    :func:`_pg_lock_task`, a statement before it; SQLite: the write transaction).
    """
    mine = and_(A.c.task_id == T.c.id, A.c.user_id == bindparam("u", type_=Integer))
    leased = and_(L.c.task_id == T.c.id, L.c.user_id == bindparam("u", type_=Integer))
    others = L.alias("other_lease")
    expired = (
        select(func.count())
        .where(
            others.c.task_id == T.c.id,
            others.c.user_id != bindparam("u", type_=Integer),
            others.c.expires_at <= bindparam("now", type_=L.c.expires_at.type),
        )
        .scalar_subquery()
    )
    return (
        select(
            *T.c,
            P.c.info.label("project_info"),
            P.c.owner_id,
            P.c.published,
            P.c.adaptive_redundancy,
            A.c.id.label("answer_id"),
            L.c.created.label("lease_created"),
            expired.label("expired_leases"),
            exists().where(R.c.task_id == T.c.id, R.c.last_version.is_(True)).label("has_result"),
        )
        .select_from(T.join(P, P.c.id == T.c.project_id).outerjoin(A, mine).outerjoin(L, leased))
        .where(T.c.id == bindparam("t", type_=Integer))
    )


def _check_not_over_collected(task_id: int, stored: int, n_answers: int) -> None:
    """An independent count of the stored answers, behind the counters: must never fire."""
    if stored > n_answers:
        metrics.OVER_COLLECTION.inc()
        log.error("task %s holds %s answers for n_answers=%s", task_id, stored, n_answers)


def _write_result(
    conn: Connection,
    project_id: int,
    task_id: int,
    now: dt.datetime,
    *,
    had_result: bool = True,
) -> None:
    """Store the task's result (its answer ids), the previous version, if any, marked old.

    :param had_result: ``False`` when the caller knows, under the task's row lock, that the
        task has no current result yet (its first completion): one statement fewer.
    """
    answer_ids = conn.scalars(select(A.c.id).where(A.c.task_id == task_id).order_by(A.c.id)).all()
    if had_result:
        conn.execute(
            update(R).where(R.c.task_id == task_id, R.c.last_version).values(last_version=False)
        )
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
            # the task's row lock first, as every lease change (a submit counts the leases)
            ttl = conn.scalar(
                select(P.c.lease_ttl)
                .join(T, T.c.project_id == P.c.id)
                .where(T.c.id == task_id)
                .with_for_update(of=T)
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


def undo(
    engine: Engine,
    answer_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    authorize: Authorize | None = None,
) -> Claim:
    """Take back the user's answer while its task is not complete, and lease the task again.

    :param authorize: checks the caller against the answer's project, read under the task's
        row lock before anything is written (so an unpublished project cannot slip between
        the check and the undo); it raises to refuse.
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
            project = conn.execute(
                select(P.c.id, P.c.owner_id, P.c.published, P.c.lease_ttl).where(
                    P.c.id == task["project_id"]
                )
            ).one()
            if authorize is not None:
                authorize(ProjectRef(project.id, project.owner_id, project.published))
            if task["state"] == "completed":
                raise EngineError(Refusal.TASK_COMPLETED)
            conn.execute(delete(A).where(A.c.id == answer_id))
            ttl = project.lease_ttl
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
