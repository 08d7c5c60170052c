"""export files stored in the database: export_file and export_chunk

Revision ID: 0006_export_files
Revises: 0005_consensus
Create Date: 2026-11-28

Expand only: two new tables that the previous release's code ignores (it still reads and
writes EXPORT_DIR), so the migration Job can run before the new Pods replace the old ones.
Exports finished by the previous release are not carried over: they are rebuilt on request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_export_files"
down_revision = "0005_consensus"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["job_record.id"],
            name=op.f("fk_export_file_job_id_job_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_export_file_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_file")),
    )
    op.create_index("ix_export_file_job_id", "export_file", ["job_id"])
    op.create_index("ix_export_file_created", "export_file", ["created"])
    op.create_table(
        "export_chunk",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["export_file.id"],
            name=op.f("fk_export_chunk_file_id_export_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "seq", name=op.f("pk_export_chunk")),
    )


def downgrade() -> None:
    op.drop_table("export_chunk")
    op.drop_index("ix_export_file_created", table_name="export_file")
    op.drop_index("ix_export_file_job_id", table_name="export_file")
    op.drop_table("export_file")
