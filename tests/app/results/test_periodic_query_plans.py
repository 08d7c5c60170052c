"""The periodic queries on ``answer`` are index-backed: PostgreSQL's plan of what each one
sends (``/metrics``' last answer per project, the scheduler's projects answered since), read
with ``EXPLAIN`` over enough answers that a scan would be chosen if no index served."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import text

from labelhive.answers import activity
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.projects.monitoring import ProjectCollector
from tests.common.web import make_project
from tests.common.web import make_user

ANSWERS_PER_PROJECT = 20_000


@pytest.fixture
def answered(pg_app) -> list[int]:  # noqa: ANN001
    """Three published projects of 20k answers each, all old but the last project's last 50."""
    owner = make_user("owner")
    ids = [make_project(owner, short_name=f"p{n}").id for n in range(3)]
    now = utcnow()
    with db.engine.begin() as conn:
        for n, project_id in enumerate(ids):
            conn.execute(
                text(
                    "INSERT INTO task (project_id, info, n_answers, priority_0, state,"
                    " calibration, quorum, n_done, n_reserved, created)"
                    " SELECT :p, '{}'::jsonb, 1, 0, 'completed', 0, 0, 1, 0, :now"
                    " FROM generate_series(1, :n)"
                ),
                {"p": project_id, "n": ANSWERS_PER_PROJECT, "now": now},
            )
            # answers days old; the last project (n == 2) got its last 50 a minute ago
            conn.execute(
                text(
                    "INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)"
                    " SELECT t.project_id, t.id, :u, '\"cat\"'::jsonb, :now,"
                    " CASE WHEN :recent AND row_number() OVER (ORDER BY t.id) > :n - 50"
                    "   THEN :now - interval '1 minute'"
                    "   ELSE :now - interval '3 days' + t.id * interval '1 second' END"
                    " FROM task t WHERE t.project_id = :p"
                ),
                {"p": project_id, "u": owner.id, "now": now, "recent": n == 2,
                 "n": ANSWERS_PER_PROJECT},
            )  # fmt: skip
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE answer"))
        conn.execute(text("ANALYZE task"))
        conn.execute(text("ANALYZE project"))
    return ids


def sent(call: Any) -> list[tuple[str, Any]]:
    """The statements ``call()`` sends to the database, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def scans_of(plan: dict[str, Any], relation: str) -> Iterator[dict[str, Any]]:
    """Every plan node that reads ``relation``."""
    if plan.get("Relation Name") == relation:
        yield plan
    for child in plan.get("Plans", []):
        yield from scans_of(child, relation)


def plan_of(statement: str, parameters: Any) -> dict[str, Any]:
    cursor = db.engine.raw_connection().cursor()
    try:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        return cursor.fetchone()[0][0]["Plan"]
    finally:
        cursor.close()


def answer_scans(call: Any) -> list[dict[str, Any]]:
    statements = [s for s in sent(call) if " answer" in s[0]]
    assert statements, "the call sent no query on answer"
    scans = [scan for s in statements for scan in scans_of(plan_of(*s), "answer")]
    assert scans, "no plan node reads answer"
    return scans


def key_columns(index: str) -> list[str]:
    """The index's key columns, in order (from PostgreSQL's catalog)."""
    rows = db.session.execute(
        text(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE c.relname = :name ORDER BY k.n"
        ),
        {"name": index},
    ).scalars()
    return list(rows)


def test_metrics_reads_each_projects_last_answer_from_an_index_led_by_project(answered):
    scans = answer_scans(lambda: list(ProjectCollector().collect()))
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        # searched by project, then read from the end of its range: not walked backwards past
        # every other project's newer answers (what an index led by finish_time does)
        assert key_columns(scan["Index Name"])[:2] == ["project_id", "finish_time"], scan
        assert "project_id" in scan.get("Index Cond", ""), scan


def test_the_schedulers_active_projects_are_read_from_an_index(answered):
    since = utcnow() - dt.timedelta(minutes=10)
    found: list[int] = []
    scans = answer_scans(lambda: found.extend(activity.projects_answered_since(since)))
    assert found == [answered[2]]
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        # the recent answers' range only
        assert key_columns(scan["Index Name"])[0] == "finish_time", scan
        assert "finish_time" in scan.get("Index Cond", ""), scan


def test_metrics_reads_open_tasks_from_the_kept_counts_not_the_task_table(answered):
    statements = sent(lambda: list(ProjectCollector().collect()))
    plans = [plan_of(*s) for s in statements]
    # a count of task rows is linear in the open tasks (a second at 5M): the triggers'
    # counts are read instead, by project
    assert [scan for plan in plans for scan in scans_of(plan, "task")] == []
    counts = [scan for plan in plans for scan in scans_of(plan, "task_count")]
    assert counts, "the open tasks are not read from task_count"
