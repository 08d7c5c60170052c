"""The per-item results browser's query: stored consensus rows with their task's info,
filtered, in item id order, one keyset page at a time.

Every filter is a condition on the ``consensus`` row (or, for an annotator, an ``EXISTS`` on
the answers' unique ``(task_id, user_id)`` index), walked in ``(project_id, task_id)`` order:
the state and label filters have their own ``(project_id, column, task_id)`` indexes, so a page
reads about ``limit`` rows of them whatever the project's size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.review.filters import Filters
from labelhive.tasks.models import Task


def page(project_id: int, filters: Filters, after_task_id: int, limit: int) -> list[Any]:
    """Rows ``(Consensus, task_info)`` after ``after_task_id``, at most ``limit``."""
    query = (
        select(Consensus, Task.info)
        .join(Task, Task.id == Consensus.task_id)
        .where(Consensus.project_id == project_id, Consensus.task_id > after_task_id)
    )
    for condition in conditions(filters, project_id):
        query = query.where(condition)
    return list(db.session.execute(query.order_by(Consensus.task_id).limit(limit)).all())


def conditions(filters: Filters, project_id: int) -> list[Any]:
    found: list[Any] = []
    if filters.disagreement:
        found += [Consensus.n_answers > 0, Consensus.agreement < 1.0]
    if filters.confidence_below is not None:
        found.append(Consensus.confidence < filters.confidence_below)
    if filters.tie:
        found.append(Consensus.tie.is_(True))
    if filters.gold is not None:
        found.append(Consensus.gold.is_(filters.gold))
    if filters.label is not None:
        found.append(Consensus.label == filters.label)
    if filters.state is not None:
        found.append(Consensus.review_state == filters.state)
    if filters.annotator is not None:
        found.append(
            exists().where(Answer.task_id == Consensus.task_id, Answer.user_id == filters.annotator)
        )
    return found
