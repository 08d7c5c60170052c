"""Handing out work: ``newtask``, ``userprogress``, and LabelHive's lease endpoints.

Every task is handed out by :func:`labelhive.annotation.service.claim`, which leases it to the
caller (one lease per user per project: asking again returns the same task until it is answered,
released or expired). So ``newtask`` gives at most one task whatever ``limit`` and ``offset``
say; with ``limit`` above 1 the answer is a list (of at most one task) rather than an object.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from labelhive.accounts.models import User
from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.annotation.core import Refusal
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import query
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.projects import access
from labelhive.projects import services as projects
from labelhive.projects.models import Project
from labelhive.tasks.images import image_key
from labelhive.tasks.images import image_url_for


def _project(ref: str) -> tuple[Project, User]:
    # services.project_id_of reads ASCII digits in the id range only: "³", "１" or 2**40 name
    # no project (by_id_or_short_name would pass them to int() or to the database)
    project_id = services.project_id_of(ref)
    project = projects.get(project_id) if project_id is not None else None
    if project is None:
        raise errors.not_found(f"Project {ref} does not exist.")
    user = auth.user()
    if user is None:
        raise errors.unauthorized("Sign in or send your API key to contribute to this project.")
    if not access.can_contribute(user, project):
        raise errors.forbidden("This project is not published.")
    return project, user


def _limit(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 100)
    except ValueError:
        return 1


@bp.get("/project/<ref>/newtask")
def new_task(ref: str) -> Response:
    # the hot path: no ORM, no session; the claim reads the project and decides who may
    # contribute from the same read, so a claim is one statement once warm
    user = auth.caller()
    if user is None:
        raise errors.unauthorized("Sign in or send your API key to contribute to this project.")
    project_id = services.project_id_of(ref)
    as_list = _limit(request.args.get("limit")) > 1
    if project_id is None:
        raise errors.not_found(f"Project {ref} does not exist.")
    try:
        claim = service.claim(project_id, Caller(user.id, user.admin))
    except service.Refused as refused:
        if refused.reason == Refusal.PROJECT_NOT_FOUND:
            raise errors.not_found(f"Project {ref} does not exist.") from None
        raise errors.forbidden("This project is not published.") from None
    tasks = [] if claim is None else [_with_image_url(serialize.task(claim.task, manager=False))]
    if as_list:
        return jsonify(tasks)
    return jsonify(tasks[0] if tasks else {})


def _with_image_url(item: dict[str, Any]) -> dict[str, Any]:
    """Add ``image_url`` for a private (``s3://``) image: a presigned URL through the proxy.

    Only here: ``newtask`` has just leased the task to the caller. ``info`` is left as stored.
    """
    info = item.get("info")
    key = image_key(info)  # a key only of a dict
    if key is not None and isinstance(info, dict) and info[key].strip().startswith("s3://"):
        # the project's storage decides (labelhive.storage.scope); only s3:// tasks pay the read
        project = db.session.get(Project, item["project_id"])
        item["image_url"] = None if project is None else image_url_for(info, project)
    return item


@bp.get("/project/<ref>/userprogress")
def user_progress(ref: str) -> Response:
    project, user = _project(ref)
    progress = service.progress(project.id, user.id)
    return jsonify({"done": progress.answered, "total": progress.tasks})


def _contributor(oid: int) -> tuple[int, int]:
    task = listing.one("task", oid)
    user = auth.require_user()
    if not access.can_contribute(user, services.project_of(task)):
        raise errors.forbidden("You may not contribute to this project.")
    return task.id, user.id


@bp.post("/task/<int:oid>/lease/renew")
def lease_renew(oid: int) -> Response:
    task_id, user_id = _contributor(oid)
    expires = service.renew(task_id, user_id)
    if expires is None:
        raise errors.not_found(
            f"You hold no lease on task {task_id}: it expired or was answered; ask for a new task."
        )
    body: dict[str, Any] = {"task_id": task_id, "expires_at": serialize.iso(expires)}
    return jsonify(body)


@bp.delete("/task/<int:oid>/lease")
def lease_release(oid: int) -> tuple[str, int]:
    task_id, user_id = _contributor(oid)
    if query.is_true(request.args.get("skip")):
        service.skip(task_id, user_id)
    else:
        service.release(task_id, user_id)
    # idempotent: releasing a lease that is already gone is not an error
    return "", 204
