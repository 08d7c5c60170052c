"""task counts kept by triggers: each project's tasks and open tasks read in O(1)

Revision ID: 0019_task_count
Revises: 0018_annotator_agreement_by_day
Create Date: 2026-12-06

Two counts were taken by counting task rows: ``/metrics``' open tasks (ongoing, not gold) on
every scrape, and the labeling page's "of N tasks" on every answer. Both are index-only but
linear: a second at 5M open tasks, about as much at 10M tasks. The table ``task_count`` holds
parts of each project's two counts, whose sums are the counts, and triggers on ``task`` keep
it:

- PostgreSQL: a statement trigger for inserts and deletes (one row per statement and project,
  so a COPY of 10M tasks adds one row, not 10M), and a row trigger for updates that change
  whether a task is open (completion, undo, redundancy, gold). Each adds a row rather than
  updating one, so concurrent submits, imports and deletes never wait on each other's count;
  the lease sweep folds each project's rows into one and deletes those of deleted projects
  (no foreign key: a project's deletion cascading to rows the fold holds, while the fold's
  insert checked the project, would deadlock).
- SQLite (one writer): row triggers that update the project's single row.

The triggers are created before the counts are taken, in the migration's transaction: on
PostgreSQL ``CREATE TRIGGER`` holds task writes back until the commit, so no change falls
between the count and the triggers. Expand only: the previous release neither reads nor writes
the table, and its writes are counted by the triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_task_count"
down_revision = "0018_annotator_agreement_by_day"
branch_labels = None
depends_on = None

OPEN_OLD = "(OLD.state = 'ongoing' AND OLD.gold_answer IS NULL)"
OPEN_NEW = "(NEW.state = 'ongoing' AND NEW.gold_answer IS NULL)"
OPEN_T = "(t.state = 'ongoing' AND t.gold_answer IS NULL)"

PG_UP = (
    # inserts and deletes: one row per statement and project, from the transition table; a
    # delete cascaded from its project's deletion finds no project and adds nothing
    f"""
    CREATE FUNCTION task_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO task_count (project_id, tasks, open_tasks)
        SELECT t.project_id, count(*), count(*) FILTER (WHERE {OPEN_T})
        FROM inserted_tasks t GROUP BY t.project_id;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION task_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO task_count (project_id, tasks, open_tasks)
        SELECT t.project_id, -count(*), -count(*) FILTER (WHERE {OPEN_T})
        FROM deleted_tasks t JOIN project p ON p.id = t.project_id
        GROUP BY t.project_id;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION task_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO task_count (project_id, tasks, open_tasks)
        VALUES (NEW.project_id, 0, CASE WHEN {OPEN_NEW} THEN 1 ELSE -1 END);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER task_count_insert AFTER INSERT ON task
    REFERENCING NEW TABLE AS inserted_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_count_inserted()
    """,
    """
    CREATE TRIGGER task_count_delete AFTER DELETE ON task
    REFERENCING OLD TABLE AS deleted_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_count_deleted()
    """,
    # a claim or a lease change updates other columns: the trigger is not even considered
    f"""
    CREATE TRIGGER task_count_update AFTER UPDATE OF state, gold_answer ON task
    FOR EACH ROW WHEN ({OPEN_OLD} IS DISTINCT FROM {OPEN_NEW})
    EXECUTE FUNCTION task_count_updated()
    """,
)

PG_DOWN = (
    "DROP TRIGGER task_count_update ON task",
    "DROP TRIGGER task_count_delete ON task",
    "DROP TRIGGER task_count_insert ON task",
    "DROP FUNCTION task_count_updated()",
    "DROP FUNCTION task_count_deleted()",
    "DROP FUNCTION task_count_inserted()",
)


def _sqlite_add(project: str, tasks: str, open_tasks: str) -> str:
    """Add to the project's one row, creating it if the project still exists."""
    return f"""
        UPDATE task_count SET tasks = tasks + {tasks}, open_tasks = open_tasks + {open_tasks}
        WHERE id = (SELECT min(id) FROM task_count WHERE project_id = {project});
        INSERT INTO task_count (project_id, tasks, open_tasks)
        SELECT {project}, {tasks}, {open_tasks}
        WHERE NOT EXISTS (SELECT 1 FROM task_count WHERE project_id = {project})
        AND EXISTS (SELECT 1 FROM project WHERE id = {project});
    """


SQLITE_UP = (
    f"""
    CREATE TRIGGER task_count_insert AFTER INSERT ON task
    BEGIN {_sqlite_add("NEW.project_id", "1", f"{OPEN_NEW}")} END
    """,
    f"""
    CREATE TRIGGER task_count_delete AFTER DELETE ON task
    BEGIN {_sqlite_add("OLD.project_id", "-1", f"-{OPEN_OLD}")} END
    """,
    f"""
    CREATE TRIGGER task_count_update AFTER UPDATE OF state, gold_answer ON task
    WHEN {OPEN_OLD} IS NOT {OPEN_NEW}
    BEGIN {_sqlite_add("NEW.project_id", "0", f"CASE WHEN {OPEN_NEW} THEN 1 ELSE -1 END")} END
    """,
)

SQLITE_DOWN = (
    "DROP TRIGGER task_count_update",
    "DROP TRIGGER task_count_delete",
    "DROP TRIGGER task_count_insert",
)


def upgrade() -> None:
    op.create_table(
        "task_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("open_tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_count")),
    )
    op.create_index(op.f("ix_task_count_project_id"), "task_count", ["project_id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_UP if postgres else SQLITE_UP:
        op.execute(statement)
    op.execute(
        "INSERT INTO task_count (project_id, tasks, open_tasks) "
        "SELECT project_id, count(*), "
        "sum(CASE WHEN state = 'ongoing' AND gold_answer IS NULL THEN 1 ELSE 0 END) "
        "FROM task GROUP BY project_id"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index(op.f("ix_task_count_project_id"), "task_count")
    op.drop_table("task_count")
