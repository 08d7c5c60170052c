"""project.archived: a project its owner has put away

Revision ID: 0009_project_archived
Revises: 0008_account_security
Create Date: 2026-12-15

Expand only: one column with a server default (false) that the previous release's code ignores.
An archived project is unpublished and listed apart on the home page; its tasks, answers and
results stay, and unarchiving makes it a draft again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_project_archived"
down_revision = "0008_account_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch mode: SQLite adds a column with a default in place
    op.add_column(
        "project",
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # not batch mode: on SQLite that copies "project", which other tables' rows refer to;
    # SQLite >= 3.35 drops columns itself
    op.drop_column("project", "archived")
