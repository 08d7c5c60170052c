"""OpenID refresh tokens, sealed, on linked identities (the recheck of leavers)

Revision ID: 0017_oidc_refresh
Revises: 0016_annotator_exclusion
Create Date: 2026-12-06

Expand only: one nullable column; the previous release's code neither reads nor writes it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_oidc_refresh"
down_revision = "0016_annotator_exclusion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_identity", sa.Column("refresh_token", sa.Text(), nullable=True))


def downgrade() -> None:
    # not batch mode: on SQLite that copies the table; SQLite 3.35+ drops an unindexed column
    # in place
    op.drop_column("user_identity", "refresh_token")
