"""answers by submit time: an index for the scheduler's "projects answered since"

Revision ID: 0012_answer_finish_time_index
Revises: 0011_identity_signin
Create Date: 2026-12-06

The scheduler asks every few seconds which projects received answers recently. It read
``answer.created`` (when the task was handed out, with no index: a full scan, 200-250 ms at 2M
answers); it now reads ``finish_time`` (when the answer arrived) through this index, which also
holds ``project_id`` so the scan stays in the index. Additive: the previous release ignores it.

Built in the migration's transaction (lock and statement timeouts from ``env.py``): on
PostgreSQL it holds answer writes back while it builds, a few seconds at 2M answers.
"""

from __future__ import annotations

from alembic import op

revision = "0012_answer_finish_time_index"
down_revision = "0011_identity_signin"
branch_labels = None
depends_on = None

NAME = "ix_answer_finish_time_project_id"


def upgrade() -> None:
    op.create_index(NAME, "answer", ["finish_time", "project_id"])


def downgrade() -> None:
    op.drop_index(NAME, "answer")
