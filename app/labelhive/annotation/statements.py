"""The annotation rules' SQL: the statements both executors build, and their reads as records.

Each statement is written once, as a SQLAlchemy construct; the SQLite executor runs them through
SQLAlchemy, the PostgreSQL one compiles the hot ones once per process for the driver
(:mod:`labelhive.tasks.driver`). The decisions are :mod:`labelhive.annotation.core`'s; the
writes on a connection, inside an executor's transaction, are :mod:`.operations`'.

Lock order is always task row → its leases/answers, which rules out deadlocks between claims,
submits and the sweep. Counters on the task row (``n_done``, ``n_reserved``) make "answers + live
leases < n_answers" a column comparison that the partial indexes serve.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Boolean
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
from sqlalchemy import union_all
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import aggregate_order_by

from labelhive.annotation import core
from labelhive.answers.models import Answer
from labelhive.consensus.models import Result
from labelhive.db import table_of
from labelhive.projects.models import Project
from labelhive.reports.models import TaskReport
from labelhive.tasks import counts
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Skip
from labelhive.tasks.models import Task

# the tables themselves, for Core statements
T = table_of(Task)
L = table_of(Lease)
A = table_of(Answer)
P = table_of(Project)
R = table_of(Result)
S = table_of(Skip)
TR = table_of(TaskReport)


def task_row_lock(query: Any, *, skip_locked: bool = False) -> Any:
    """``query`` locking the task rows it reads: ``FOR NO KEY UPDATE`` on PostgreSQL.

    Every claim, submit and lease change takes this lock first, so they exclude each other.
    Not ``FOR UPDATE``: that one also conflicts with the ``FOR KEY SHARE`` lock a foreign-key
    check holds until its transaction ends, so while the consensus job (or anything writing
    rows that reference tasks) had not committed, claims skipped those tasks and reported
    nothing left, and submits waited. SQLite has no row locks and ignores it.
    """
    return query.with_for_update(key_share=True, skip_locked=skip_locked, of=T)


# --- claim ------------------------------------------------------------------------------------


def ordering_of(ordering: str) -> list[Any]:
    filled = T.c.n_done + T.c.n_reserved
    if ordering == "breadth_first":
        return [T.c.priority_0.desc(), filled.asc(), T.c.id]
    if ordering == "random":
        return [T.c.priority_0.desc(), func.random()]
    # depth_first: finish the tasks closest to done
    return [T.c.priority_0.desc(), filled.desc(), T.c.id]


def candidate_query(
    ordering: str, project_id: Any, user_id: Any, gold: bool, skip_skipped: bool
) -> Any:
    conds = [
        T.c.project_id == project_id,
        ~exists().where(A.c.task_id == T.c.id, A.c.user_id == user_id),
        ~exists().where(L.c.task_id == T.c.id, L.c.user_id == user_id),
        # a task the user reported (a broken image) never comes back to them, even once only
        # skipped tasks are left: they could otherwise never reach "All done"
        ~exists().where(TR.c.task_id == T.c.id, TR.c.user_id == user_id),
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
        order = ordering_of(ordering)
    return select(T.c.id).where(*conds).order_by(*order).limit(literal_column("1"))


@functools.cache
def claim_context(ahead: bool) -> Any:
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


@functools.cache
def take_statement(ordering: str, gold: bool, skip_skipped: bool) -> Any:
    candidate = candidate_query(
        ordering, bindparam("p", type_=Integer), bindparam("u", type_=Integer), gold, skip_skipped
    )
    reserved, leased = reserve_and_lease(candidate)
    return select(*[reserved.c[c.name] for c in T.c]).add_cte(leased)


def reserve_and_lease(candidate: Any) -> tuple[Any, Any]:
    """The CTEs of a take: pick ``candidate`` (``SKIP LOCKED``), reserve it, insert the lease."""
    picked = task_row_lock(candidate, skip_locked=True).cte("picked")
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


@functools.cache
def read_and_take(ordering: str, ahead: bool) -> Any:
    """A claim's read and its usual take as ONE statement (a CTE), for one ordering.

    The take runs only when the read is as the caller expects (``took``): the caller may
    contribute (authorization as data: ``u`` and ``admin``), holds no lease to resume, no lease
    expired, no gold to serve, and the ordering and lease TTL are the expected ones (so the
    lease expiry bound with it is right). Otherwise the caller decides from the read alone.
    The row is the read's columns (``read_*``), ``took``, and the taken task's columns
    (``NULL`` when none was taken).
    """
    read = claim_context(ahead).subquery()
    took = and_(
        or_(
            read.c.published,
            read.c.owner_id == bindparam("u", type_=Integer),
            # an admin, or a caller the entry point vouched for (core.Caller.trusted)
            bindparam("admin", type_=Boolean),
        ),
        read.c.held_id.is_(None),
        ~read.c.has_expired,
        read.c.gold_rate <= 0,
        read.c.ordering == bindparam("ordering"),
        read.c.lease_ttl == bindparam("ttl", type_=Integer),
    ).label("took")
    context = select(*read.c, took).cte("context")
    gold, skip_skipped = core.USUAL_KIND
    candidate = candidate_query(
        ordering, bindparam("p", type_=Integer), bindparam("u", type_=Integer), gold, skip_skipped
    ).where(select(context.c.took).scalar_subquery())
    reserved, leased = reserve_and_lease(candidate)
    return (
        select(
            *[context.c[c.name].label(f"read_{c.name}") for c in read.c],
            context.c.took,
            *[reserved.c[c.name] for c in T.c],
        )
        .select_from(context.outerjoin(reserved, literal(True)))
        .add_cte(leased)
    )


# --- the labeling page's holding -------------------------------------------------------------


def progress_columns(project_id: Any, user_id: Any) -> tuple[Any, Any]:
    """An annotator's progress as two scalar subqueries: their answers in the project, and
    the project's tasks (gold included in both: see :class:`store.AnnotatorProgress`)."""
    answered = (
        select(func.count())
        .select_from(A)
        .where(A.c.project_id == project_id, A.c.user_id == user_id)
        .scalar_subquery()
    )
    # kept by triggers (labelhive.tasks.counts): a count of the rows is linear in the
    # project's tasks, on every answer
    return answered.label("answered"), counts.tasks_of(project_id).label("tasks")


def project_facts_columns(project_id: Any) -> tuple[Any, Any]:
    """The project's owner and whether it is published, as two scalar subqueries (``NULL``
    owner: no such project)."""
    owner = select(P.c.owner_id).where(P.c.id == project_id).scalar_subquery()
    published = select(P.c.published).where(P.c.id == project_id).scalar_subquery()
    return owner.label("owner_id"), published.label("published")


def held_query(project_id: Any, user_id: Any, now: Any) -> Any:
    """The tasks the user holds a live lease on in the project, with the lease's id."""
    return (
        select(*T.c, L.c.id.label("lease_id"))
        .join(L, L.c.task_id == T.c.id)
        .where(L.c.project_id == project_id, L.c.user_id == user_id, L.c.expires_at > now)
    )


@functools.cache
def hold_statement(ordering: str) -> Any:
    """The labeling page's holding as ONE statement: the leases held, the progress, and a take
    of one task when fewer than ``max_held`` are held and the read is as expected (as
    :func:`read_and_take`, for a look-ahead claim).

    One row per task held or taken (``taken`` 0 or 1), or one row of ``NULL`` task columns;
    every row carries the read (``read_*``), ``took`` and the progress. No row: no project.
    """
    p, u = bindparam("p", type_=Integer), bindparam("u", type_=Integer)
    now = bindparam("now", type_=L.c.expires_at.type)
    max_held = bindparam("max_held", type_=Integer)
    held = held_query(p, u, now).cte("held")
    n_held = select(func.count()).select_from(held).scalar_subquery()
    read = claim_context(True).subquery()
    answered, tasks = progress_columns(p, u)
    took = and_(
        or_(read.c.published, read.c.owner_id == u, bindparam("admin", type_=Boolean)),
        ~read.c.has_expired,
        read.c.gold_rate <= 0,
        read.c.ordering == bindparam("ordering"),
        read.c.lease_ttl == bindparam("ttl", type_=Integer),
        n_held < max_held,
    ).label("took")
    context = select(*[c.label(f"read_{c.name}") for c in read.c], answered, tasks, took).cte(
        "context"
    )
    gold, skip_skipped = core.USUAL_KIND
    # one task at most, as a claim takes: a limit the planner cannot see (the tasks missing)
    # makes it plan for many rows, and at 10M tasks it sorted the open tasks instead of walking
    # the index (460 ms a holding); after an answer one task is missing, and on a first load
    # the executor's top-up claims the second
    candidate = candidate_query(ordering, p, u, gold, skip_skipped).where(
        select(context.c.took).scalar_subquery()
    )
    reserved, leased = reserve_and_lease(candidate)
    rows = union_all(
        select(*[held.c[c.name] for c in T.c], held.c.lease_id, literal(0).label("taken")),
        select(
            *[reserved.c[c.name] for c in T.c],
            literal(None, Integer).label("lease_id"),
            literal(1).label("taken"),
        ),
    ).subquery("rows")
    return (
        select(*context.c, *rows.c)
        .select_from(context.outerjoin(rows, literal(True)))
        .order_by(rows.c.taken, rows.c.lease_id, rows.c.id)
        .add_cte(leased)
    )


# --- submit -----------------------------------------------------------------------------------


@functools.cache
def answer_by_id() -> Any:
    return select(A).where(A.c.id == bindparam("a", type_=Integer))


def _gone() -> Any:
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
def lock_task() -> Any:
    return task_row_lock(select(T.c.id).where(T.c.id == bindparam("t", type_=Integer)))


@functools.cache
def free_leases() -> Any:
    """Delete the user's and the expired leases of the task, and take their slots back."""
    gone = _gone()
    freed = select(func.count()).select_from(gone).scalar_subquery()
    return (
        update(T)
        .where(T.c.id == bindparam("t", type_=Integer))
        .values(n_reserved=T.c.n_reserved - freed)
        .returning(T.c.n_reserved)
        .add_cte(gone)
    )


@functools.cache
def insert_answer() -> Any:
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
def count_answer() -> Any:
    """The leases go, the answer counts; RETURNING recounts the stored answers independently."""
    gone = _gone()
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
def retire_result() -> Any:
    task_id = bindparam("t", type_=Integer)
    return update(R).where(R.c.task_id == task_id, R.c.last_version).values(last_version=False)


@functools.cache
def insert_result() -> Any:
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
def submit_context() -> Any:
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
            A.c.info.label("answer_info"),
            L.c.created.label("lease_created"),
            expired.label("expired_leases"),
            exists().where(R.c.task_id == T.c.id, R.c.last_version.is_(True)).label("has_result"),
        )
        .select_from(T.join(P, P.c.id == T.c.project_id).outerjoin(A, mine).outerjoin(L, leased))
        .where(T.c.id == bindparam("t", type_=Integer))
    )


# --- contexts: a read's row as the core's record ---------------------------------------------


def claim_context_of(
    row: Any, caller: core.Caller, now: dt.datetime, gold_draw: float
) -> core.ClaimContext:
    """:func:`claim_context`'s row (or ``None``) as a :class:`core.ClaimContext`."""
    if row is None:
        return core.ClaimContext(caller, now, None)
    return core.ClaimContext(
        caller,
        now,
        core.ProjectFacts(row.id, row.owner_id, bool(row.published)),
        lease_ttl=row.lease_ttl,
        gold_rate=row.gold_rate,
        held_lease_id=row.held_id,
        has_expired=bool(row.has_expired),
        gold_draw=gold_draw,
    )


def task_facts(row: Any) -> core.TaskFacts:
    return core.TaskFacts(
        id=row["id"],
        project_id=row["project_id"],
        n_answers=row["n_answers"],
        n_done=row["n_done"],
        n_reserved=row["n_reserved"],
        state=row["state"],
        gold=row["gold_answer"] is not None,
    )


def submit_context_of(
    row: Any,
    caller: core.Caller,
    now: dt.datetime,
    info: Any,
    expected_project_id: int | None,
) -> core.SubmitContext:
    """:func:`submit_context`'s row (a mapping, or ``None``) as a :class:`core.SubmitContext`."""
    if row is None:
        return core.SubmitContext(caller, now, info, None, expected_project_id=expected_project_id)
    return core.SubmitContext(
        caller,
        now,
        info,
        task_facts(row),
        core.ProjectFacts(row["project_id"], row["owner_id"], bool(row["published"])),
        options=tuple(core.answer_options(row["project_info"])),
        expected_project_id=expected_project_id,
        answer_id=row["answer_id"],
        answer_info=row["answer_info"],
        lease_created=row["lease_created"],
        expired_leases=row["expired_leases"],
    )
