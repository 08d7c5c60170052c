"""Tasks (one item to label, usually an image) and leases (who is working on which task)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType

# a task can still be handed out: not complete, not gold, room left after answers and leases
OPEN_PREDICATE = "state = 'ongoing' AND gold_answer IS NULL AND n_done + n_reserved < n_answers"


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        CheckConstraint("n_answers >= 1", name="n_answers_positive"),
        CheckConstraint("n_done >= 0 AND n_reserved >= 0", name="counters_non_negative"),
        # the claim query walks one of these in order and stops at the first unlocked row
        Index(
            "ix_task_open_depth_first",
            "project_id",
            text("priority_0 DESC"),
            text("(n_done + n_reserved) DESC"),
            "id",
            postgresql_where=text(OPEN_PREDICATE),
            sqlite_where=text(OPEN_PREDICATE),
        ),
        Index(
            "ix_task_open_breadth_first",
            "project_id",
            text("priority_0 DESC"),
            text("(n_done + n_reserved)"),
            "id",
            postgresql_where=text(OPEN_PREDICATE),
            sqlite_where=text(OPEN_PREDICATE),
        ),
        # exports and API lists walk a project's tasks in id order
        Index("ix_task_project_id_id", "project_id", "id"),
        Index(
            "ix_task_gold",
            "project_id",
            "id",
            postgresql_where=text("gold_answer IS NOT NULL"),
            sqlite_where=text("gold_answer IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    n_answers: Mapped[int] = mapped_column(default=3)
    priority_0: Mapped[float] = mapped_column(default=0.0)
    state: Mapped[str] = mapped_column(String(16), default="ongoing")
    # the known answer of a gold task; never shown to annotators, never counts towards redundancy
    gold_answer: Mapped[str | None] = mapped_column(Text)
    calibration: Mapped[int] = mapped_column(default=0)
    quorum: Mapped[int] = mapped_column(default=0)
    # counters kept by the claim/submit engine under the task's row lock
    n_done: Mapped[int] = mapped_column(default=0)
    n_reserved: Mapped[int] = mapped_column(default=0)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the import job that created the task: a retried import counts what it already inserted
    import_id: Mapped[str | None] = mapped_column(String(96), index=True)

    def __repr__(self) -> str:
        return f"<Task {self.id} project={self.project_id} {self.n_done}/{self.n_answers}>"


class Lease(Base):
    """A user's reservation of one answer slot of a task, until ``expires_at``.

    A lease keeps its slot until it is deleted (by submit, release, or the sweep), so the
    counters stay exact; claims sweep their project's expired leases first, so expired leases
    never block a claim.
    """

    __tablename__ = "lease"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        Index("ix_lease_project_expires", "project_id", "expires_at"),
        Index("ix_lease_user_project", "user_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class Skip(Base):
    """A task a user chose to skip: not offered to them again while others remain."""

    __tablename__ = "skip"
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskCount(Base):
    """A part of a project's task counts; the sums of a project's rows are the counts.

    ``tasks`` counts all of the project's tasks (the labeling page's "of N"), ``open_tasks``
    those ongoing and not gold (``/metrics``' ``labelhive_project_open_tasks``). Counting rows
    takes time linear in them (a second at 5M), so database triggers (migration 0019) keep the
    counts as tasks are inserted, deleted, completed, reopened or made gold. On PostgreSQL each
    change adds a row (an insert takes no lock that another writer waits for) and the lease
    sweep folds a project's rows into one (:func:`labelhive.tasks.counts.fold`); on SQLite, a
    single writer, the triggers keep one row per project. Rows are only read by project.
    """

    __tablename__ = "task_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign key: a project's deletion would wait on the fold's rows while the fold's
    # insert waited on the project; the fold deletes the rows of deleted projects instead
    project_id: Mapped[int] = mapped_column(index=True)
    tasks: Mapped[int] = mapped_column()
    open_tasks: Mapped[int] = mapped_column()
