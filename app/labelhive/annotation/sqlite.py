"""The SQLite executor: every decision in a write transaction (``BEGIN IMMEDIATE``).

SQLite has one writer at a time, so a write transaction is the lock the rules need: the claim
reads and takes, the submit reads and writes, with nobody in between. The writers of one
process queue on a lock of their own rather than in SQLite's busy handler, which polls with
sleeps growing to 100 ms however soon the database is free again (a tail of most of a second for
8 threads); other processes still meet the busy handler.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from labelhive.annotation import core
from labelhive.annotation import operations as ops
from labelhive.annotation import statements as st
from labelhive.annotation.operations import Operations
from labelhive.annotation.operations import count_expired
from labelhive.annotation.store import Claim
from labelhive.annotation.store import Submitted

T, L, A = st.T, st.L, st.A


class SQLiteStore(Operations):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writers = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._writers, self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def claim(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        *,
        ahead: bool,
    ) -> Claim | core.Refuse | None:
        with self.transaction() as conn:
            params = {"p": project_id, "u": caller.id, "now": now}
            row = conn.execute(st.claim_context(ahead), params).one_or_none()
            decision = core.decide_claim(st.claim_context_of(row, caller, now, gold_draw))
            if isinstance(decision, core.Refuse):
                return decision
            if decision.resume is not None:
                task = ops.renew_held(conn, decision.resume, decision.expires)
                # None: the lease was answered (by this user, elsewhere) since the read
                if task is not None:
                    return Claim(task, decision.expires, resumed=True)
            if decision.sweep:
                count_expired(ops.sweep_leases(conn, now, project_id))
            for gold, skip_skipped in decision.kinds:
                taken = _take(conn, row, caller.id, gold, skip_skipped, now, decision.expires)
                if taken is not None:
                    return Claim(taken, decision.expires, resumed=False)
            return None

    def submit(
        self,
        task_id: int,
        caller: core.Caller,
        info: Any,
        *,
        project_id: int | None,
        now: dt.datetime,
        user_ip: str | None,
        external_uid: str | None,
    ) -> Submitted | core.Refuse:
        with self.transaction() as conn:
            params = {"t": task_id, "u": caller.id, "now": now}
            found = conn.execute(st.submit_context(), params).mappings().one_or_none()
            decision = core.decide_submit(
                st.submit_context_of(found, caller, now, info, project_id)
            )
            if isinstance(decision, core.AlreadyStored):
                existing = conn.execute(select(A).where(A.c.id == decision.answer_id))
                return Submitted(dict(existing.mappings().one()), False, False)
            if isinstance(decision, core.Refuse):
                if decision.free_leases:
                    # the slots go back (committed); the refusal is the answer
                    reserved = found["n_reserved"] - decision.free_leases  # type: ignore[index]
                    ops.free_own_and_expired(conn, task_id, caller.id, now, reserved)
                    count_expired(found["expired_leases"])  # type: ignore[index]
                return decision
            if found is None:  # decide_submit refuses a missing task: never here
                raise RuntimeError("an insert decided without a task")
            conn.execute(
                delete(L).where(
                    L.c.task_id == task_id, or_(L.c.user_id == caller.id, L.c.expires_at <= now)
                )
            )
            count_expired(found["expired_leases"])
            answer = conn.execute(
                insert(A)
                .values(
                    project_id=found["project_id"],
                    task_id=task_id,
                    user_id=caller.id,
                    info=info,
                    created=decision.created,
                    finish_time=now,
                    user_ip=user_ip,
                    external_uid=external_uid,
                )
                .returning(*A.c)
            )
            row = dict(answer.mappings().one())
            # the RETURNING counts the stored answers independently of the counters
            stored = conn.scalar(
                update(T)
                .where(T.c.id == task_id)
                .values(
                    n_done=decision.n_done, n_reserved=decision.n_reserved, state=decision.state
                )
                .returning(
                    select(func.count())
                    .select_from(A)
                    .where(A.c.task_id == task_id)
                    .scalar_subquery()
                )
            )
            if decision.complete:
                ops.write_result(
                    conn, found["project_id"], task_id, now, had_result=found["has_result"]
                )
            return Submitted(
                row,
                created=True,
                completed_task=decision.complete,
                adaptive_redundancy=bool(found["adaptive_redundancy"]),
                stored=stored,
                n_answers=found["n_answers"],
                gold=found["gold_answer"] is not None,
            )


def _take(
    conn: Connection,
    project: Any,
    user_id: int,
    gold: bool,
    skip_skipped: bool,
    now: dt.datetime,
    expires: dt.datetime,
) -> dict[str, Any] | None:
    """Lease a candidate task in three statements (the transaction is the write lock)."""
    candidate = st.candidate_query(project.ordering, project.id, user_id, gold, skip_skipped)
    task_id = conn.scalar(candidate)
    if task_id is None:
        return None
    row = conn.execute(
        update(T).where(T.c.id == task_id).values(n_reserved=T.c.n_reserved + 1).returning(*T.c)
    )
    taken = dict(row.mappings().one())
    conn.execute(
        insert(L).values(
            project_id=project.id, task_id=task_id, user_id=user_id, created=now, expires_at=expires
        )
    )
    return taken
