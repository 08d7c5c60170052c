"""Categories (a label for grouping projects) and helping materials (files or links that
explain a project to its annotators), in PYBOSSA's shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import ForeignKey
from sqlalchemy import LargeBinary
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
    # an uploaded file's stored name, the last part of its address /helping/<project>/<name>
    # (never a path); its bytes are HelpingChunk rows, described by the three columns below
    file_name: Mapped[str | None] = mapped_column(String(255))
    # null for a link, and for a file uploaded before 0007 whose bytes are still on disk
    # (``labelhive helping import-files`` copies them in)
    content_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[float] = mapped_column(default=0.0)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<HelpingMaterial {self.id} project={self.project_id}>"


class HelpingChunk(Base):
    """One piece of an uploaded helping material's bytes; ``seq`` counts from 0.

    A sibling of :class:`~labelhive.jobs.models.ExportChunk` rather than a use of it: export
    files belong to a job, expire and are written chunk by chunk in transactions of their
    own, while a helping material lives as long as its row and is written whole in the
    upload request's transaction. Deleting the material (or its project) deletes its chunks.
    """

    __tablename__ = "helping_chunk"

    material_id: Mapped[int] = mapped_column(
        ForeignKey("helpingmaterial.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
