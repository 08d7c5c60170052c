"""The API's queries: filtered, scoped, paged lists, and the few writes that are not the engine's.

Scopes mirror :mod:`labelhive.projects.access` in SQL so pages stay full; the views check every
row again with the access rules. Owner context (PYBOSSA's ``api_context``): a signed-in
caller's lists are restricted to projects whose ``owner_id`` is theirs unless ``all=1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import ColumnElement
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.types import JSON

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.api import serialize
from labelhive.api.query import MAX_INT
from labelhive.api.query import ListArgs
from labelhive.consensus.models import Result
from labelhive.extensions import db
from labelhive.extensions import read_one
from labelhive.helping.models import Category
from labelhive.helping.models import HelpingMaterial
from labelhive.projects.models import Project
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

MODELS: dict[str, Any] = {
    "project": Project,
    "task": Task,
    "taskrun": Answer,
    "result": Result,
    "user": User,
    "category": Category,
    "helpingmaterial": HelpingMaterial,
}
# the class names PYBOSSA's messages use
MODEL_NAMES = {
    "project": "Project",
    "task": "Task",
    "taskrun": "TaskRun",
    "result": "Result",
    "user": "User",
    "category": "Category",
    "helpingmaterial": "HelpingMaterial",
}
# columns a list may filter and sort on; never secrets (a filter is an oracle for its value)
FILTERABLE = {
    "project": (
        "id created updated name short_name description long_description "
        "allow_anonymous_contributors published featured zip_download contacted owner_id "
        "category_id info default_n_answers lease_ttl ordering"
    ),
    "task": "id created project_id state quorum calibration priority_0 info n_answers",
    "taskrun": "id created finish_time project_id task_id user_id external_uid info",
    "result": "id created project_id task_id last_version info",
    "user": "id name fullname locale created",
    "category": "id name short_name description created info",
    "helpingmaterial": "id project_id created info media_url priority",
}


def _kind(column: Any) -> str:
    kind = column.type
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, Float):
        return "float"
    if isinstance(kind, DateTime):
        return "datetime"
    if isinstance(kind, JSON):
        return "json"
    return "str"


def column_kinds(resource: str) -> dict[str, str]:
    """Filterable columns of a resource and their kinds (see :mod:`labelhive.api.query`)."""
    table = MODELS[resource].__table__
    return {name: _kind(table.c[name]) for name in FILTERABLE[resource].split()}


def readable_columns(resource: str, user: User | None, all_: bool) -> frozenset[str]:
    """The filterable columns ``user`` may read on every row a list of ``resource`` returns.

    Rows outside the caller's own projects show only their public fields: other users' (all
    but ``id`` and ``name``, see ``serialize.USER_PUBLIC``) and, for anyone but an admin
    listing with ``all=1`` or anonymously, other projects' private columns.
    """
    names = frozenset(FILTERABLE[resource].split())
    if user is not None and user.admin:
        return names
    if resource == "user":
        return names & frozenset(serialize.USER_PUBLIC)
    if resource == "project" and (user is None or all_):
        return names - frozenset(serialize.PROJECT_PRIVATE)
    # tasks, answers, results: only rows of the caller's projects (and their own answers);
    # categories and helping materials: every column is shown to whoever may list them
    return names


def _owned(user: User) -> Any:
    return select(Project.id).where(Project.owner_id == user.id)


def _scope(resource: str, user: User | None, all_: bool) -> list[ColumnElement[bool]]:
    """Rows a caller may list: owner context first, then read visibility."""
    model = MODELS[resource]
    if resource == "user":
        return [] if user is not None and user.admin else [User.enabled.is_(True)]
    if resource == "category":
        return []  # public, and outside the owner context (as in PYBOSSA)
    if user is None:
        # anonymous callers may list published projects and nothing else
        return [Project.published.is_(True)] if resource == "project" else [false()]
    if not all_ or not user.admin:
        if resource == "project":
            if not all_:
                return [Project.owner_id == user.id]
            return [or_(Project.owner_id == user.id, Project.published.is_(True))]
        managed = model.project_id.in_(_owned(user))
        if resource == "taskrun" and all_:
            return [or_(managed, Answer.user_id == user.id)]
        if resource == "helpingmaterial" and all_:
            published = select(Project.id).where(Project.published.is_(True))
            return [or_(managed, HelpingMaterial.project_id.in_(published))]
        return [managed]
    return []


def _condition(model: Any, flt: Any) -> ColumnElement[bool]:
    column = getattr(model, flt.column)
    if flt.op == "in":
        return column.in_(flt.value) if flt.value else false()
    if flt.op == "prefix":
        return cast(column, String).like(flt.value.replace("%", r"\%") + "%", escape="\\")
    if flt.op == "keys":
        return and_(*[column[key].as_string() == value for key, value in flt.value])
    return column == flt.value


def list_rows(resource: str, args: ListArgs, user: User | None) -> Sequence[Any]:
    """One page of a resource's rows that ``user`` may list."""
    model = MODELS[resource]
    stmt = select(model).where(*_scope(resource, user, args.all))
    stmt = stmt.where(*[_condition(model, f) for f in args.filters])
    if resource == "result" and not args.filters_on("last_version"):
        stmt = stmt.where(Result.last_version.is_(True))
    if args.last_id is not None:
        stmt = stmt.where(model.id > args.last_id)
    column = getattr(model, args.orderby)
    stmt = stmt.order_by(column.desc() if args.desc else column.asc())
    if args.orderby != "id":
        stmt = stmt.order_by(model.id.desc() if args.desc else model.id.asc())
    return db.session.scalars(stmt.limit(args.limit).offset(args.offset)).all()


def get(resource: str, oid: int) -> Any:
    if not -MAX_INT <= oid <= MAX_INT:
        return None  # no row has it; the driver would overflow
    return db.session.get(MODELS[resource], oid)


def project_of(row: Any) -> Project:
    # every row's project exists: deleting a project deletes its rows
    return db.session.get_one(Project, row.project_id)


def project_id_of(ref: str) -> int | None:
    """The id named by ``ref``: digits are the id, taken without a read (the claim reads the
    project anyway); a short name is looked up. ``None`` when it names nothing."""
    if ref.isascii() and ref.isdigit():
        return int(ref) if int(ref) <= MAX_INT else None
    if "\x00" in ref:
        return None  # PostgreSQL's text holds no NUL: no project is named so
    row = read_one(select(Project.id).where(Project.short_name == ref))
    return None if row is None else row.id


def end_transaction() -> None:
    """Commit the request's session before an engine call.

    The engine runs its own transactions; ending ours first returns its connection to the pool
    and, on SQLite, lets later reads see the engine's writes. No session yet (an API-key
    caller on the hot path): nothing to end, and none is created.
    """
    if db.session.registry.has():
        db.session.commit()


def duplicate_project_field(values: dict[str, Any], exclude_id: int | None) -> str | None:
    """``name`` or ``short_name`` when another project already uses the value given."""
    for field in ("short_name", "name"):
        if field not in values:
            continue
        query = select(Project.id).where(getattr(Project, field) == values[field])
        if exclude_id is not None:
            query = query.where(Project.id != exclude_id)
        if db.session.scalar(query.limit(1)) is not None:
            return field
    return None


def has_results(*, project_id: int | None = None, task_id: int | None = None) -> bool:
    query = select(Result.id)
    if project_id is not None:
        query = query.where(Result.project_id == project_id)
    if task_id is not None:
        query = query.where(Result.task_id == task_id)
    return db.session.scalar(query.limit(1)) is not None


def delete_row(resource: str, oid: int) -> None:
    """Delete a project or task; the database cascades to its tasks, leases, answers, results."""
    model = MODELS[resource]
    db.session.execute(delete(model).where(model.id == oid))


def create_task(project: Project, values: dict[str, Any]) -> Task:
    task = Task(project_id=project.id, state="ongoing", n_done=0, n_reserved=0, **values)
    db.session.add(task)
    db.session.flush()
    return task


def works_on(task_id: int, user_id: int) -> bool:
    """Whether the user holds a lease on the task or has answered it."""
    lease = exists().where(Lease.task_id == task_id, Lease.user_id == user_id)
    answered = exists().where(Answer.task_id == task_id, Answer.user_id == user_id)
    return bool(db.session.scalar(select(or_(lease, answered))))


def email_taken(email: str, exclude_id: int) -> bool:
    # whatever the case: e-mail sign-in ignores it (migration 0008's unique index)
    query = select(User.id).where(
        func.lower(User.email_addr) == email.lower(), User.id != exclude_id
    )
    return db.session.scalar(query.limit(1)) is not None
