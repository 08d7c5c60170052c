"""annotator exclusion: annotators whose answers an owner left out of a project's consensus

Revision ID: 0016_annotator_exclusion
Revises: 0015_answer_project_finish_index
Create Date: 2026-12-06

One row per (project, annotator) with who excluded them and when. The answers stay stored;
consensus stops reading them, and deleting the row includes them again.

Expand only: a new table, which the previous release ignores (its consensus keeps reading every
answer until the new workers run).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_annotator_exclusion"
down_revision = "0015_answer_project_finish_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotator_exclusion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("excluded_by", sa.Integer(), nullable=True),
        sa.Column("excluded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_annotator_exclusion_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_annotator_exclusion_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["excluded_by"],
            ["users.id"],
            name=op.f("fk_annotator_exclusion_excluded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotator_exclusion")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("uq_annotator_exclusion_project_id_user_id")
        ),
    )
    op.create_index("ix_annotator_exclusion_user_id", "annotator_exclusion", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_annotator_exclusion_user_id", table_name="annotator_exclusion")
    op.drop_table("annotator_exclusion")
