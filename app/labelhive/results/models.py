"""Results: written when a task has all its answers (PYBOSSA's ``result``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType


class Result(Base):
    __tablename__ = "result"
    __table_args__ = (Index("ix_result_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    task_run_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    info: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    last_version: Mapped[bool] = mapped_column(default=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
