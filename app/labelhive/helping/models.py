"""Categories (a label for grouping projects) and helping materials (files or links that
explain a project to its annotators), in PYBOSSA's shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    short_name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Category {self.id} {self.short_name!r}>"


class HelpingMaterial(Base):
    __tablename__ = "helpingmaterial"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # a link the owner gave, or the served path of an uploaded file
    media_url: Mapped[str | None] = mapped_column(Text)
    # the stored file's name under UPLOAD_DIR/helpingmaterial/<project_id>/ (never a path)
    file_name: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[float] = mapped_column(default=0.0)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<HelpingMaterial {self.id} project={self.project_id}>"
