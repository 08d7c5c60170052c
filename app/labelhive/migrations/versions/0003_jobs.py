"""background jobs: job_record table, task.import_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Expand only: a new table and a nullable column with its index, both ignored by the previous
release's code, so the migration Job can run before the new Pods replace the old ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job_record",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("func", sa.String(length=128), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("queue", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_job_record_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_job_record_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_record")),
    )
    op.create_index("ix_job_record_project_created", "job_record", ["project_id", "created"])
    op.create_index("ix_job_record_status_updated", "job_record", ["status", "updated"])
    op.add_column("task", sa.Column("import_id", sa.String(length=96), nullable=True))
    op.create_index(op.f("ix_task_import_id"), "task", ["import_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_task_import_id"), table_name="task")
    # not batch mode: on SQLite that copies the table and loses its expression indexes;
    # SQLite 3.35+ drops an unindexed column in place
    op.drop_column("task", "import_id")
    op.drop_index("ix_job_record_status_updated", table_name="job_record")
    op.drop_index("ix_job_record_project_created", table_name="job_record")
    op.drop_table("job_record")
