"""Answers: one annotator's answer to one task (PYBOSSA's "task run")."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (
        # the database, not a check-then-insert, guarantees one answer per (task, user)
        UniqueConstraint("task_id", "user_id"),
        Index("ix_answer_project_id_id", "project_id", "id"),
        Index("ix_answer_user_project", "user_id", "project_id"),
        # the scheduler's "projects answered since" (labelhive.answers.activity)
        Index("ix_answer_finish_time_project_id", "finish_time", "project_id"),
        # each project's last answer (/metrics, labelhive.projects.monitoring)
        Index("ix_answer_project_id_finish_time", "project_id", "finish_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    info: Mapped[Any] = mapped_column(JSONType)
    # when the task was handed out (PYBOSSA's ``created``) and when the answer arrived
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_ip: Mapped[str | None] = mapped_column(String(64))
    external_uid: Mapped[str | None] = mapped_column(String(255))
