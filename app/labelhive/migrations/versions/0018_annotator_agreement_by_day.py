"""annotator agreement by day: each annotator's agreement with the consensus, day by day

Revision ID: 0018_annotator_agreement_by_day
Revises: 0017_oidc_refresh
Create Date: 2026-12-06

A JSON list of ``[day, answers, agreeing]`` on ``annotator_quality``, which the consensus job
fills (the results page's sparklines, the annotators API).

Expand only: one nullable column; the previous release's code neither reads nor writes it, and
a row it writes (NULL) reads as no history until the next recomputation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_annotator_agreement_by_day"
down_revision = "0017_oidc_refresh"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "annotator_quality",
        sa.Column(
            "agreement_by_day",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    # not batch mode: on SQLite that copies the table; SQLite 3.35+ drops an unindexed column
    # in place
    op.drop_column("annotator_quality", "agreement_by_day")
