"""The PostgreSQL executor: row locks, ``SKIP LOCKED`` claims, and the hot paths on the driver.

Round trips, and the Python around each statement, are the cost under load, so the hot path is
short and runs on the driver connection (:mod:`labelhive.tasks.driver`):

- A claim is ONE statement once this store knows the project's ordering and lease TTL
  (:func:`statements.read_and_take`): the read of the project and the caller's lease, and a take
  that runs only when the read is as expected (the caller may contribute, holds no lease, no
  lease expired, no gold to serve). Otherwise the read alone, and Python decides
  (:func:`core.decide_claim`); takes are one atomic statement each (pick with ``SKIP LOCKED``,
  reserve, lease), in autocommit. Resuming a held lease and sweeping expired ones take several
  writes: this executor runs them in a transaction of its own.
- A submit is two round trips in psycopg's pipeline mode: ``BEGIN``, the task's row lock and
  one read of everything the decision needs; then the writes and ``COMMIT``. So the row lock,
  which the task's other annotators queue for, is held for one turn of the thread.

The expected (ordering, TTL) per project is this store's, and a store belongs to one engine
(one database): what one database taught never decides a claim in another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import NamedTuple

from sqlalchemy import Engine

from labelhive.annotation import core
from labelhive.annotation import operations as ops
from labelhive.annotation import statements as st
from labelhive.annotation.operations import Operations
from labelhive.annotation.operations import count_expired
from labelhive.annotation.operations import task_of
from labelhive.annotation.store import AnnotatorProgress
from labelhive.annotation.store import Claim
from labelhive.annotation.store import Holding
from labelhive.annotation.store import Submitted
from labelhive.tasks import driver


class _ProjectRead(NamedTuple):
    """:func:`statements.claim_context`'s row, out of :func:`statements.read_and_take`'s."""

    id: int
    owner_id: int
    published: bool
    lease_ttl: int
    ordering: str
    gold_rate: float
    held_id: int | None
    has_expired: bool


class PostgresStore(Operations):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # per project: (ordering, lease TTL) as the last claim read them, so that the next
        # claim can send its take with the read; a changed project only costs that claim a take
        self.expected: dict[int, tuple[str, int]] = {}

    def transaction(self) -> Any:
        return self.engine.begin()

    def claim(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        *,
        ahead: bool,
    ) -> Claim | core.Refuse | None:
        params: dict[str, Any] = {"p": project_id, "u": caller.id, "now": now}
        with self.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            with driver.connection(conn) as raw:
                taken, tried = None, False
                expected = self.expected.get(project_id)
                if expected is None:
                    context = driver.compiled(conn.dialect, st.claim_context(ahead))
                    project = driver.one(raw, context, params)
                else:
                    ordering, ttl = expected
                    params.update(
                        ordering=ordering,
                        ttl=ttl,
                        admin=caller.admin or caller.trusted,
                        expires=core.lease_expiry(now, ttl),
                    )
                    statement = driver.compiled(conn.dialect, st.read_and_take(ordering, ahead))
                    project, taken, tried = _read_and_taken(driver.one_dict(raw, statement, params))
                decision = core.decide_claim(st.claim_context_of(project, caller, now, gold_draw))
                if isinstance(decision, core.Refuse):
                    return decision  # the take is conditioned on the same rule: none ran
                self.expected[project_id] = (project.ordering, project.lease_ttl)
                if taken is not None:
                    return Claim(taken, decision.expires, resumed=False)
                if decision.resume is not None or decision.sweep:
                    return self._claim_in_transaction(project, caller.id, now, decision)
                params["expires"] = decision.expires
                for kind in decision.kinds:
                    if tried and kind == core.USUAL_KIND:
                        continue  # the combined statement ran this one and found nothing
                    take = driver.compiled(conn.dialect, st.take_statement(project.ordering, *kind))
                    row = driver.one_dict(raw, take, params)
                    if row is not None:
                        return Claim(row, decision.expires, resumed=False)
        return None

    def hold(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        max_held: int,
    ) -> Holding | core.Refuse:
        """The labeling page's holding: ONE statement once the project's settings are known
        (:func:`statements.hold_statement`); the general steps otherwise."""
        expected = self.expected.get(project_id)
        if expected is None:
            return super().hold(project_id, caller, now, gold_draw, max_held)
        ordering, ttl = expected
        params: dict[str, Any] = {
            "p": project_id,
            "u": caller.id,
            "now": now,
            "ordering": ordering,
            "ttl": ttl,
            "admin": caller.admin or caller.trusted,
            "expires": core.lease_expiry(now, ttl),
            "max_held": max_held,
        }
        with self.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            with driver.connection(conn) as raw:
                statement = driver.compiled(conn.dialect, st.hold_statement(ordering))
                cursor = raw.cursor(row_factory=driver.dict_row)
                rows = cursor.execute(*statement.call(params)).fetchall()
        if not rows:  # no such project: the steps refuse
            return super().hold(project_id, caller, now, gold_draw, max_held)
        first = rows[0]
        project = _ProjectRead(*(first[f"read_{name}"] for name in _ProjectRead._fields))
        decision = core.decide_claim(st.claim_context_of(project, caller, now, gold_draw))
        if isinstance(decision, core.Refuse):
            return decision  # the take is conditioned on the same rule: none ran
        self.expected[project_id] = (project.ordering, project.lease_ttl)
        progress = AnnotatorProgress(first["answered"] or 0, first["tasks"] or 0)
        found = [task_of(row) for row in rows if row["id"] is not None]
        taken = sum(1 for row in rows if row["taken"] == 1)
        # the statement took what it could (``took``), or nothing; claims for what is missing:
        # at a project's end a claim that offers skipped tasks again, or a read that was not
        # as expected (gold to serve, expired leases to sweep)
        return self.top_up(
            project_id, caller, now, gold_draw, max_held, found[:max_held], progress, taken
        )

    def _claim_in_transaction(
        self, project: Any, user_id: int, now: dt.datetime, decision: core.Take
    ) -> Claim | None:
        """Resume the held lease, or sweep the project's expired leases and take: the rare
        claims, in one transaction (the task's row lock before its leases, as everywhere)."""
        with self.engine.begin() as conn:
            if decision.resume is not None:
                task = ops.renew_held(conn, decision.resume, decision.expires)
                if task is not None:
                    return Claim(task, decision.expires, resumed=True)
            if decision.sweep:
                count_expired(ops.sweep_leases(conn, now, project.id))
            params = {"p": project.id, "u": user_id, "now": now, "expires": decision.expires}
            for kind in decision.kinds:
                take = st.take_statement(project.ordering, *kind)
                row = conn.execute(take, params).mappings().one_or_none()
                if row is not None:
                    return Claim(dict(row), decision.expires, resumed=False)
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
        """Two round trips: lock and read; then the writes and ``COMMIT``.

        The connection is in autocommit and the transaction explicit: psycopg would otherwise
        wait for its own ``BEGIN`` alone (a sync), one round trip more. The lock is a statement
        of its own so that the read's snapshot starts after it: a submit that queued behind
        another sees that one's answer and leases. The read counts the leases the writes will
        remove (every lease change takes the task's row lock first); the delete and the counter
        update are one statement all the same, so ``n_reserved`` follows the rows deleted.
        """
        params: dict[str, Any] = {"t": task_id, "u": caller.id, "now": now}
        dialect = self.engine.dialect
        expired = 0
        with (
            self.engine.connect() as base,
            driver.connection(base.execution_options(isolation_level="AUTOCOMMIT")) as raw,
        ):
            try:
                with raw.pipeline() as pipeline:
                    raw.execute(driver.BEGIN)
                    raw.execute(*driver.compiled(dialect, st.lock_task()).call(params))
                    found = driver.one_dict(
                        raw, driver.compiled(dialect, st.submit_context()), params
                    )
                    decision = core.decide_submit(
                        st.submit_context_of(found, caller, now, info, project_id)
                    )
                    if isinstance(decision, core.AlreadyStored):
                        answer_by_id = driver.compiled(dialect, st.answer_by_id())
                        existing = driver.one_dict(raw, answer_by_id, {"a": decision.answer_id})
                        raw.rollback()
                        return Submitted(existing or {}, created=False, completed_task=False)
                    if isinstance(decision, core.Refuse):
                        if not decision.free_leases:
                            raw.rollback()
                            return decision
                        # give the slots back and commit that; the refusal is the answer
                        driver.one(raw, driver.compiled(dialect, st.free_leases()), params)
                        raw.execute(driver.COMMIT)
                        pipeline.sync()  # committed before it counts
                        count_expired(found["expired_leases"])  # type: ignore[index]
                        return decision
                    task: dict[str, Any] = found  # type: ignore[assignment]
                    expired = task["expired_leases"]
                    params.update(
                        p=task["project_id"],
                        info=driver.jsonb(info),
                        created=decision.created,
                        ip=user_ip,
                        uid=external_uid,
                        n_done=decision.n_done,
                        state=decision.state,
                    )
                    answer = raw.cursor(row_factory=driver.dict_row)
                    answer.execute(*driver.compiled(dialect, st.insert_answer()).call(params))
                    counted = raw.cursor()
                    counted.execute(*driver.compiled(dialect, st.count_answer()).call(params))
                    if decision.complete:
                        if task["has_result"]:
                            retire = driver.compiled(dialect, st.retire_result())
                            raw.execute(*retire.call(params))
                        raw.execute(*driver.compiled(dialect, st.insert_result()).call(params))
                    raw.execute(driver.COMMIT)
                # the pipeline's exit sent it all with one sync and read every result
                row = answer.fetchone()
                stored = counted.fetchone()
            except BaseException:
                raw.rollback()
                raise
        count_expired(expired)
        return Submitted(
            row,
            created=True,
            completed_task=decision.complete,
            adaptive_redundancy=bool(task["adaptive_redundancy"]),
            stored=stored[0],
            n_answers=task["n_answers"],
            gold=task["gold_answer"] is not None,
        )


def _read_and_taken(
    found: dict[str, Any] | None,
) -> tuple[_ProjectRead | None, dict[str, Any] | None, bool]:
    """``(project, the task taken or None, whether the take ran)`` of a combined claim."""
    if found is None:
        return None, None, False
    project = _ProjectRead(*(found.pop(f"read_{name}") for name in _ProjectRead._fields))
    tried = found.pop("took")
    return project, (found if found["id"] is not None else None), tried
