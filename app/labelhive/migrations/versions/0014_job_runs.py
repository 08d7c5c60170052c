"""job records: why each run happened, a pending follow-up, one queued consensus per project

Revision ID: 0014_job_runs
Revises: 0013_review
Create Date: 2026-12-06

- ``job_record.runs``: a list of ``{"at", "reason"}``, one per time the job was asked for or
  enqueued again (a merged request, the scheduler re-running a lost job);
- ``job_record.follow_up``: the reason for one more run, set while the job runs (a consensus
  asked for while it computes): the job enqueues that one run when it ends;
- a partial unique index: at most one ``queued`` consensus record per project, so two requests
  that race merge in the database.

Expand only: the previous release ignores the columns. A project that has several queued
consensus records (the previous release allowed it) keeps one; the others are marked
finished and merged, as they would now be.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labelhive.types import JSONType

revision = "0014_job_runs"
down_revision = "0013_review"
branch_labels = None
depends_on = None

INDEX = "ux_job_record_consensus_queued"
WHERE = "kind = 'consensus' AND status = 'queued' AND project_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("job_record") as batch:
        batch.add_column(sa.Column("runs", JSONType, nullable=True))
        batch.add_column(sa.Column("follow_up", sa.Text(), nullable=True))
    op.execute(
        "UPDATE job_record SET status = 'finished', error = NULL,"
        " result = '{\"merged\": true}'"
        f" WHERE {WHERE} AND id NOT IN (SELECT min(id) FROM job_record WHERE {WHERE}"
        " GROUP BY project_id)"
    )
    op.create_index(
        INDEX,
        "job_record",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, "job_record")
    # SQLite rebuilds the table: reflect it without following its foreign keys into users,
    # whose expression index SQLAlchemy cannot reflect (and would warn about)
    with op.batch_alter_table("job_record", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.drop_column("follow_up")
        batch.drop_column("runs")
