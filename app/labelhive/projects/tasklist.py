"""The owner's task list: one page of a project's tasks, a task's priority, deleting a task.

A task's redundancy goes through :func:`labelhive.annotation.service.set_redundancy` (under the
task's row lock, so a task that now has enough answers completes); its gold answer is set on
the Gold page (:mod:`labelhive.consensus.gold`). Deletion follows the API's rule: only an admin
deletes a task that has a result. Services never commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.api import services as api_services
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task

PER_PAGE = 50
# priority_0 is a float column; PYBOSSA's clients use 0..1, larger values are kept as given
MAX_PRIORITY = 1e9


class TaskError(ValueError):
    """The task cannot be changed or deleted; the message says why."""


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    page: int
    pages: int
    total: int


def page_of(project: Project, page: int, per_page: int = PER_PAGE) -> TaskPage:
    """Tasks of ``project`` in id order, page ``page`` (from 1; out of range → the last)."""
    total = (
        db.session.scalar(
            select(func.count()).select_from(Task).where(Task.project_id == project.id)
        )
        or 0
    )
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    tasks = db.session.scalars(
        select(Task)
        .where(Task.project_id == project.id)
        .order_by(Task.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return TaskPage(list(tasks), page, pages, total)


def task_of(project: Project, task_id: int) -> Task:
    """:raise TaskError: no such task in ``project``."""
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project.id:
        raise TaskError(f"Task {task_id} is not a task of this project.")
    return task


def set_priority(project: Project, task_id: int, priority: float) -> Task:
    """:raise TaskError: no such task, or a priority that is not a finite number in range."""
    if not math.isfinite(priority) or abs(priority) > MAX_PRIORITY:
        raise TaskError("The priority must be a number between -1e9 and 1e9.")
    task = task_of(project, task_id)
    task.priority_0 = priority
    return task


def delete(user: User, project: Project, task_id: int) -> None:
    """Delete a task with its leases, answers and result (the database cascades).

    :raise TaskError: no such task, or it has a result and ``user`` is not an admin.
    """
    task = task_of(project, task_id)
    if not user.admin and api_services.has_results(task_id=task.id):
        raise TaskError(f"Task {task_id} has a result; only an admin may delete it.")
    api_services.delete_row("task", task.id)
