"""task_report: problems annotators report with a task (its image failed to load)

Revision ID: 0010_task_reports
Revises: 0009_project_archived
Create Date: 2026-12-06

Expand only: a new table the previous release ignores, so the migration Job can run before the
new Pods replace the old ones. The downgrade drops the reports.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_task_reports"
down_revision = "0009_project_archived"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("problem", sa.String(length=500), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_task_report_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_task_report_task_id_task"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_report_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_report")),
        sa.UniqueConstraint("task_id", "user_id", name=op.f("uq_task_report_task_id_user_id")),
    )
    op.create_index("ix_task_report_project_id_id", "task_report", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_report_project_id_id", table_name="task_report")
    op.drop_table("task_report")
