"""Consensus: stored labels, annotator quality, project figures; consensus and adaptive settings

Revision ID: 0005_consensus
Revises: 0004_pybossa_compat
Create Date: 2026-11-29

Expand only: three new tables, and project columns with server defaults that the previous
release's code ignores.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_consensus"
down_revision = "0004_pybossa_compat"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["project.id"],
        name=op.f(f"fk_{table}_project_id_project"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "consensus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("votes", JSON, nullable=False),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.Column("agreement", sa.Double(), nullable=False),
        sa.Column("mv_label", sa.Text(), nullable=True),
        sa.Column("posterior", JSON, nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        _project_fk("consensus"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_consensus_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consensus")),
        sa.UniqueConstraint("task_id", name=op.f("uq_consensus_task_id")),
    )
    op.create_index(
        "ix_consensus_project_id_task_id", "consensus", ["project_id", "task_id"], unique=False
    )
    op.create_table(
        "annotator_quality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.Column("gold_seen", sa.Integer(), nullable=False),
        sa.Column("gold_correct", sa.Integer(), nullable=False),
        sa.Column("gold_accuracy", sa.Double(), nullable=True),
        sa.Column("agreement_with_consensus", sa.Double(), nullable=True),
        sa.Column("confusion", JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        _project_fk("annotator_quality"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_annotator_quality_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotator_quality")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("uq_annotator_quality_project_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_annotator_quality_user_id"), "annotator_quality", ["user_id"], unique=False
    )
    op.create_table(
        "consensus_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.Column("last_answer_id", sa.Integer(), nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        _project_fk("consensus_run"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consensus_run")),
        sa.UniqueConstraint("project_id", name=op.f("uq_consensus_run_project_id")),
    )
    with op.batch_alter_table("project") as batch:
        batch.add_column(
            sa.Column(
                "consensus_method",
                sa.String(length=32),
                nullable=False,
                server_default="dawid_skene",
            )
        )
        batch.add_column(
            sa.Column("consensus_use_gold", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column(
                "adaptive_redundancy", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("adaptive_threshold", sa.Double(), nullable=False, server_default="0.7")
        )
        batch.add_column(
            sa.Column("adaptive_max_answers", sa.Integer(), nullable=False, server_default="5")
        )


def downgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.drop_column("adaptive_max_answers")
        batch.drop_column("adaptive_threshold")
        batch.drop_column("adaptive_redundancy")
        batch.drop_column("consensus_use_gold")
        batch.drop_column("consensus_method")
    op.drop_table("consensus_run")
    op.drop_index(op.f("ix_annotator_quality_user_id"), table_name="annotator_quality")
    op.drop_table("annotator_quality")
    op.drop_index("ix_consensus_project_id_task_id", table_name="consensus")
    op.drop_table("consensus")
