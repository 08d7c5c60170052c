"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Every migration must work with the previous release's code (expand now, contract a release later):
the migration Job runs before the new web and worker Pods replace the old ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
OPEN = "state = 'ongoing' AND gold_answer IS NULL AND n_done + n_reserved < n_answers"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("fullname", sa.String(length=200), nullable=False),
        sa.Column("email_addr", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("api_key", name=op.f("uq_users_api_key")),
        sa.UniqueConstraint("email_addr", name=op.f("uq_users_email_addr")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("short_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("long_description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("default_n_answers", sa.Integer(), nullable=False),
        sa.Column("lease_ttl", sa.Integer(), nullable=False),
        sa.Column("ordering", sa.String(length=16), nullable=False),
        sa.Column("gold_rate", sa.Double(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("webhook", sa.Text(), nullable=True),
        sa.Column("allow_anonymous_contributors", sa.Boolean(), nullable=False),
        sa.Column("featured", sa.Boolean(), nullable=False),
        sa.Column("zip_download", sa.Boolean(), nullable=False),
        sa.Column("contacted", sa.Boolean(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("secret_key", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "default_n_answers >= 1", name=op.f("ck_project_default_n_answers_positive")
        ),
        sa.CheckConstraint(
            "gold_rate >= 0 AND gold_rate <= 1", name=op.f("ck_project_gold_rate_range")
        ),
        sa.CheckConstraint("lease_ttl >= 10", name=op.f("ck_project_lease_ttl_min")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_project_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
        sa.UniqueConstraint("short_name", name=op.f("uq_project_short_name")),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.Column("priority_0", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gold_answer", sa.Text(), nullable=True),
        sa.Column("calibration", sa.Integer(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("n_done", sa.Integer(), nullable=False),
        sa.Column("n_reserved", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.CheckConstraint("n_answers >= 1", name=op.f("ck_task_n_answers_positive")),
        sa.CheckConstraint(
            "n_done >= 0 AND n_reserved >= 0", name=op.f("ck_task_counters_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_task_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_gold",
            ["project_id", "id"],
            unique=False,
            postgresql_where=sa.text("gold_answer IS NOT NULL"),
            sqlite_where=sa.text("gold_answer IS NOT NULL"),
        )
        batch_op.create_index("ix_task_project_id_id", ["project_id", "id"], unique=False)
    # the claim query walks one of these in order and stops at the first unlocked row
    for name, filled in (
        ("ix_task_open_depth_first", "(n_done + n_reserved) DESC"),
        ("ix_task_open_breadth_first", "(n_done + n_reserved)"),
    ):
        op.create_index(
            name,
            "task",
            ["project_id", sa.text("priority_0 DESC"), sa.text(filled), "id"],
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )

    op.create_table(
        "answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("finish_time", sa.DateTime(), nullable=False),
        sa.Column("user_ip", sa.String(length=64), nullable=True),
        sa.Column("external_uid", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_answer_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_answer_task_id_task"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_answer_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer")),
        sa.UniqueConstraint("task_id", "user_id", name=op.f("uq_answer_task_id_user_id")),
    )
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.create_index("ix_answer_project_id_id", ["project_id", "id"], unique=False)
        batch_op.create_index("ix_answer_user_project", ["user_id", "project_id"], unique=False)

    op.create_table(
        "lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_lease_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_lease_task_id_task"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lease_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lease")),
        sa.UniqueConstraint("task_id", "user_id", name=op.f("uq_lease_task_id_user_id")),
    )
    with op.batch_alter_table("lease", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lease_project_expires", ["project_id", "expires_at"], unique=False
        )
        batch_op.create_index("ix_lease_user_project", ["user_id", "project_id"], unique=False)

    op.create_table(
        "result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("task_run_ids", JSON, nullable=False),
        sa.Column("info", JSON, nullable=True),
        sa.Column("last_version", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_result_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_result_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result")),
    )
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.create_index("ix_result_project_id_id", ["project_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_result_task_id"), ["task_id"], unique=False)

    op.create_table(
        "skip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_skip_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_skip_task_id_task"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_skip_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skip")),
        sa.UniqueConstraint("task_id", "user_id", name=op.f("uq_skip_task_id_user_id")),
    )
    with op.batch_alter_table("skip", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skip_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("skip", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skip_user_id"))

    op.drop_table("skip")
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_task_id"))
        batch_op.drop_index("ix_result_project_id_id")

    op.drop_table("result")
    with op.batch_alter_table("lease", schema=None) as batch_op:
        batch_op.drop_index("ix_lease_user_project")
        batch_op.drop_index("ix_lease_project_expires")

    op.drop_table("lease")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_user_project")
        batch_op.drop_index("ix_answer_project_id_id")

    op.drop_table("answer")
    op.drop_index("ix_task_open_breadth_first", table_name="task")
    op.drop_index("ix_task_open_depth_first", table_name="task")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_project_id_id")
        batch_op.drop_index(
            "ix_task_gold",
            postgresql_where=sa.text("gold_answer IS NOT NULL"),
            sqlite_where=sa.text("gold_answer IS NOT NULL"),
        )

    op.drop_table("task")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_owner_id"))

    op.drop_table("project")
    op.drop_table("users")
