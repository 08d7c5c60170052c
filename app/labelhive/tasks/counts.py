"""Each project's task counts, kept by triggers (migration 0019): its tasks, and its open tasks
(ongoing, not gold).

A count is the sum of the project's :class:`~labelhive.tasks.models.TaskCount` rows. On
PostgreSQL every change adds a row, so the rows grow with the work done; :func:`fold`, run by the
lease sweep every 30 seconds, replaces each project's rows by their sums, so a read sums a
handful of rows whatever the project's size.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelhive.tasks.models import TaskCount

# one statement, so a read sees either the rows or their sums; rows that concurrent
# transactions add meanwhile are not visible to it, and stay for the next fold
_FOLD = sa.text(
    """
    WITH orphans AS (
        DELETE FROM task_count c
        WHERE NOT EXISTS (SELECT 1 FROM project p WHERE p.id = c.project_id)
        RETURNING 1
    ), several AS (
        SELECT c.project_id FROM task_count c JOIN project p ON p.id = c.project_id
        GROUP BY c.project_id HAVING count(*) > 1
    ), folded AS (
        DELETE FROM task_count
        WHERE project_id IN (SELECT project_id FROM several)
        RETURNING project_id, tasks, open_tasks
    ), summed AS (
        INSERT INTO task_count (project_id, tasks, open_tasks)
        SELECT project_id, sum(tasks), sum(open_tasks) FROM folded GROUP BY project_id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM orphans) + (SELECT count(*) FROM folded)
        - (SELECT count(*) FROM summed)
    """
)
_ORPHANS = sa.text("DELETE FROM task_count WHERE project_id NOT IN (SELECT id FROM project)")


def fold(conn: Connection) -> int:
    """Replace each project's rows by one holding their sums, and delete the rows of deleted
    projects; the number of rows gone.

    Only PostgreSQL's triggers add rows; SQLite's keep one per project, so there it only deletes
    those of deleted projects.
    """
    if conn.dialect.name != "postgresql":
        return int(conn.execute(_ORPHANS).rowcount or 0)
    return int(conn.scalar(_FOLD) or 0)


def _sum_of(column: Any, project_id: Any) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(column), 0))
        .where(TaskCount.project_id == project_id)
        .scalar_subquery()
    )


def open_tasks_of(project_id: Any) -> sa.ScalarSelect[int]:
    """The open tasks of ``project_id`` (a column or a value), as a scalar subquery."""
    return _sum_of(TaskCount.open_tasks, project_id)


def tasks_of(project_id: Any) -> sa.ScalarSelect[int]:
    """All the tasks of ``project_id`` (a column or a value), as a scalar subquery."""
    return _sum_of(TaskCount.tasks, project_id)
