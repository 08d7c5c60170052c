"""Problem reports: store one, list a project's. Services never commit."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.reports.models import MAX_PROBLEM
from labelhive.reports.models import TaskReport
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

# what the labeling page reports when a task's image does not load
IMAGE_FAILED = "Image failed to load"
# the most reports the owner's page lists (newest first)
LIST_LIMIT = 500


class ReportError(ValueError):
    """A report that cannot be stored; ``str()`` says why, ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Listed:
    """One row of the owner's list."""

    id: int
    task_id: int
    task_info: object
    reporter: str
    problem: str
    created: dt.datetime


def clean_problem(problem: object) -> str:
    """The problem as stored: stripped text of at most :data:`MAX_PROBLEM` characters.

    :raise ReportError: not text, or too long.
    """
    if problem is None or problem == "":
        return IMAGE_FAILED
    if not isinstance(problem, str) or "\x00" in problem:
        raise ReportError("problem must be text.")
    problem = problem.strip()
    if len(problem) > MAX_PROBLEM:
        raise ReportError(f"problem may be at most {MAX_PROBLEM} characters.")
    return problem or IMAGE_FAILED


def report(project_id: int, task_id: int, user_id: int, problem: object) -> TaskReport:
    """Store the user's report of a task they hold (a repeated report returns the first one).

    Only a task the user holds a lease on (one the labeling page showed them) may be reported,
    so nobody can fill the owner's list with tasks they never saw.

    :raise ReportError: 400 for a bad problem or a task of another project, 409 when the user
        does not hold the task.
    """
    text = clean_problem(problem)
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project_id:
        raise ReportError(f"Task {task_id} is not a task of this project.")
    existing = db.session.scalar(
        select(TaskReport).where(TaskReport.task_id == task_id, TaskReport.user_id == user_id)
    )
    if existing is not None:
        return existing
    held = db.session.scalar(
        select(Lease.id).where(Lease.task_id == task_id, Lease.user_id == user_id)
    )
    if held is None:
        raise ReportError("You can report a task only while it is on your screen.", 409)
    row = TaskReport(project_id=project_id, task_id=task_id, user_id=user_id, problem=text)
    db.session.add(row)
    db.session.flush()
    return row


def for_project(project_id: int, limit: int = LIST_LIMIT) -> list[Listed]:
    """The project's reports, newest first, with the task's info and the reporter's name."""
    rows = db.session.execute(
        select(TaskReport, Task.info, User.name)
        .join(Task, Task.id == TaskReport.task_id)
        .join(User, User.id == TaskReport.user_id)
        .where(TaskReport.project_id == project_id)
        .order_by(TaskReport.id.desc())
        .limit(limit)
    ).all()
    return [Listed(r.id, r.task_id, info, name, r.problem, r.created) for r, info, name in rows]
