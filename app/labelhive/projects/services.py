"""Projects: creation, settings, look-up, statistics."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects.models import ORDERINGS
from labelhive.projects.models import Project
from labelhive.tasks import rules
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

SHORT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# names that would collide with the web UI's own routes
RESERVED_SHORT_NAMES = {"new", "api", "admin", "static", "account", "s3", "search", "category"}


class ProjectError(ValueError):
    """A project setting is invalid; the message says which and why."""


def get(project_id: int) -> Project | None:
    return db.session.get(Project, project_id)


def by_id_or_short_name(ref: str | int) -> Project | None:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return db.session.get(Project, int(ref))
    return db.session.scalar(select(Project).where(Project.short_name == ref))


def normalise_short_name(short_name: Any) -> Any:
    """NFKC form of a string short name (other values unchanged, for the validator to refuse)."""
    return unicodedata.normalize("NFKC", short_name) if isinstance(short_name, str) else short_name


def validate_short_name(short_name: Any) -> str:
    """The short name, NFKC-normalised (full-width ``ｐｅｔｓ`` is ``pets``), if it then follows
    the ASCII slug rule; look-alikes from other scripts (Cyrillic ``а``), zero-width and
    combining characters stay non-ASCII and are refused, so no name can impersonate another.

    :raise ProjectError: with a sentence.
    """
    short_name = normalise_short_name(short_name)
    if not isinstance(short_name, str) or not SHORT_NAME_RE.fullmatch(short_name):
        raise ProjectError(
            "short_name must be 1-63 lower-case ASCII letters, digits, '-' or '_', starting "
            f"with a letter or digit (got {short_name!r})."
        )
    if short_name in RESERVED_SHORT_NAMES:
        raise ProjectError(f"short_name {short_name!r} is reserved.")
    return short_name


def validate_info(info: Any) -> dict[str, Any]:
    """Check ``info.question`` and ``info.answers`` (the answer options)."""
    if info is None:
        return {}
    if not isinstance(info, dict):
        raise ProjectError("info must be a JSON object.")
    answers = info.get("answers")
    if answers is not None:
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ProjectError("info.answers must be a list of strings (the answer options).")
        cleaned = [a.strip() for a in answers]
        if any(not a for a in cleaned):
            raise ProjectError("info.answers must not contain empty options.")
        if len(set(cleaned)) != len(cleaned):
            raise ProjectError("info.answers must not repeat an option.")
        if len(cleaned) > 50:
            raise ProjectError("info.answers may list at most 50 options.")
        info = {**info, "answers": cleaned}
    question = info.get("question")
    if question is not None and not isinstance(question, str):
        raise ProjectError("info.question must be a string.")
    return info


SETTABLE = {
    "name",
    "short_name",
    "description",
    "long_description",
    "info",
    "default_n_answers",
    "lease_ttl",
    "ordering",
    "gold_rate",
    "published",
    "webhook",
    "allow_anonymous_contributors",
    "featured",
    "zip_download",
    "category_id",
    "use_task_presenter",
    # consensus and adaptive redundancy (labelhive.results)
    "consensus_method",
    "consensus_use_gold",
    "adaptive_redundancy",
    "adaptive_threshold",
    "adaptive_max_answers",
}
# labelhive.results.consensus.METHODS (not imported: it pulls in pandas and crowd-kit)
CONSENSUS_METHODS = ("dawid_skene", "majority_vote", "gold_weighted")
# the columns' defaults, for a project that is not flushed yet
_ADAPTIVE_DEFAULTS = {"default_n_answers": 3, "adaptive_max_answers": 5}


def apply_settings(project: Project, values: dict[str, Any]) -> Project:
    """Validate and set project attributes (only those in :data:`SETTABLE`).

    :raise ProjectError: the first invalid value, with a sentence.
    """
    for key, value in values.items():
        if key not in SETTABLE:
            raise ProjectError(f"{key!r} is not a project setting.")
        if key in ("name", "description", "long_description") and not isinstance(value, str):
            raise ProjectError(f"{key} must be a string.")
        if key == "name" and not value.strip():
            raise ProjectError("name must not be empty.")
        if key == "short_name":
            value = validate_short_name(value)
        elif key == "info":
            value = validate_info(value)
        elif key == "default_n_answers":
            try:
                value = rules.validate_n_answers(value)
            except ValueError as exc:
                raise ProjectError(str(exc).replace("n_answers", "redundancy")) from None
        elif key == "lease_ttl":
            if isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 86400:
                raise ProjectError("lease_ttl must be a whole number of seconds from 10 to 86400.")
        elif key == "ordering" and value not in ORDERINGS:
            raise ProjectError(f"ordering must be one of {', '.join(ORDERINGS)}.")
        elif key == "gold_rate":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ProjectError("gold_rate must be a number from 0 to 1.")
        elif key == "consensus_method" and value not in CONSENSUS_METHODS:
            raise ProjectError(f"consensus_method must be one of {', '.join(CONSENSUS_METHODS)}.")
        elif key == "adaptive_threshold":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise ProjectError(
                    "adaptive_threshold must be a number above 0 and at most 1 (the share of "
                    "answers that must agree)."
                )
        elif key == "adaptive_max_answers":
            try:
                value = rules.validate_n_answers(value)
            except ValueError as exc:
                raise ProjectError(str(exc).replace("n_answers", key)) from None
        elif key in (
            "published",
            "allow_anonymous_contributors",
            "featured",
            "zip_download",
            "use_task_presenter",
            "consensus_use_gold",
            "adaptive_redundancy",
        ):
            if not isinstance(value, bool):
                raise ProjectError(f"{key} must be true or false.")
        setattr(project, key, value)
    if values.keys() & {"adaptive_redundancy", "adaptive_max_answers", "default_n_answers"}:
        _check_adaptive_cap(project)
    return project


def _check_adaptive_cap(project: Project) -> None:
    """With adaptive redundancy on, its cap must not be below the project's redundancy."""
    if not project.adaptive_redundancy:
        return
    cap = project.adaptive_max_answers or _ADAPTIVE_DEFAULTS["adaptive_max_answers"]
    redundancy = project.default_n_answers or _ADAPTIVE_DEFAULTS["default_n_answers"]
    if cap < redundancy:
        raise ProjectError(
            f"adaptive_max_answers ({cap}) must be at least the redundancy "
            f"default_n_answers ({redundancy}): the cap is the most answers a task may get."
        )


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
