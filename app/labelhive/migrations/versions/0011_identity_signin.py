"""sign-in through an identity provider: linked identities, used sign-in values, and the
"may create projects" role

Revision ID: 0011_identity_signin
Revises: 0010_task_reports
Create Date: 2026-12-06

Expand only: two new tables and ``users.can_create_projects`` (true, what every account may
do today); the previous release's code ignores all three.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_identity_signin"
down_revision = "0010_task_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("can_create_projects", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "user_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_identity_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_identity")),
        sa.UniqueConstraint(
            "source", "issuer", "subject", name=op.f("uq_user_identity_source_issuer_subject")
        ),
    )
    op.create_index(op.f("ix_user_identity_user_id"), "user_identity", ["user_id"])
    op.create_table(
        "used_signin_value",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_signin_value")),
    )
    op.create_index(op.f("ix_used_signin_value_created"), "used_signin_value", ["created"])


def downgrade() -> None:
    op.drop_index(op.f("ix_used_signin_value_created"), table_name="used_signin_value")
    op.drop_table("used_signin_value")
    op.drop_index(op.f("ix_user_identity_user_id"), table_name="user_identity")
    op.drop_table("user_identity")
    # not batch mode: SQLite >= 3.35 drops a column itself (see 0008)
    op.drop_column("users", "can_create_projects")
