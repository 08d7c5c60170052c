"""``/api/taskrun``: answers, submitted and changed only through the claim/submit engine.

- POST ``{project_id, task_id, info}`` → :func:`labelhive.tasks.engine.submit`; a task that
  already has all its answers gives 409 ``Conflict`` (PYBOSSA would over-collect).
- Managers read every answer of their projects; contributors read their own.
- PUT (the author only) replaces the answer: the engine takes it back (``undo``, which leases
  the task to the author again) and submits the new one, so the answer gets a new id.
- DELETE (the author or a manager) takes the answer back and frees its slot.
Both refuse once the task is complete (its result used the answer), with 403 as PYBOSSA does,
and, for the author, once they may no longer contribute to the project (it was unpublished):
an answer is changed or taken back only while its author could still give it. Managers keep
their rights over their projects' answers.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import query
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.projects import access
from labelhive.results import adaptive
from labelhive.tasks import engine
from labelhive.tasks import rules
from labelhive.tasks.engine import EngineError
from labelhive.tasks.rules import Refusal

RESERVED = ("id", "created", "finish_time")
POSTED = ("project_id", "task_id", "info", "external_uid", "calibration", "timeout")
# set by the server; PYBOSSA's clients may send them, they are ignored
SERVER_SET = ("user_id", "user_ip", "media_url")

_STATUS = {
    Refusal.NO_ROOM: (409, "Conflict"),
    Refusal.ALREADY_ANSWERED: (409, "Conflict"),
    Refusal.INVALID_ANSWER: (400, "BadRequest"),
    # PYBOSSA answers an unknown or mismatched task with 403 "Invalid task_id/project_id"
    Refusal.TASK_NOT_FOUND: (403, "Forbidden"),
    Refusal.WRONG_PROJECT: (403, "Forbidden"),
    Refusal.TASK_COMPLETED: (403, "Forbidden"),
}


def refusal(exc: EngineError) -> errors.ApiError:
    """The envelope for an engine refusal, with the engine's message."""
    status, cls = _STATUS[exc.reason]
    return errors.ApiError(status, cls, str(exc))


def _readable(user: User, answer: Answer) -> bool:
    return answer.user_id == user.id or access.can_manage(user, services.project_of(answer))


def _contributing(user: User, *, managers_too: bool = False) -> engine.Authorize:
    """An ``authorize`` for the engine: the author must still be able to contribute.

    :param managers_too: the project's managers pass as well (DELETE).
    """

    def authorize(project: engine.ProjectRef | None) -> None:
        if project is None:
            raise errors.forbidden("You may not contribute to this project.")
        if managers_too and access.can_manage(user, project):
            return
        if not access.can_contribute(user, project):
            raise errors.forbidden(
                "You may no longer change answers in this project: it is not open to you."
            )

    return authorize


def _submit(task_id: int, user_id: int, info: Any, **kwargs: Any) -> Response:
    try:
        submitted = engine.submit(db.engine, task_id, user_id, info, **kwargs)
    except EngineError as exc:
        raise refusal(exc) from None
    adaptive.after_submit(db.engine, submitted)
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
        raise refusal(EngineError(Refusal.TASK_NOT_FOUND))

    # the engine reads the task's project under the task's row lock, with all else it checks
    def authorize(project: engine.ProjectRef | None) -> None:
        if project is None or not access.can_contribute(user, project):
            raise errors.forbidden("You may not contribute to this project.")

    user_id = user.id
    services.end_transaction()
    return _submit(
        task_id,
        user_id,
        values.get("info"),
        project_id=project_id,
        external_uid=external_uid,
        authorize=authorize,
    )


@bp.put("/taskrun/<int:oid>")
def taskrun_update(oid: int) -> Response:
    answer = listing.one("taskrun", oid)
    user = auth.require_user()
    if answer.user_id != user.id:
        raise errors.forbidden("Only the answer's author may change it.")
    echoed = {name: (lambda n=name: getattr(answer, n)) for name in serialize.ANSWER_FIELDS}
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
    task_id, project_id, user_id = answer.task_id, answer.project_id, user.id
    services.end_transaction()
    authorize = _contributing(user)
    try:
        engine.undo(db.engine, oid, user_id, authorize=authorize)
    except EngineError as exc:
        raise refusal(exc) from None
    return _submit(task_id, user_id, values["info"], project_id=project_id, authorize=authorize)


@bp.delete("/taskrun/<int:oid>")
def taskrun_delete(oid: int) -> tuple[str, int]:
    answer = listing.one("taskrun", oid)
    user = auth.user()
    if user is None or not (
        answer.user_id == user.id or access.can_manage(user, services.project_of(answer))
    ):
        raise errors.denied(user is not None, "Only the author and the project's managers may.")
    task_id, author_id = answer.task_id, answer.user_id
    services.end_transaction()
    try:
        engine.undo(db.engine, oid, author_id, authorize=_contributing(user, managers_too=True))
    except EngineError as exc:
        raise refusal(exc) from None
    # undo leased the task back to the author; a deletion frees the slot instead
    engine.release(db.engine, task_id, author_id)
    return "", 204
