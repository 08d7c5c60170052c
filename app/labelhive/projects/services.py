"""Projects: creation, settings, look-up, statistics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects import schemas
from labelhive.projects.models import Project
from labelhive.projects.schemas import RESERVED_SHORT_NAMES as RESERVED_SHORT_NAMES
from labelhive.projects.schemas import SettingError as ProjectError
from labelhive.projects.schemas import normalise_short_name as normalise_short_name
from labelhive.projects.schemas import validate_info as validate_info
from labelhive.projects.schemas import validate_short_name as validate_short_name
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

SETTABLE = frozenset(schemas.SETTINGS)


def get(project_id: int) -> Project | None:
    return db.session.get(Project, project_id)


def by_id_or_short_name(ref: str | int) -> Project | None:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return db.session.get(Project, int(ref))
    return db.session.scalar(select(Project).where(Project.short_name == ref))


def apply_settings(project: Project, values: dict[str, Any]) -> Project:
    """Validate and set project attributes (only those in :data:`SETTABLE`).

    Every value is checked (:mod:`labelhive.projects.schemas`) before any is set, so a refusal
    leaves the project as it was.

    :raise ProjectError: the first invalid value, with a sentence.
    """
    checked = schemas.check(values)
    if checked.keys() & {"adaptive_redundancy", "adaptive_max_answers", "default_n_answers"}:
        error = schemas.adaptive_cap_error(
            checked.get("adaptive_redundancy", project.adaptive_redundancy),
            checked.get("adaptive_max_answers", project.adaptive_max_answers),
            checked.get("default_n_answers", project.default_n_answers),
        )
        if error is not None:
            raise ProjectError(error)
    for key, value in checked.items():
        setattr(project, key, value)
    return project


def name_taken(name: str | None, short_name: str | None, exclude_id: int | None = None) -> bool:
    query = select(Project.id).where((Project.name == name) | (Project.short_name == short_name))
    if exclude_id is not None:
        query = query.where(Project.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def create_project(owner: User, values: dict[str, Any]) -> Project:
    """Create a project owned by ``owner``.

    :raise ProjectError: missing or invalid values.
    """
    for required in ("name", "short_name"):
        if not values.get(required):
            raise ProjectError(f"{required} is required.")
    project = Project(owner_id=owner.id, info={}, description="", long_description="")
    apply_settings(project, values)
    db.session.add(project)
    db.session.flush()
    return project


def stats(project_id: int) -> dict[str, int]:
    """Counts for progress displays: tasks by state, answers, live leases, annotators."""
    task_counts = dict(
        db.session.execute(
            select(Task.state, func.count())
            .where(Task.project_id == project_id, Task.gold_answer.is_(None))
            .group_by(Task.state)
        ).all()
    )
    n_answers = db.session.scalar(
        select(func.count()).select_from(Answer).where(Answer.project_id == project_id)
    )
    n_leases = db.session.scalar(
        select(func.count()).select_from(Lease).where(Lease.project_id == project_id)
    )
    n_annotators = db.session.scalar(
        select(func.count(func.distinct(Answer.user_id))).where(Answer.project_id == project_id)
    )
    n_gold = db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.project_id == project_id, Task.gold_answer.is_not(None))
    )
    completed = task_counts.get("completed", 0)
    ongoing = task_counts.get("ongoing", 0)
    return {
        "n_tasks": completed + ongoing,
        "n_completed_tasks": completed,
        "n_ongoing_tasks": ongoing,
        "n_gold_tasks": n_gold or 0,
        "n_answers": n_answers or 0,
        "n_live_leases": n_leases or 0,
        "n_annotators": n_annotators or 0,
    }


def list_for(user: User) -> tuple[list[Project], list[Project]]:
    """The projects ``user`` manages (all of them for an admin) and the published others.

    :return: ``(managed, contributable)``, each ordered by name.
    """
    projects = db.session.scalars(
        select(Project)
        .where(true() if user.admin else (Project.owner_id == user.id) | Project.published)
        .order_by(Project.name)
    ).all()
    managed = [p for p in projects if user.admin or p.owner_id == user.id]
    others = [p for p in projects if p not in managed]
    return managed, others


def annotator_counts(project_id: int) -> list[tuple[str, int]]:
    """Answers per annotator in a project, most active first."""
    rows = db.session.execute(
        select(User.name, func.count(Answer.id))
        .join(Answer, Answer.user_id == User.id)
        .where(Answer.project_id == project_id)
        .group_by(User.name)
        .order_by(func.count(Answer.id).desc(), User.name)
    ).all()
    return [(name, count) for name, count in rows]
