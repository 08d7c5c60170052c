"""Gold tasks from the web UI: list a project's tasks with their known answers, set or clear one.

Imports (a ``gold`` column, :mod:`labelhive.imports.parsers`) and the API (``gold_answer`` on
``PUT /api/task/<id>``) are the other two ways in. A gold task is handed out at the project's
``gold_rate`` and never completes; its answer never leaves the server for annotators
(:func:`labelhive.tasks.labeling.for_annotator`, the API's serialiser). Services never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks import rules
from labelhive.tasks.models import Task

PAGE_SIZE = 50


class GoldError(ValueError):
    """A gold answer that cannot be set; ``str()`` says why."""


def tasks_page(project_id: int, after_id: int = 0, *, gold_only: bool = False) -> list[Task]:
    """The project's tasks after ``after_id`` in id order (keyset paging), one page."""
    query = select(Task).where(Task.project_id == project_id, Task.id > after_id)
    if gold_only:
        query = query.where(Task.gold_answer.is_not(None))
    return list(db.session.scalars(query.order_by(Task.id).limit(PAGE_SIZE)))


def current(project: Project, task_id: int) -> str | None:
    """The task's gold answer (``None``: not gold).

    :raise GoldError: no such task in the project.
    """
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project.id:
        raise GoldError(f"Task {task_id} is not a task of this project.")
    return task.gold_answer


def set_gold(project: Project, task_id: int, answer: Any) -> Task:
    """Make a task gold with the known ``answer``, or an ordinary task again (``None``/``""``).

    :raise GoldError: no such task in the project, or an answer outside the project's options.
    """
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project.id:
        raise GoldError(f"Task {task_id} is not a task of this project.")
    if answer is None or answer == "":
        task.gold_answer = None
        return task
    if not isinstance(answer, str) or "\x00" in answer:
        raise GoldError("The gold answer must be text.")
    error = rules.answer_error(answer, project.answer_options)
    if error:
        raise GoldError(error)
    task.gold_answer = answer
    return task
