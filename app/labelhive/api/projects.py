"""``/api/project``: list, read, create, update, delete, and ``/api/project/<id>/stats``.

Anyone may read published projects' public fields; signed-in users also their own drafts;
owners and admins get every column. Unlike PYBOSSA, owners may publish through the API
(``"published": true`` on POST or PUT), except an archived project (409: unarchive it first).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from labelhive.accounts.models import User
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import query
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.helping import services as helping
from labelhive.projects import access
from labelhive.projects import lifecycle
from labelhive.projects import services as projects
from labelhive.projects.models import Project

RESERVED = ("id", "created", "updated", "completed", "contacted", "secret_key")
# values the server computes; clients echo them back (``stats`` from ``?stats=1``)
IGNORED = ("stats",)
TEXT_FIELDS = ("name", "short_name", "description", "long_description")


def visible(user: User | None, project: Project) -> bool:
    """Whether the caller may read the project (anonymous callers: published ones)."""
    return access.can_see(user, project) or (user is None and project.published)


def visible_stats(project: Project, user: User) -> dict[str, int]:
    """The project's counts. Managers see them all; others see none that moves differently
    for a gold task than for a real one (annotators must not learn which tasks test them, nor
    how often, as with ``gold_rate``): the task total counts gold tasks too, and the completed
    and ongoing counts (gold tasks never complete) are left out."""
    stats = projects.stats(project.id)
    if access.can_manage(user, project):
        return stats
    return {
        "n_tasks": stats["n_tasks"] + stats["n_gold_tasks"],
        "n_answers": stats["n_answers"],
        "n_live_leases": stats["n_live_leases"],
        "n_annotators": stats["n_annotators"],
    }


def dictize(project: Project, user: User | None, *, with_stats: bool) -> dict[str, Any]:
    stats = visible_stats(project, user) if with_stats and user is not None else None
    return serialize.project(project, manager=access.can_manage(user, project), stats=stats)


def _managed(oid: int) -> tuple[Project, User]:
    project = listing.one("project", oid)
    user = auth.user()
    if user is None or not access.can_manage(user, project):
        raise errors.denied(user is not None, "Only the project's owners and admins may do this.")
    return project, user


def _values(body: dict[str, Any], owner_id: int, exclude_id: int | None) -> dict[str, Any]:
    values = payload.check_keys(
        body,
        model_name="Project",
        reserved=RESERVED,
        writable=projects.SETTABLE,
        read_only={"owner_id": lambda: owner_id, "owners_ids": lambda: [owner_id]},
        ignored=IGNORED,
    )
    for key in TEXT_FIELDS:
        # before any query compares them: a dict or a list is no name (and no SQL parameter)
        if key in values and not isinstance(values[key], str):
            raise errors.bad_request(f"{key} must be a string, not {type(values[key]).__name__}.")
    if values.get("category_id") is not None:
        category_id = payload.whole_number("category_id", values["category_id"], required=True)
        if helping.category_by_id(category_id) is None:
            raise errors.bad_request("category_id does not exist")
        values["category_id"] = category_id
    if values.get("webhook") is not None and not isinstance(values["webhook"], str):
        raise errors.bad_request("webhook must be a URL string or null.")
    if "short_name" in values:
        # compare the name that will be stored (NFKC) with the existing ones
        values["short_name"] = projects.normalise_short_name(values["short_name"])
    duplicate = services.duplicate_project_field(values, exclude_id)
    if duplicate:
        raise errors.unsupported(
            "DBIntegrityError",
            f"A project with {duplicate} {values[duplicate]!r} already exists; "
            f"{duplicate} must be unique.",
        )
    return values


def _public_info_filters(args: query.ListArgs) -> None:
    """Refuse ``info`` filters on keys the caller may not read: a filter is an oracle.

    In the owner context every listed project is the caller's own, so any key goes.
    """
    user = auth.user()
    if user is not None and (user.admin or not args.all):
        return
    for flt in args.filters:
        if flt.column != "info":
            continue
        private = [key for key, _ in flt.value if key not in serialize.PUBLIC_INFO_KEYS]
        if private:
            raise errors.forbidden(
                f"Only public info keys may be filtered on here, not {', '.join(private)}."
            )


@bp.get("/project")
def project_list() -> Response:
    args, rows = listing.page("project", anonymous=True, check=_public_info_filters)
    user = auth.user()
    return jsonify([dictize(p, user, with_stats=args.stats) for p in rows if visible(user, p)])


@bp.get("/project/<int:oid>")
def project_get(oid: int) -> Response:
    project = listing.one("project", oid)
    user = auth.user()
    if not visible(user, project):
        raise errors.denied(user is not None, "This project is not published.")
    return jsonify(dictize(project, user, with_stats=query.is_true(request.args.get("stats"))))


@bp.get("/project/<int:oid>/stats")
def project_stats(oid: int) -> Response:
    project = listing.one("project", oid)
    user = auth.user()
    if user is None or not access.can_see(user, project):
        raise errors.denied(user is not None, "This project is not published.")
    return jsonify(visible_stats(project, user))


@bp.post("/project")
def project_create() -> Response:
    user = auth.require_user()
    if not access.can_create(user):
        raise errors.forbidden("Your account may not create projects: ask an administrator.")
    values = _values(listing.body(), user.id, None)
    # PYBOSSA files a new project under the first category
    values.setdefault("category_id", helping.first_category_id())
    try:
        project = projects.create_project(user, values)
    except projects.ProjectError as exc:
        raise errors.bad_request(str(exc)) from None
    db.session.commit()
    return jsonify(dictize(project, user, with_stats=False))


@bp.put("/project/<int:oid>")
def project_update(oid: int) -> Response:
    project, user = _managed(oid)
    values = _values(listing.body(), project.owner_id, project.id)
    try:
        lifecycle.apply_settings(project, values)
    except lifecycle.LifecycleError as exc:
        raise errors.conflict(str(exc)) from None
    except projects.ProjectError as exc:
        raise errors.bad_request(str(exc)) from None
    db.session.commit()
    return jsonify(dictize(project, user, with_stats=False))


@bp.delete("/project/<int:oid>")
def project_delete(oid: int) -> tuple[str, int]:
    project, user = _managed(oid)
    if not user.admin and services.has_results(project_id=project.id):
        raise errors.forbidden("The project has results; only an admin may delete it.")
    services.delete_row("project", project.id)
    db.session.commit()
    return "", 204
