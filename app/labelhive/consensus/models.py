"""Results: written when a task has all its answers (PYBOSSA's ``result``), and the stored
consensus (labels, annotator quality, project figures) that recomputation writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import false
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


class Consensus(Base):
    """One item's consensus label, as the last recomputation left it (one row per task)."""

    __tablename__ = "consensus"
    __table_args__ = (
        UniqueConstraint("task_id"),
        Index("ix_consensus_project_id_task_id", "project_id", "task_id"),
        # the review queue and the results browser's filters (labelhive.review)
        Index(
            "ix_consensus_project_id_review_state_task_id", "project_id", "review_state", "task_id"
        ),
        Index("ix_consensus_project_id_label_task_id", "project_id", "label", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(Text)
    # the posterior's maximum (Dawid-Skene), the agreement (majority vote), 1 for gold
    confidence: Mapped[float] = mapped_column(default=0.0)
    method: Mapped[str] = mapped_column(String(32))
    votes: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    n_answers: Mapped[int] = mapped_column(default=0)
    agreement: Mapped[float] = mapped_column(default=0.0)
    mv_label: Mapped[str | None] = mapped_column(Text)
    posterior: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    gold: Mapped[bool] = mapped_column(default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # review (labelhive.review): the most voted options are level; none / needs_review /
    # reviewed / sent_back; a reviewed row's label is the reviewer's (method "reviewed")
    tie: Mapped[bool] = mapped_column(default=False, server_default=false())
    review_state: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column()


class AnnotatorQuality(Base):
    """One annotator's quality in one project, as the last recomputation measured it."""

    __tablename__ = "annotator_quality"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    n_answers: Mapped[int] = mapped_column(default=0)
    gold_seen: Mapped[int] = mapped_column(default=0)
    gold_correct: Mapped[int] = mapped_column(default=0)
    gold_accuracy: Mapped[float | None] = mapped_column()
    agreement_with_consensus: Mapped[float | None] = mapped_column()
    # Dawid-Skene's estimate: confusion[true][answered] = P(answered | true)
    confusion: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # [day (ISO, UTC), answers compared with the consensus, agreeing] over the project's last
    # 30 days with answers, oldest first (NULL: computed before migration 0018)
    agreement_by_day: Mapped[list[Any] | None] = mapped_column(JSONType, default=list)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsensusRun(Base):
    """A project's last consensus recomputation: project-wide figures (one row per project)."""

    __tablename__ = "consensus_run"
    __table_args__ = (UniqueConstraint("project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(32))
    n_items: Mapped[int] = mapped_column(default=0)
    n_answers: Mapped[int] = mapped_column(default=0)
    # the largest answer id included: a later answer makes the stored consensus stale
    last_answer_id: Mapped[int] = mapped_column(default=0)
    # agreement (alpha, kappa, per class), class counts, annotators-vs-consensus confusion
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    seconds: Mapped[float] = mapped_column(default=0.0)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnnotatorExclusion(Base):
    """An annotator whose answers an owner left out of a project's consensus (a spammer, say).

    The answers stay stored (exports, provenance); only consensus stops reading them
    (:mod:`labelhive.consensus.answer_arrays`). Deleting the row includes them again.
    """

    __tablename__ = "annotator_exclusion"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    excluded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    excluded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
