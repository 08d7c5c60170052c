"""Reviewers, the review queue, decisions and provenance (the reads use ``db.session``; the
decisions run their own short write transactions, as the consensus write does).

A decision takes the project row's lock (``FOR NO KEY UPDATE``, as the consensus write does,
and SQLite's immediate transaction), so a recomputation either sees the decision or comes
first and the decision lands on the row it wrote: no decision is lost or overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from labelhive.accounts.models import User
from labelhive.annotation import service as annotation
from labelhive.answers.models import Answer
from labelhive.consensus.labels import label_of
from labelhive.consensus.models import Consensus
from labelhive.db import rowcount
from labelhive.db import table_of
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.review import rules
from labelhive.review.models import ProjectReviewer
from labelhive.tasks import rules as task_rules
from labelhive.tasks.models import Task

C = table_of(Consensus)
P = table_of(Project)
T = table_of(Task)


class ReviewError(Exception):
    """A review request that cannot be done: ``status`` (404, 409) and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- reviewers ---------------------------------------------------------------------------------


def is_reviewer(project_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return False
    return (
        db.session.scalar(
            select(ProjectReviewer.id).where(
                ProjectReviewer.project_id == project_id, ProjectReviewer.user_id == user_id
            )
        )
        is not None
    )


def reviewers(project_id: int) -> list[tuple[ProjectReviewer, str]]:
    """The project's reviewers with their user names, in the order they were made reviewers."""
    rows = db.session.execute(
        select(ProjectReviewer, User.name)
        .join(User, User.id == ProjectReviewer.user_id)
        .where(ProjectReviewer.project_id == project_id)
        .order_by(ProjectReviewer.id)
    ).all()
    return [(reviewer, name) for reviewer, name in rows]


def grant(project: Project, user_name: str, granted_by: int | None) -> ProjectReviewer:
    """Make the user named ``user_name`` a reviewer of ``project`` (idempotent).

    :raise ReviewError: 404 when no user has that name.
    """
    user = db.session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise ReviewError(404, f"No user is named {user_name!r}.")
    existing = db.session.scalar(
        select(ProjectReviewer).where(
            ProjectReviewer.project_id == project.id, ProjectReviewer.user_id == user.id
        )
    )
    if existing is not None:
        return existing
    reviewer = ProjectReviewer(project_id=project.id, user_id=user.id, granted_by=granted_by)
    try:
        with db.session.begin_nested():
            db.session.add(reviewer)
    except IntegrityError:  # granted at the same moment by another request
        return db.session.scalars(
            select(ProjectReviewer).where(
                ProjectReviewer.project_id == project.id, ProjectReviewer.user_id == user.id
            )
        ).one()
    return reviewer


def revoke(project_id: int, user_id: int) -> bool:
    """Take the reviewer role away; the decisions the user made stay.

    :return: whether the user was a reviewer.
    """
    gone = db.session.execute(
        delete(ProjectReviewer).where(
            ProjectReviewer.project_id == project_id, ProjectReviewer.user_id == user_id
        )
    )
    return bool(rowcount(gone))


# -- the queue and provenance ------------------------------------------------------------------


def queue_page(project_id: int, after_task_id: int, limit: int) -> list[Consensus]:
    """Items that need review, in item id order after ``after_task_id`` (keyset paging on the
    ``(project_id, review_state, task_id)`` index)."""
    return list(
        db.session.scalars(
            select(Consensus)
            .where(
                Consensus.project_id == project_id,
                Consensus.review_state == rules.NEEDS_REVIEW,
                Consensus.task_id > after_task_id,
            )
            .order_by(Consensus.task_id)
            .limit(limit)
        )
    )


def queue_size(project_id: int) -> int:
    return (
        db.session.scalar(
            select(db.func.count())
            .select_from(Consensus)
            .where(Consensus.project_id == project_id, Consensus.review_state == rules.NEEDS_REVIEW)
        )
        or 0
    )


def waiting_counts(project_ids: list[int]) -> dict[int, int]:
    """Items that need review per project (only projects that have some), in one grouped
    count on the ``(project_id, review_state, task_id)`` index: the home page's cards."""
    if not project_ids:
        return {}
    rows = db.session.execute(
        select(Consensus.project_id, db.func.count())
        .where(Consensus.project_id.in_(project_ids), Consensus.review_state == rules.NEEDS_REVIEW)
        .group_by(Consensus.project_id)
    ).all()
    return {int(project_id): int(n) for project_id, n in rows}


@dataclasses.dataclass(frozen=True)
class Vote:
    """One annotator's answer to an item."""

    user_id: int | None
    user_name: str | None
    label: str | None
    finish_time: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Everything behind an item's final label."""

    task: Task
    consensus: Consensus | None
    votes: list[Vote]
    reviewer_name: str | None
    reasons: list[str]


def provenance(project: Project, task_id: int) -> Provenance:
    """The item's consensus, each answer with who gave it, and who reviewed it.

    :raise ReviewError: 404 when the project has no such task.
    """
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project.id:
        raise ReviewError(404, f"Project {project.id} has no task {task_id}.")
    row = db.session.scalar(select(Consensus).where(Consensus.task_id == task_id))
    answers = db.session.execute(
        select(Answer.user_id, User.name, Answer.info, Answer.finish_time)
        .outerjoin(User, User.id == Answer.user_id)
        .where(Answer.task_id == task_id)
        .order_by(Answer.id)
    ).all()
    votes = [Vote(a.user_id, a.name, label_of(a.info), a.finish_time) for a in answers]
    reviewer = None
    if row is not None and row.reviewed_by is not None:
        reviewer = db.session.scalar(select(User.name).where(User.id == row.reviewed_by))
    found: list[str] = []
    if row is not None:
        found = rules.reasons(
            {"votes": row.votes, "confidence": row.confidence, "n_answers": row.n_answers,
             "gold": row.gold},
            project.review_threshold,
            task.gold_answer,
        )  # fmt: skip
    return Provenance(task, row, votes, reviewer, found)


# -- decisions ---------------------------------------------------------------------------------


def decide(engine: Engine, project: Project, task_id: int, label: Any, reviewer_id: int) -> None:
    """Set an item's final label: method ``reviewed``, confidence 1, with the reviewer and time.

    :raise ValueError: a label that is not one of the project's options.
    :raise ReviewError: 404 no such item, 409 its consensus was never computed.
    """
    label = rules.check_label(label, project.answer_options)
    with _locked(engine, project.id) as conn:
        changed = conn.execute(
            update(C)
            .where(C.c.project_id == project.id, C.c.task_id == task_id)
            .values(
                label=label,
                confidence=1.0,
                method=rules.REVIEWED_METHOD,
                review_state=rules.REVIEWED,
                reviewed_by=reviewer_id,
                reviewed_at=utcnow(),
            )
        ).rowcount
        if not changed:
            _missing(conn, project.id, task_id)


def send_back(engine: Engine, project: Project, task_id: int, reviewer_id: int) -> int:
    """Reopen a complete item for one more answer (the adaptive redundancy path:
    :func:`labelhive.annotation.service.set_redundancy`, compare-and-set) and mark it sent back.

    :return: the task's new redundancy.
    :raise ReviewError: 404 no such item; 409 a gold item, a task still collecting answers, or
        one whose redundancy changed meanwhile.
    """
    with engine.connect() as conn:
        task = conn.execute(
            select(T.c.n_answers, T.c.state, T.c.gold_answer).where(
                T.c.id == task_id, T.c.project_id == project.id
            )
        ).one_or_none()
    if task is None:
        raise ReviewError(404, f"Project {project.id} has no task {task_id}.")
    if task.gold_answer is not None:
        raise ReviewError(409, "A gold item is not collected: set its label instead.")
    if task.state != "completed":
        raise ReviewError(409, f"Task {task_id} is still collecting answers.")
    if task.n_answers >= task_rules.MAX_N_ANSWERS:
        raise ReviewError(409, f"Task {task_id} already asks for the most answers allowed.")
    raised = task.n_answers + 1
    changed = annotation.set_redundancy(
        raised, task_ids=[task_id], expect_n_answers=task.n_answers, engine=engine
    )
    if not changed:
        raise ReviewError(409, f"Task {task_id} changed meanwhile: load it again.")
    with _locked(engine, project.id) as conn:
        conn.execute(
            update(C)
            .where(C.c.project_id == project.id, C.c.task_id == task_id)
            .values(review_state=rules.SENT_BACK, reviewed_by=reviewer_id, reviewed_at=utcnow())
        )
    return raised


@contextlib.contextmanager
def _locked(engine: Engine, project_id: int) -> Iterator[Connection]:
    """A write transaction that holds the project row, as the consensus write does."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            conn.scalar(select(P.c.id).where(P.c.id == project_id).with_for_update(key_share=True))
            yield conn


def _missing(conn: Connection, project_id: int, task_id: int) -> None:
    exists = conn.scalar(select(T.c.id).where(T.c.id == task_id, T.c.project_id == project_id))
    if exists is None:
        raise ReviewError(404, f"Project {project_id} has no task {task_id}.")
    raise ReviewError(409, f"Task {task_id} has no consensus yet: compute it first.")
