"""The engine's statements on the PostgreSQL driver (``labelhive.tasks.driver``), on a real server.

Two properties the engine's tests cannot see: the claim's prepared statement keeps using the
open-task index once PostgreSQL switches it to a generic plan, and a driver error is
SQLAlchemy's (a lost connection is invalidated in the pool, so the next claim works).
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from labelhive.annotation import statements
from labelhive.extensions import db
from labelhive.tasks import driver
from tests.app.tasks.test_engine import setup_project
from tests.common import engine
from tests.common.processes import wait_for


def _as_prepare(sql: str) -> tuple[str, list[str]]:
    """The driver's ``%(name)s`` SQL as a ``PREPARE`` body (``$n``) and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), names


@pytest.mark.parametrize("ordering", ["depth_first", "breadth_first"])
def test_the_claims_generic_plan_walks_the_open_task_index(pg_app, ordering):
    project, users, _ = setup_project(tasks=[{} for _ in range(50)], ordering=ordering)
    take = driver.compiled(db.engine.dialect, statements.take_statement(ordering, False, True))
    body, names = _as_prepare(take.sql)
    values = take.params(
        {"p": project.id, "u": users[1], "now": "2026-01-01", "expires": "2026-01-02"}
    )
    literal = ", ".join(f"'{values[name]}'" for name in names)
    with db.engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(text("SET enable_seqscan = off"))
        conn.exec_driver_sql(f"PREPARE take AS {body}")
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN EXECUTE take({literal})").scalars().all())
        conn.rollback()
    # a parameter in the partial index's predicate (state = $n) would rule the index out
    assert f"ix_task_open_{ordering}" in plan, plan


def test_a_lost_connection_is_sqlalchemys_error_and_the_pool_recovers(pg_app):
    project, users, _ = setup_project(tasks=[{} for _ in range(3)])
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.commit()
    # the pool hands the same connection back (it is the only one checked in)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        conn.commit()
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        with pytest.raises(DBAPIError) as raised, driver.connection(conn) as raw:
            raw.execute("SELECT 1")
        assert raised.value.connection_invalidated
    claim = engine.claim(db.engine, project.id, users[1])
    assert claim is not None


def test_a_submit_the_database_refuses_writes_nothing_and_leaves_the_connection_clean(pg_app):
    # the submit's transaction is explicit (BEGIN and COMMIT on an autocommit connection, so
    # BEGIN travels with the first read): its last write failing must undo the answer too
    project, users, (task_id,) = setup_project(tasks=[{"n_answers": 2}])
    assert engine.claim(db.engine, project.id, users[1]).task["id"] == task_id
    db.session.rollback()  # the test's own session lets go of the task table (DDL below)
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'refused by the test'; END$$"
            )
        )
        conn.execute(
            # the task's counters are written after the answer is inserted
            text("CREATE TRIGGER refuse BEFORE UPDATE ON task EXECUTE FUNCTION refuse()")
        )
        conn.commit()
    with pytest.raises(DBAPIError, match="refused by the test"):
        engine.submit(db.engine, task_id, users[1], "cat")
    with db.engine.connect() as conn:
        # the pool's only connection: back idle, out of autocommit, nothing left in it
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert conn.connection.driver_connection.autocommit is False
        task = conn.execute(text("SELECT n_done, n_reserved FROM task")).one()
        leases = conn.execute(text("SELECT count(*) FROM lease")).scalar()
        assert (tuple(task), leases) == ((0, 1), 1)  # the lease survives: the answer can retry
        assert conn.execute(text("SELECT count(*) FROM answer")).scalar() == 0
        conn.execute(text("DROP TRIGGER refuse ON task"))
        conn.commit()
    stored = engine.submit(db.engine, task_id, users[1], "cat")
    assert stored.created and stored.answer["info"] == "cat"


def test_a_submit_that_waited_for_the_task_lock_sees_what_its_holder_wrote(pg_app):
    # one annotator's answer sent twice at once (a double click, a retry): the second waits for
    # the task's row lock, then must see the first's answer (an idempotent replay), not a
    # snapshot taken before it and a duplicate key
    project, users, (task_id,) = setup_project(tasks=[{"n_answers": 2}])
    assert engine.claim(db.engine, project.id, users[1]).task["id"] == task_id
    db.session.rollback()
    results: list[object] = []

    def submit() -> None:
        with pg_app.app_context():
            try:
                results.append(engine.submit(db.engine, task_id, users[1], "cat"))
            except Exception as exc:  # noqa: BLE001 - asserted below
                results.append(exc)

    with db.engine.connect() as holder:
        holder.execute(text("SELECT id FROM task WHERE id = :t FOR UPDATE"), {"t": task_id})
        threads = [threading.Thread(target=submit) for _ in range(2)]
        for thread in threads:
            thread.start()
        with db.engine.connect() as watch:
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )

            def both_wait() -> bool:
                watch.rollback()  # a fresh view of pg_stat_activity
                return watch.execute(waiting).scalar() >= 2

            wait_for(both_wait, 10, "two submits waiting for the task's lock")
            assert watch.execute(waiting).scalar() == 2
        holder.commit()
        for thread in threads:
            thread.join(10)
    outcomes = sorted(str(getattr(result, "created", result)) for result in results)
    assert outcomes == ["False", "True"], results
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT n_done, n_reserved FROM task")).one() == (1, 0)
