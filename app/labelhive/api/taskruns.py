"""``/api/taskrun``: answers, submitted and changed only through the annotation service.

- POST ``{project_id, task_id, info}`` → :func:`labelhive.annotation.service.submit`; a task
  that already has all its answers gives 409 ``Conflict`` (PYBOSSA would over-collect).
- Managers read every answer of their projects; contributors read their own.
- PUT (the author only) replaces the answer: the service takes it back (``undo``, which leases
  the task to the author again) and submits the new one, so the answer gets a new id.
- DELETE (the author or a manager) takes the answer back and frees its slot.
Both refuse once the task is complete (its result used the answer), with 403 as PYBOSSA does,
and, for the author, once they may no longer contribute to the project (it was unpublished):
an answer is changed or taken back only while its author could still give it. Managers keep
their rights over their projects' answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response
from flask import jsonify

from labelhive.accounts.models import User
from labelhive.annotation import http
from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.annotation.core import Refusal
from labelhive.answers.models import Answer
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import query
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.projects import access
from labelhive.tasks import rules

RESERVED = ("id", "created", "finish_time")
POSTED = ("project_id", "task_id", "info", "external_uid", "calibration", "timeout")
# set by the server; PYBOSSA's clients may send them, they are ignored
SERVER_SET = ("user_id", "user_ip", "media_url")

# the author may no longer contribute (the project was unpublished): no more changes
NO_LONGER_OPEN = "You may no longer change answers in this project: it is not open to you."


def refusal(
    exc: service.Refused, forbidden: str = "You may not contribute to this project."
) -> errors.ApiError:
    """The envelope for a refusal, with the service's message (``forbidden`` for FORBIDDEN)."""
    status = http.STATUS[exc.reason]
    message = forbidden if exc.reason == Refusal.FORBIDDEN else str(exc)
    return errors.ApiError(status, http.EXCEPTION_CLASS[status], message)


def _readable(user: User, answer: Answer) -> bool:
    return answer.user_id == user.id or access.can_manage(user, services.project_of(answer))


def _submit(task_id: int, caller: Caller, info: Any, forbidden: str, **kwargs: Any) -> Response:
    try:
        submitted = service.submit(task_id, caller, info, **kwargs)
    except service.Refused as exc:
        raise refusal(exc, forbidden) from None
    return jsonify(serialize.answer(submitted.answer))


@bp.get("/taskrun")
def taskrun_list() -> Response:
    _, rows = listing.page("taskrun")
    user = auth.require_user()
    return jsonify([serialize.answer(a) for a in rows if _readable(user, a)])


@bp.get("/taskrun/<int:oid>")
def taskrun_get(oid: int) -> Response:
    answer = listing.one("taskrun", oid)
    user = auth.user()
    if user is None or not _readable(user, answer):
        raise errors.denied(user is not None, "Only the author and the project's managers may.")
    return jsonify(serialize.answer(answer))


@bp.post("/taskrun")
def taskrun_create() -> Response:
    user = auth.require_caller()
    values = payload.check_keys(
        listing.body(), model_name="TaskRun", reserved=RESERVED, writable=POSTED, ignored=SERVER_SET
    )
    task_id = payload.whole_number("task_id", values.get("task_id"), required=True)
    project_id = payload.whole_number("project_id", values.get("project_id"))
    external_uid = values.get("external_uid")
    if external_uid is not None and (not isinstance(external_uid, str) or len(external_uid) > 255):
        raise errors.bad_request("external_uid must be a string of at most 255 characters.")
    if not -query.MAX_INT <= task_id <= query.MAX_INT:  # no row has it; the driver would overflow
        raise refusal(service.Refused(Refusal.TASK_NOT_FOUND))
    # who may contribute is decided from the read of the task's project, under its row lock
    return _submit(
        task_id,
        Caller(user.id, user.admin),
        values.get("info"),
        "You may not contribute to this project.",
        project_id=project_id,
        external_uid=external_uid,
    )


@bp.put("/taskrun/<int:oid>")
def taskrun_update(oid: int) -> Response:
    answer = listing.one("taskrun", oid)
    user = auth.require_user()
    if answer.user_id != user.id:
        raise errors.forbidden("Only the answer's author may change it.")
    echoed: dict[str, Callable[[], Any]] = {
        name: functools.partial(getattr, answer, name) for name in serialize.ANSWER_FIELDS
    }
    echoed.update(calibration=lambda: None, media_url=lambda: None)
    for name in (*RESERVED, "info"):
        del echoed[name]
    values = payload.check_keys(
        listing.body(),
        model_name="TaskRun",
        reserved=RESERVED,
        writable=("info",),
        read_only=echoed,
    )
    if "info" not in values or values["info"] == answer.info:
        return jsonify(serialize.answer(answer))
    error = rules.answer_error(values["info"], services.project_of(answer).answer_options)
    if error:
        raise errors.bad_request(error)
    task_id, project_id, caller = answer.task_id, answer.project_id, Caller(user.id, user.admin)
    try:
        service.undo(oid, caller)
    except service.Refused as exc:
        raise refusal(exc, NO_LONGER_OPEN) from None
    return _submit(task_id, caller, values["info"], NO_LONGER_OPEN, project_id=project_id)


@bp.delete("/taskrun/<int:oid>")
def taskrun_delete(oid: int) -> tuple[str, int]:
    answer = listing.one("taskrun", oid)
    user = auth.user()
    if user is None or not (
        answer.user_id == user.id or access.can_manage(user, services.project_of(answer))
    ):
        raise errors.denied(user is not None, "Only the author and the project's managers may.")
    caller = Caller(user.id, user.admin)
    try:
        # a deletion frees the answer's slot (no lease back to the author)
        service.undo(oid, caller, author_id=answer.user_id, managers_too=True, keep_lease=False)
    except service.Refused as exc:
        raise refusal(exc, NO_LONGER_OPEN) from None
    return "", 204
