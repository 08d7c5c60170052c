"""review: review states on consensus rows, a project's confidence threshold, reviewers

Revision ID: 0013_review
Revises: 0012_answer_finish_time_index
Create Date: 2026-12-06

Expand only: new columns with server defaults and a new table, which the previous release
ignores, so the migration Job can run before the new Pods replace the old ones.

- ``consensus``: ``tie`` (the most voted options are level), ``review_state`` (``none``,
  ``needs_review``, ``reviewed``, ``sent_back``), and who reviewed the item and when; indexes
  for the review queue and the results browser's filters (state, label);
- ``project.review_threshold``: items whose consensus confidence is below it need review;
- ``project_reviewer``: the users an owner made reviewers of a project.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_review"
down_revision = "0012_answer_finish_time_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch mode for "project": on SQLite that would copy the table other rows refer to
    op.add_column(
        "project",
        sa.Column("review_threshold", sa.Double(), nullable=False, server_default="0.6"),
    )
    op.add_column(
        "consensus", sa.Column("tie", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "consensus",
        sa.Column("review_state", sa.String(length=16), nullable=False, server_default="none"),
    )
    op.add_column("consensus", sa.Column("reviewed_at", sa.DateTime(), nullable=True))
    # SQLite adds a named foreign key only by copying the table (batch mode); referred tables
    # are not reflected on the way (their expression indexes would only warn)
    with op.batch_alter_table("consensus", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_consensus_reviewed_by_users"),
            "users",
            ["reviewed_by"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ix_consensus_project_id_review_state_task_id",
        "consensus",
        ["project_id", "review_state", "task_id"],
    )
    op.create_index(
        "ix_consensus_project_id_label_task_id", "consensus", ["project_id", "label", "task_id"]
    )
    op.create_table(
        "project_reviewer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_reviewer_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_project_reviewer_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"],
            ["users.id"],
            name=op.f("fk_project_reviewer_granted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_reviewer")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("uq_project_reviewer_project_id_user_id")
        ),
    )
    op.create_index("ix_project_reviewer_user_id", "project_reviewer", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_project_reviewer_user_id", table_name="project_reviewer")
    op.drop_table("project_reviewer")
    op.drop_index("ix_consensus_project_id_label_task_id", table_name="consensus")
    op.drop_index("ix_consensus_project_id_review_state_task_id", table_name="consensus")
    with op.batch_alter_table("consensus", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.drop_constraint(op.f("fk_consensus_reviewed_by_users"), type_="foreignkey")
        for column in ("reviewed_by", "reviewed_at", "review_state", "tie"):
            batch.drop_column(column)
    op.drop_column("project", "review_threshold")
