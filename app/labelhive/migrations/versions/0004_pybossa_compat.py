"""PYBOSSA compatibility: category and helpingmaterial tables, project.use_task_presenter

Revision ID: 0004_pybossa_compat
Revises: 0003
Create Date: 2026-11-28

Expand only: two new tables and a column with a server default, all ignored by the previous
release's code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_pybossa_compat"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("short_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category")),
        sa.UniqueConstraint("name", name=op.f("uq_category_name")),
        sa.UniqueConstraint("short_name", name=op.f("uq_category_short_name")),
    )
    op.create_table(
        "helpingmaterial",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("priority", sa.Double(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_helpingmaterial_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpingmaterial")),
    )
    op.create_index(
        op.f("ix_helpingmaterial_project_id"), "helpingmaterial", ["project_id"], unique=False
    )
    with op.batch_alter_table("project") as batch:
        batch.add_column(
            sa.Column("use_task_presenter", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.drop_column("use_task_presenter")
    op.drop_index(op.f("ix_helpingmaterial_project_id"), table_name="helpingmaterial")
    op.drop_table("helpingmaterial")
    op.drop_table("category")
