"""Annotators excluded from a project's consensus (spammers), reversibly.

An owner excludes an annotator: their answers stay stored (exports, provenance, the annotator's
own progress) but consensus stops reading them (:mod:`labelhive.consensus.answer_arrays`), so the
labels, the annotator quality and the agreement figures are computed without them. Including
them again deletes the row. Either change asks for a recomputation
(:func:`labelhive.starters.start_recompute`) once the caller has committed.

Reads and writes use ``db.session`` and never commit (house style).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.consensus.models import AnnotatorExclusion
from labelhive.db import rowcount
from labelhive.extensions import db
from labelhive.projects.models import Project

# the largest id the database's integer column holds: a larger one names nobody
MAX_ID = 2**31 - 1


class ExclusionError(Exception):
    """An exclusion that cannot be made: ``status`` (400, 404) and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Excluded:
    """One excluded annotator: who, by whom, when."""

    user_id: int
    name: str
    excluded_by: int | None
    excluded_by_name: str | None
    excluded_at: dt.datetime


def excluded(project_id: int) -> list[Excluded]:
    """The project's excluded annotators, in the order they were excluded."""
    by = aliased(User)
    rows = db.session.execute(
        select(AnnotatorExclusion, User.name, by.name)
        .join(User, User.id == AnnotatorExclusion.user_id)
        .outerjoin(by, by.id == AnnotatorExclusion.excluded_by)
        .where(AnnotatorExclusion.project_id == project_id)
        .order_by(AnnotatorExclusion.id)
    ).all()
    return [
        Excluded(row.user_id, name, row.excluded_by, by_name, row.excluded_at)
        for row, name, by_name in rows
    ]


def excluded_ids(project_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(AnnotatorExclusion.user_id).where(AnnotatorExclusion.project_id == project_id)
        )
    )


def find_user(*, user_id: int | None = None, name: str | None = None) -> User:
    """The user by id or by name.

    :raise ExclusionError: 404 when there is no such user.
    """
    if user_id is not None:
        user = db.session.get(User, user_id) if 0 < user_id <= MAX_ID else None
        if user is None:
            raise ExclusionError(404, f"No user has id {user_id}.")
        return user
    user = db.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise ExclusionError(404, f"No user is named {name!r}.")
    return user


def exclude(project: Project, user: User, excluded_by: int | None) -> tuple[Excluded, bool]:
    """Leave ``user``'s answers out of ``project``'s consensus (idempotent).

    :return: the exclusion, and whether this call made it (``False``: it was there already).
    :raise ExclusionError: 400 when the user has no answers in the project (a typo, most
        likely: nothing would change).
    """
    answered = db.session.scalar(
        select(Answer.id).where(Answer.user_id == user.id, Answer.project_id == project.id).limit(1)
    )
    if answered is None:
        raise ExclusionError(
            400, f"{user.name} has no answers in this project: there is nothing to exclude."
        )
    created = False
    if user.id not in excluded_ids(project.id):
        try:
            with db.session.begin_nested():
                db.session.add(
                    AnnotatorExclusion(
                        project_id=project.id, user_id=user.id, excluded_by=excluded_by
                    )
                )
            created = True
        except IntegrityError:  # excluded at the same moment by another request
            pass
    found = next(e for e in excluded(project.id) if e.user_id == user.id)
    return found, created


def include(project_id: int, user_id: int) -> bool:
    """Count the user's answers in the project's consensus again.

    :return: whether the user was excluded.
    """
    if not 0 < user_id <= MAX_ID:
        return False
    gone = db.session.execute(
        delete(AnnotatorExclusion).where(
            AnnotatorExclusion.project_id == project_id, AnnotatorExclusion.user_id == user_id
        )
    )
    return bool(rowcount(gone))
