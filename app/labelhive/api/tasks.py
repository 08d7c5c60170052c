"""``/api/task``: private project data, read and written by the project's managers.

A contributor may also read a single task they hold a lease on or answered (``pybossa.js``
fetches ``/api/task/<id>``), without its gold answer. Redundancy changes go through
:func:`labelhive.annotation.service.set_redundancy`, which locks the rows and completes or reopens
tasks (writing results) as the new ``n_answers`` requires. An ``s3://`` image in ``info`` must
be inside the project's storage (:mod:`labelhive.storage.scope`), or the write is a 400.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Response
from flask import jsonify

from labelhive.accounts.models import User
from labelhive.annotation import service as annotation
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.projects import access
from labelhive.projects.models import Project
from labelhive.storage import scope
from labelhive.tasks import rules
from labelhive.tasks import schemas
from labelhive.tasks.models import Task

RESERVED = ("id", "created", "state", "fav_user_ids")
WRITABLE = ("info", "n_answers", "priority_0", "quorum", "calibration", "gold_answer")


def _validated(values: dict[str, Any], project: Project) -> dict[str, Any]:
    """Check and normalise writable task values.

    :raise errors.ApiError: 400 with a sentence naming the value.
    """
    out = dict(values)
    if "n_answers" in out:
        try:
            out["n_answers"] = rules.validate_n_answers(out["n_answers"])
        except ValueError as exc:
            raise errors.bad_request(f"{exc}.") from None
    if "priority_0" in out:
        value = out["priority_0"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise errors.bad_request(f"priority_0 must be a finite number, not {value!r}.")
        out["priority_0"] = float(value)
    for name in ("quorum", "calibration"):
        if name in out:
            out[name] = payload.whole_number(name, out[name], required=True)
    if "info" in out:
        out["info"] = {} if out["info"] is None else out["info"]
        if not isinstance(out["info"], dict):
            raise errors.bad_request("info must be a JSON object.")
        try:
            # another bucket or another project's prefix: the app's credentials reach them
            scope.for_project(project).check_info(out["info"])
        except scope.OutsideScope as exc:
            raise errors.bad_request(f"info: {exc}") from None
    if "gold_answer" in out and out["gold_answer"] == "":
        out["gold_answer"] = None
    error = schemas.gold_error(out.get("gold_answer"), project.answer_options)
    if error is not None:
        raise errors.bad_request(f"gold_answer: {error}")
    return out


def _managed(oid: int) -> tuple[Task, Project, User]:
    task = listing.one("task", oid)
    project = services.project_of(task)
    user = auth.user()
    if user is None or not access.can_manage(user, project):
        raise errors.denied(user is not None, "Only the project's owners and admins may do this.")
    return task, project, user


@bp.get("/task")
def task_list() -> Response:
    _, rows = listing.page("task")
    user = auth.user()
    items = []
    for task in rows:
        if access.can_manage(user, services.project_of(task)):
            items.append(serialize.task(task, manager=True))
    return jsonify(items)


@bp.get("/task/<int:oid>")
def task_get(oid: int) -> Response:
    task = listing.one("task", oid)
    project = services.project_of(task)
    user = auth.user()
    if access.can_manage(user, project):
        return jsonify(serialize.task(task, manager=True))
    if user is not None and access.can_see(user, project) and services.works_on(oid, user.id):
        return jsonify(serialize.task(task, manager=False))
    raise errors.denied(user is not None, "Only the project's owners and admins may read tasks.")


@bp.post("/task")
def task_create() -> Response:
    user = auth.require_user()
    body = listing.body()
    values = payload.check_keys(
        body, model_name="Task", reserved=RESERVED, writable=(*WRITABLE, "project_id")
    )
    project_id = payload.whole_number("project_id", values.pop("project_id", None), required=True)
    project = services.get("project", project_id)
    if project is None:
        raise errors.not_found(f"Project {project_id} does not exist.")
    if not access.can_manage(user, project):
        raise errors.forbidden("Only the project's owners and admins may add tasks.")
    values = _validated(values, project)
    values.setdefault("n_answers", project.default_n_answers)
    task = services.create_task(project, values)
    db.session.commit()
    return jsonify(serialize.task(task, manager=True))


@bp.put("/task/<int:oid>")
def task_update(oid: int) -> Response:
    task, project, _ = _managed(oid)
    values = payload.check_keys(
        listing.body(),
        model_name="Task",
        reserved=RESERVED,
        writable=WRITABLE,
        read_only={"project_id": lambda: task.project_id},
    )
    values = _validated(values, project)
    current = task.n_answers
    n_answers = values.pop("n_answers", current)
    for name, value in values.items():
        setattr(task, name, value)
    # nothing may be read between this commit and the engine call: on SQLite a read would
    # start a snapshot that does not see the engine's change
    services.end_transaction()
    if n_answers != current:
        # under the task's row lock: completes (with a result) or reopens it as needed
        annotation.set_redundancy(n_answers, task_ids=[oid], engine=db.engine)
        db.session.refresh(task)
    return jsonify(serialize.task(task, manager=True))


@bp.delete("/task/<int:oid>")
def task_delete(oid: int) -> tuple[str, int]:
    task, _, user = _managed(oid)
    if not user.admin and services.has_results(task_id=task.id):
        raise errors.forbidden("The task has a result; only an admin may delete it.")
    services.delete_row("task", task.id)
    db.session.commit()
    return "", 204
