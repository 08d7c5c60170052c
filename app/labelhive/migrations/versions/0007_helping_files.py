"""helping materials' files stored in the database: helping_chunk, and the file's type, size
and digest on helpingmaterial

Revision ID: 0007_helping_files
Revises: 0006_export_files
Create Date: 2026-12-01

Expand only: a new table and three nullable columns that the previous release's code ignores
(it still writes and serves files under UPLOAD_DIR), so the migration Job can run before the
new Pods replace the old ones. Files uploaded before this revision keep their rows but have no
bytes in the database (``size`` is null, the file answers 404) until
``labelhive helping import-files DIR`` copies them in from the old upload directory; the
migration does not read that directory itself, as the migration Job's Pod does not mount it.

The downgrade drops the stored bytes: the previous release serves only files on its disk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_helping_files"
down_revision = "0006_export_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("helpingmaterial") as batch:
        batch.add_column(sa.Column("content_type", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "helping_chunk",
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["helpingmaterial.id"],
            name=op.f("fk_helping_chunk_material_id_helpingmaterial"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("material_id", "seq", name=op.f("pk_helping_chunk")),
    )


def downgrade() -> None:
    op.drop_table("helping_chunk")
    with op.batch_alter_table("helpingmaterial") as batch:
        batch.drop_column("sha256")
        batch.drop_column("size")
        batch.drop_column("content_type")
