"""answers by project and submit time: an index for each project's last answer

Revision ID: 0015_answer_project_finish_index
Revises: 0014_job_runs
Create Date: 2026-12-06

``/metrics`` reads, on every scrape, each published project's last answer
(``max(finish_time) WHERE project_id = ?``). The index of 0012 leads with ``finish_time``: it
serves the scheduler's "projects answered since" (a range of recent answers), but for one
project's maximum PostgreSQL walks it backwards past every other project's newer answers, all
of them for a project that went quiet. Led by ``project_id``, this one answers each project's
maximum from the end of its own range. Additive: the previous release ignores it.

Built in the migration's transaction (lock and statement timeouts from ``env.py``): on
PostgreSQL it holds answer writes back while it builds, a few seconds at 2M answers.
"""

from __future__ import annotations

from alembic import op

revision = "0015_answer_project_finish_index"
down_revision = "0014_job_runs"
branch_labels = None
depends_on = None

NAME = "ix_answer_project_id_finish_time"


def upgrade() -> None:
    op.create_index(NAME, "answer", ["project_id", "finish_time"])


def downgrade() -> None:
    op.drop_index(NAME, "answer")
