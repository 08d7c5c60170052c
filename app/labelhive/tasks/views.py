"""The labeling page and the small JSON endpoints its script calls (session auth + CSRF header).

Every endpoint answers with the tasks the user now holds (see :mod:`labelhive.tasks.labeling`:
the one on screen and the prefetched one) and the progress counts, so the page never needs a
second round trip before the next keypress.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from flask_login import current_user

from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.projects import access
from labelhive.projects.models import Project
from labelhive.results import adaptive
from labelhive.security import TooDeep
from labelhive.security import check_json_depth
from labelhive.storage import scope
from labelhive.tasks import engine
from labelhive.tasks import labeling
from labelhive.tasks import presenter
from labelhive.tasks.rules import Refusal
from labelhive.web import project_for
from labelhive.web import render_markdown

bp = Blueprint("tasks", __name__)

# refusals that mean "the client sent something wrong", not "the task moved on"
_BAD_REQUEST = {Refusal.INVALID_ANSWER, Refusal.TASK_NOT_FOUND, Refusal.WRONG_PROJECT}


def labeling_limit() -> str:
    """The labeling page's limit (``RATELIMIT_LABELING``), shared by its endpoints, per user.

    The site's default (300 per route per 15 min) would stop someone who labels an image every
    two seconds after ten minutes; this one allows a fast annotator all day and still stops a
    script hammering the engine.
    """
    return str(current_app.config.get("RATELIMIT_LABELING") or "1200 per 600 seconds")


_limited = limiter.shared_limit(labeling_limit, scope="labeling")


@bp.get("/project/<ref>/label")
@_limited
def label(ref: str) -> Any:
    project = project_for(ref, "contribute")
    if presenter.uses_presenter(project):
        # the owner's HTML, in a sandboxed frame (see labelhive.tasks.presenter)
        return render_template("tasks/presenter.html", project=project)
    ttl = project.lease_ttl
    return render_template(
        "tasks/label.html",
        project=project,
        instructions=render_markdown((project.info or {}).get("instructions")),
        # renew well before expiry, but not more than every 5 s
        heartbeat_ms=max(5, min(ttl // 3, 120)) * 1000,
    )


def _json_project(ref: str) -> Project | tuple[Response, int]:
    if not access.is_signed_in(current_user):
        return jsonify(error="Please sign in again.", reason="signed_out"), 401
    return project_for(ref, "contribute")


def _state(project: Project, **extra: Any) -> dict[str, Any]:
    tasks = labeling.top_up(db.engine, project.id, current_user.id)
    where = scope.for_project(project)
    return {
        "tasks": [labeling.for_annotator(t, where) for t in tasks],
        # only figures that move alike for gold and real tasks: the annotator's own answers
        # and the project's task count, gold included (a count of completed tasks would move
        # for a real answer and not for a gold one, and so point at the gold tasks)
        "progress": {
            "mine": labeling.answered_by(project.id, current_user.id),
            "total": labeling.task_count(project.id),
        },
        **extra,
    }


def _json_body() -> Any:
    """The request's JSON (``None`` if it is not JSON).

    :raise TooDeep: nested deeper than :data:`labelhive.security.MAX_JSON_DEPTH`.
    """
    try:
        return check_json_depth(request.get_json(silent=True), "The body")
    except RecursionError:
        raise TooDeep("The body") from None


@bp.errorhandler(TooDeep)
def _too_deep(exc: TooDeep) -> tuple[Response, int]:
    return jsonify(error=str(exc), reason="bad_request"), 400


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@bp.post("/project/<ref>/label/state")
@_limited
def state(ref: str) -> Any:
    project = _json_project(ref)
    if not isinstance(project, Project):
        return project
    return jsonify(_state(project))


@bp.post("/project/<ref>/label/answer")
@_limited
def answer(ref: str) -> Any:
    project = _json_project(ref)
    if not isinstance(project, Project):
        return project
    body = _json_body() or {}
    task_id = _int(body.get("task_id"))
    if task_id is None or "answer" not in body:
        return jsonify(error="Send task_id and answer.", reason="bad_request"), 400
    try:
        submitted = engine.submit(
            db.engine,
            task_id,
            current_user.id,
            body["answer"],
            project_id=project.id,
            user_ip=request.remote_addr,
        )
    except engine.EngineError as exc:
        if exc.reason == Refusal.ALREADY_ANSWERED:
            # the lease is still held: give it back so the task is not shown again
            engine.release(db.engine, task_id, current_user.id)
        status = 400 if exc.reason in _BAD_REQUEST else 409
        return jsonify(_state(project, error=str(exc), reason=exc.reason.value)), status
    adaptive.after_submit(db.engine, submitted)
    return jsonify(_state(project, answer_id=submitted.answer["id"], task_id=task_id))


@bp.post("/project/<ref>/label/skip")
@_limited
def skip(ref: str) -> Any:
    project = _json_project(ref)
    if not isinstance(project, Project):
        return project
    task_id = _int((_json_body() or {}).get("task_id"))
    if task_id is None:
        return jsonify(error="Send task_id.", reason="bad_request"), 400
    engine.release(db.engine, task_id, current_user.id, skip=True)
    return jsonify(_state(project, skipped=task_id))


class _NoLongerOpen(Exception):
    """The answer's author may no longer contribute to its project."""


@bp.post("/project/<ref>/label/undo")
@_limited
def undo(ref: str) -> Any:
    project = _json_project(ref)
    if not isinstance(project, Project):
        return project
    body = _json_body() or {}
    answer_id = _int(body.get("answer_id"))
    if answer_id is None:
        return jsonify(error="Send answer_id.", reason="bad_request"), 400
    user = current_user._get_current_object()

    # read by the engine under the task's lock: the answer must be of this page's project, and
    # its author must still be able to contribute there
    def authorize(where: engine.ProjectRef | None) -> None:
        if where is None or where.id != project.id:
            raise engine.EngineError(Refusal.TASK_NOT_FOUND, "No such answer of yours to undo.")
        if not access.can_contribute(user, where):
            raise _NoLongerOpen()

    try:
        claim = engine.undo(db.engine, answer_id, current_user.id, authorize=authorize)
    except _NoLongerOpen:
        message = "You may no longer change answers in this project: it is not open to you."
        return jsonify(error=message, reason="forbidden"), 403
    except engine.EngineError as exc:
        message = (
            "Too late to undo: that task already has all its answers."
            if exc.reason == Refusal.TASK_COMPLETED
            else str(exc)
        )
        return jsonify(_state(project, error=message, reason=exc.reason.value)), 409
    release = _int(body.get("release_task_id"))
    if release is not None and release != claim.task["id"]:
        # the prefetched task makes room for the one taken back; the one on screen is kept
        engine.release(db.engine, release, current_user.id)
    return jsonify(_state(project, task=labeling.for_annotator(claim.task, project)))


@bp.post("/project/<ref>/label/heartbeat")
@_limited
def heartbeat(ref: str) -> Any:
    project = _json_project(ref)
    if not isinstance(project, Project):
        return project
    ids = (_json_body() or {}).get("task_ids")
    ids = (
        [i for i in ids if _int(i) is not None][: labeling.MAX_HELD]
        if isinstance(ids, list)
        else []
    )
    renewed = {str(i): engine.renew(db.engine, i, current_user.id) is not None for i in ids}
    return jsonify(renewed=renewed)
