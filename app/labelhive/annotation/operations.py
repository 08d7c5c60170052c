"""Operations on a connection inside an executor's transaction, and the rare operations.

Each executor opens its own kind of transaction (:meth:`Operations.transaction`: ``BEGIN
IMMEDIATE`` on SQLite, row locks on PostgreSQL, :func:`.statements.task_row_lock`); the writes
below and the decisions (:mod:`.core`) are the same for both, so release, renew, undo,
redundancy changes, the sweep and the labeling page's holding are written once. Lock order is
always task row → its leases and answers.
"""

from __future__ import annotations

import abc
import collections
import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy import update

from labelhive import metrics
from labelhive.annotation import core
from labelhive.annotation import statements as st
from labelhive.annotation.store import AnnotatorProgress
from labelhive.annotation.store import Claim
from labelhive.annotation.store import Holding
from labelhive.annotation.store import UndoDecider

T, L, A, P, R, S = st.T, st.L, st.A, st.P, st.R, st.S


class Operations(abc.ABC):
    """Base of an executor: everything but claim, submit and the kind of transaction."""

    engine: Engine

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """A transaction whose first task row lock excludes other writers of that task."""

    @abc.abstractmethod
    def claim(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        *,
        ahead: bool,
    ) -> Claim | core.Refuse | None:
        """A task leased to ``caller`` (or the one they hold), a refusal, or ``None``."""

    def hold(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        max_held: int,
    ) -> Holding | core.Refuse:
        """One read of the leases held and the progress, then a claim per missing task."""
        answered, tasks = st.progress_columns(project_id, caller.id)
        owner_id, published = st.project_facts_columns(project_id)
        held = st.held_query(project_id, caller.id, now).subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(answered, tasks, owner_id, published, *held.c)
                .select_from(select(literal(1).label("one")).subquery().outerjoin(held, true()))
                .order_by(held.c.lease_id)
            ).all()
        first = rows[0]
        facts = (
            None
            if first.owner_id is None
            else core.ProjectFacts(project_id, first.owner_id, bool(first.published))
        )
        refused = core.decide_hold(caller, facts)
        if refused is not None:
            return refused
        progress = AnnotatorProgress(rows[0].answered or 0, rows[0].tasks or 0)
        found = [task_of(row._mapping) for row in rows if row.id is not None][:max_held]
        return self.top_up(project_id, caller, now, gold_draw, max_held, found, progress)

    def top_up(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        max_held: int,
        found: list[dict[str, Any]],
        progress: AnnotatorProgress,
        taken: int = 0,
    ) -> Holding | core.Refuse:
        """Claims for the tasks missing from ``found``: the first an ordinary claim (none is
        held), the others look-ahead claims."""
        while len(found) < max_held:
            claimed = self.claim(project_id, caller, now, gold_draw, ahead=bool(found))
            if isinstance(claimed, core.Refuse):
                return claimed
            if claimed is None:
                break
            found.append(claimed.task)
            taken += 1
        return Holding(found, progress, taken)

    def release(self, task_id: int, user_id: int, *, skip: bool) -> bool:
        with self.transaction() as conn:
            return release_lease(conn, task_id, user_id, skip=skip)

    def renew(self, task_id: int, user_id: int, now: dt.datetime) -> dt.datetime | None:
        with self.transaction() as conn:
            return renew_lease(conn, task_id, user_id, now)

    def undo(
        self, answer_id: int, author_id: int, now: dt.datetime, decide: UndoDecider
    ) -> Claim | core.Refuse:
        with self.transaction() as conn:
            decision, row = undo_answer(conn, answer_id, author_id, now, decide)
        if isinstance(decision, core.Refuse) or row is None:
            return decision  # type: ignore[return-value]
        return Claim(row, decision.expires, resumed=True)

    def set_redundancy(
        self,
        n_answers: int,
        *,
        project_id: int | None,
        task_ids: list[int] | None,
        expect_n_answers: int | None,
        now: dt.datetime,
    ) -> int:
        with self.transaction() as conn:
            return set_redundancy_of(conn, n_answers, project_id, task_ids, expect_n_answers, now)

    def sweep_expired(self, now: dt.datetime) -> int:
        with self.transaction() as conn:
            swept = sweep_leases(conn, now, None)
        count_expired(swept)
        return swept


def count_expired(expired: int) -> None:
    """Leases that expired and went (the ``leases_expired`` metric)."""
    if expired:
        metrics.LEASES_EXPIRED.inc(expired)


def task_of(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A task's columns out of a row that carries more."""
    return {c.name: row[c.name] for c in T.c}


# --- operations inside an executor's transaction ---------------------------------------------


def task_row(conn: Connection, task_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(T).where(T.c.id == task_id)).mappings().one())


def sweep_leases(conn: Connection, now: dt.datetime, project_id: int | None) -> int:
    """Delete expired leases and give their slots back; tasks locked by others wait a turn.

    :return: how many leases went.
    """
    expired = select(L.c.task_id).where(L.c.expires_at <= now)
    if project_id is not None:
        expired = expired.where(L.c.project_id == project_id)
    locked = conn.scalars(
        st.task_row_lock(
            select(T.c.id).where(T.c.id.in_(expired)).order_by(T.c.id), skip_locked=True
        )
    ).all()
    if not locked:
        return 0
    gone = conn.scalars(
        delete(L).where(L.c.task_id.in_(locked), L.c.expires_at <= now).returning(L.c.task_id)
    ).all()
    for task_id, count in sorted(collections.Counter(gone).items()):
        conn.execute(update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved - count))
    return len(gone)


def renew_held(conn: Connection, lease_id: int, expires: dt.datetime) -> dict[str, Any] | None:
    """Push a held lease's expiry; its task's row, or ``None`` when it was answered meanwhile.

    The lock order (task row, then its leases) holds for renewals too: a submit counts the
    task's leases under that lock.
    """
    conn.execute(
        st.task_row_lock(
            select(T.c.id).where(
                T.c.id == select(L.c.task_id).where(L.c.id == lease_id).scalar_subquery()
            )
        )
    ).all()
    task_id = conn.scalar(
        update(L).where(L.c.id == lease_id).values(expires_at=expires).returning(L.c.task_id)
    )
    return None if task_id is None else task_row(conn, task_id)


def free_own_and_expired(
    conn: Connection, task_id: int, user_id: int, now: dt.datetime, n_reserved: int
) -> None:
    """A submit with no room: the caller's and the expired leases go, with their slots."""
    conn.execute(
        delete(L).where(L.c.task_id == task_id, or_(L.c.user_id == user_id, L.c.expires_at <= now))
    )
    conn.execute(update(T).where(T.c.id == task_id).values(n_reserved=n_reserved))


def write_result(
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


def release_lease(conn: Connection, task_id: int, user_id: int, *, skip: bool) -> bool:
    """Give up a lease (``skip`` also keeps the task from being offered again soon)."""
    task = conn.execute(
        st.task_row_lock(select(T.c.id, T.c.project_id).where(T.c.id == task_id))
    ).one_or_none()
    if task is None:
        return False
    gone = conn.execute(
        delete(L).where(L.c.task_id == task_id, L.c.user_id == user_id).returning(L.c.id)
    ).all()
    if gone:
        conn.execute(update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved - 1))
    if skip and not conn.scalar(
        select(S.c.id).where(S.c.task_id == task_id, S.c.user_id == user_id)
    ):
        conn.execute(insert(S).values(project_id=task.project_id, task_id=task_id, user_id=user_id))
    return bool(gone)


def renew_lease(
    conn: Connection, task_id: int, user_id: int, now: dt.datetime
) -> dt.datetime | None:
    """Extend the lease the user holds on a task; the new expiry, or ``None`` when it is gone."""
    # the task's row lock first, as every lease change (a submit counts the leases)
    ttl = conn.scalar(
        st.task_row_lock(
            select(P.c.lease_ttl).join(T, T.c.project_id == P.c.id).where(T.c.id == task_id)
        )
    )
    if ttl is None:
        return None
    expires = core.lease_expiry(now, ttl)
    renewed = conn.execute(
        update(L)
        .where(L.c.task_id == task_id, L.c.user_id == user_id)
        .values(expires_at=expires)
        .returning(L.c.id)
    ).all()
    return expires if renewed else None


def undo_answer(
    conn: Connection,
    answer_id: int,
    author_id: int,
    now: dt.datetime,
    decide: Any,
) -> tuple[core.Refuse | core.TakeBack, dict[str, Any] | None]:
    """Read an answer's task and project under the task's row lock, decide, and apply.

    :param decide: called with the task's facts, the project's facts and its lease TTL (or
        ``None, None, 0`` when the author has no such answer); returns the core's decision.
    :return: the decision and the task's row after a take-back (``None`` when refused).
    """
    task_id = conn.scalar(select(A.c.task_id).where(A.c.id == answer_id, A.c.user_id == author_id))
    if task_id is None:
        return decide(None, None, 0), None
    task = conn.execute(st.task_row_lock(select(T).where(T.c.id == task_id))).mappings().one()
    project = conn.execute(
        select(P.c.id, P.c.owner_id, P.c.published, P.c.lease_ttl).where(
            P.c.id == task["project_id"]
        )
    ).one()
    facts = core.ProjectFacts(project.id, project.owner_id, bool(project.published))
    decision = decide(st.task_facts(task), facts, project.lease_ttl)
    if isinstance(decision, core.Refuse):
        return decision, None
    conn.execute(delete(A).where(A.c.id == answer_id))
    if decision.keep_lease:
        conn.execute(
            insert(L).values(
                project_id=task["project_id"],
                task_id=task_id,
                user_id=author_id,
                created=now,
                expires_at=decision.expires,
            )
        )
    counters = (
        {"n_done": T.c.n_done - 1, "n_reserved": T.c.n_reserved + 1}
        if decision.keep_lease
        else {"n_done": T.c.n_done - 1}
    )
    row = conn.execute(update(T).where(T.c.id == task_id).values(**counters).returning(*T.c))
    return decision, dict(row.mappings().one())


def set_redundancy_of(
    conn: Connection,
    n_answers: int,
    project_id: int | None,
    task_ids: list[int] | None,
    expect_n_answers: int | None,
    now: dt.datetime,
) -> int:
    """Change ``n_answers`` of some tasks under their row locks; complete or reopen them."""
    query = select(T.c.id, T.c.project_id, T.c.n_done, T.c.state, T.c.gold_answer)
    if task_ids is not None:
        query = query.where(T.c.id.in_(task_ids))
    if project_id is not None:
        query = query.where(T.c.project_id == project_id)
    if expect_n_answers is not None:
        query = query.where(T.c.n_answers == expect_n_answers)
    rows = conn.execute(st.task_row_lock(query.order_by(T.c.id))).all()
    for row in rows:
        state = (
            "ongoing"
            if row.gold_answer is not None
            else core.state_after_redundancy_change(row.n_done, n_answers)
        )
        conn.execute(update(T).where(T.c.id == row.id).values(n_answers=n_answers, state=state))
        if state == "completed" and row.state != "completed":
            write_result(conn, row.project_id, row.id, now)
    return len(rows)
