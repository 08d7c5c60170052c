"""Labeling projects."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import false
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType

ORDERINGS = ("depth_first", "breadth_first", "random")


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint("default_n_answers >= 1", name="default_n_answers_positive"),
        CheckConstraint("lease_ttl >= 10", name="lease_ttl_min"),
        CheckConstraint("gold_rate >= 0 AND gold_rate <= 1", name="gold_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    short_name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    long_description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # info.question, info.answers (list of strings), info.instructions, info.task_presenter ...
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    default_n_answers: Mapped[int] = mapped_column(default=3)
    lease_ttl: Mapped[int] = mapped_column(default=600)
    ordering: Mapped[str] = mapped_column(String(16), default="depth_first")
    gold_rate: Mapped[float] = mapped_column(default=0.0)
    published: Mapped[bool] = mapped_column(default=False)
    # put away by its owner: unpublished, listed apart; unarchiving makes it a draft again
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    # PYBOSSA's columns, kept so its clients can echo a project back unchanged
    webhook: Mapped[str | None] = mapped_column(Text)
    allow_anonymous_contributors: Mapped[bool] = mapped_column(default=False)
    featured: Mapped[bool] = mapped_column(default=False)
    zip_download: Mapped[bool] = mapped_column(default=True)
    contacted: Mapped[bool] = mapped_column(default=False)
    category_id: Mapped[int | None] = mapped_column()
    # render info.task_presenter (owner-written HTML) in a sandboxed frame instead of the
    # built-in labeling page
    use_task_presenter: Mapped[bool] = mapped_column(default=False)
    # consensus: which label the dataset gets, and whether gold anchors Dawid-Skene
    consensus_method: Mapped[str] = mapped_column(String(32), default="dawid_skene")
    consensus_use_gold: Mapped[bool] = mapped_column(default=True)
    # adaptive redundancy: a completed task whose agreement is below the threshold gets one
    # more annotator, up to adaptive_max_answers
    adaptive_redundancy: Mapped[bool] = mapped_column(default=False)
    adaptive_threshold: Mapped[float] = mapped_column(default=0.7)
    adaptive_max_answers: Mapped[int] = mapped_column(default=5)
    # review: a complete item whose consensus confidence is below this needs review
    review_threshold: Mapped[float] = mapped_column(default=0.6, server_default="0.6")
    secret_key: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def question(self) -> str:
        return str((self.info or {}).get("question") or "")

    @property
    def answer_options(self) -> list[str]:
        options = (self.info or {}).get("answers")
        return [str(o) for o in options] if isinstance(options, list) else []

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.short_name!r}>"
