"""A project's lifecycle: draft → published ⇄ draft, archived ⇄ draft, deleted.

Every change of settings that may publish goes through :func:`apply_settings` (the Publish
buttons, ``PUT /api/project/<id>``), which refuses to publish an archived project. Deletion
reuses the API's rule and statement (:func:`labelhive.api.services.has_results`,
:func:`~labelhive.api.services.delete_row`): only an admin deletes a project or task that has
results. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import Literal

from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.api import services as api_services
from labelhive.consensus.models import Result
from labelhive.extensions import db
from labelhive.projects import services
from labelhive.projects.models import Project
from labelhive.tasks.models import Task

State = Literal["draft", "published", "archived"]


class LifecycleError(ValueError):
    """A change the project's state does not allow; the message says why."""


def state(project: Project) -> State:
    """What the owner and the badges call the project's state (archived wins)."""
    if project.archived:
        return "archived"
    return "published" if project.published else "draft"


ARCHIVED_PUBLISH = "This project is archived: unarchive it before publishing it."


def apply_settings(project: Project, values: dict[str, Any]) -> Project:
    """:func:`labelhive.projects.services.apply_settings`, refusing ``"published": true`` on an
    archived project (archiving unpublishes; only unarchiving makes it a draft again).

    :raise LifecycleError: publishing an archived project; nothing is changed.
    :raise ProjectError: an invalid value (see :mod:`labelhive.projects.schemas`).
    """
    if values.get("published") is True and project.archived:
        raise LifecycleError(ARCHIVED_PUBLISH)
    return services.apply_settings(project, values)


def set_published(project: Project, published: bool) -> None:
    """Publish (annotators can label it) or unpublish a project.

    :raise LifecycleError: an archived project cannot be published; unarchive it first.
    """
    apply_settings(project, {"published": published})


def set_archived(project: Project, archived: bool) -> None:
    """Archive (unpublished, kept with its data) or unarchive (back to a draft) a project."""
    if archived:
        services.apply_settings(project, {"published": False})
    project.archived = archived


@dataclass(frozen=True)
class Deletion:
    """What deleting a project removes, and why it may not be deleted (``refusal``)."""

    n_tasks: int
    n_answers: int
    n_results: int
    refusal: str | None


def deletion(user: User, project: Project) -> Deletion:
    """The counts a deletion would remove, and the API's rule: results → admins only."""

    def count(model: type[Task] | type[Answer] | type[Result]) -> int:
        query = select(func.count()).select_from(model).where(model.project_id == project.id)
        return db.session.scalar(query) or 0

    n_results = count(Result)
    refusal = None
    if n_results and not user.admin:
        refusal = "The project has results; only an admin may delete it. Archive it instead."
    return Deletion(count(Task), count(Answer), n_results, refusal)


def delete(user: User, project: Project) -> None:
    """Delete a project with its tasks, leases, answers and results (the database cascades).

    :raise LifecycleError: the user may not (see :func:`deletion`).
    """
    refusal = deletion(user, project).refusal
    if refusal:
        raise LifecycleError(refusal)
    api_services.delete_row("project", project.id)
