"""A problem an annotator reported with a task (one report per task and user)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow

MAX_PROBLEM = 500


class TaskReport(Base):
    __tablename__ = "task_report"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        # the owner's list: a project's reports, newest first
        Index("ix_task_report_project_id_id", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    problem: Mapped[str] = mapped_column(String(MAX_PROBLEM))
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
