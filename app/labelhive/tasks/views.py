"""The labeling page and the small JSON endpoints its script calls (session auth + CSRF header).

Every endpoint answers with the tasks the user now holds (the one on screen and the prefetched
one: :func:`labelhive.annotation.service.hold`) and the progress counts, so the page never needs
a second round trip before the next keypress. The annotation service does the work; a refusal
gets the status the API gives it (:mod:`labelhive.annotation.http`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from flask import session
from flask_login import current_user

from labelhive.accounts import services as accounts
from labelhive.annotation import http
from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.annotation.core import Refusal
from labelhive.extensions import limiter
from labelhive.projects import access
from labelhive.projects import refs
from labelhive.projects.refs import ProjectRef
from labelhive.security import TooDeep
from labelhive.security import check_json_depth
from labelhive.storage import scope
from labelhive.tasks import labeling
from labelhive.tasks import presenter
from labelhive.web import project_for
from labelhive.web import render_markdown

bp = Blueprint("tasks", __name__)


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
        # answers ``u`` may take back, so undo works after "All done" and after a reload
        undoable=labeling.undoable(project.id, current_user.id),
    )


class _Asker:
    """The signed-in user as the access rules see them (no ORM object)."""

    is_authenticated = True

    def __init__(self, caller: Caller) -> None:
        self.id = caller.id
        self.admin = caller.admin


def _caller() -> Caller:
    """Who asks, from the session cookie through the per-process session cache: these
    endpoints run on every answer, and need no more of the user than this."""
    owner = accounts.session_owner(session.get("_user_id"))
    if owner is None:
        raise _SignedOut()
    return Caller(owner.id, owner.admin)


class _SignedOut(Exception):
    pass


@bp.errorhandler(_SignedOut)
def _signed_out(_exc: _SignedOut) -> tuple[Response, int]:
    return jsonify(error="Please sign in again.", reason="signed_out"), 401


@bp.errorhandler(service.Refused)
def _refused(exc: service.Refused) -> tuple[Response, int]:
    # a project unpublished or deleted since this process cached it (projects.refs)
    return jsonify(error=str(exc), reason=exc.reason.value), http.STATUS[exc.reason]


def _json_project(ref: str) -> ProjectRef:
    """The project of the URL, as the labeling page's endpoints need it.

    The same answers as :func:`labelhive.web.project_for` (401 signed out, 404 unseen, 403 not
    allowed), from the per-process caches of sessions and projects; the annotation service
    checks the project again in its own statements.
    """
    caller = _caller()
    project = refs.resolve(ref)
    asker = _Asker(caller)
    if project is None or not access.can_see(asker, project):
        abort(404)
    if not access.can_contribute(asker, project):
        abort(403)
    return project


def _scope(project: ProjectRef) -> scope.S3Scope:
    return scope.scope_of(current_app.config, project_id=project.id, short_name=project.short_name)


def _state(project: ProjectRef, **extra: Any) -> dict[str, Any]:
    holding = service.hold(project.id, _caller())
    where = _scope(project)
    return {
        "tasks": [labeling.for_annotator(t, where) for t in holding.tasks],
        # only figures that move alike for gold and real tasks: the annotator's own answers
        # and the project's task count, gold included (a count of completed tasks would move
        # for a real answer and not for a gold one, and so point at the gold tasks)
        "progress": {"mine": holding.progress.answered, "total": holding.progress.tasks},
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
    return jsonify(_state(project))


@bp.post("/project/<ref>/label/answer")
@_limited
def answer(ref: str) -> Any:
    project = _json_project(ref)
    body = _json_body() or {}
    task_id = _int(body.get("task_id"))
    if task_id is None or "answer" not in body:
        return jsonify(error="Send task_id and answer.", reason="bad_request"), 400
    try:
        submitted = service.submit(
            task_id, _caller(), body["answer"], project_id=project.id, user_ip=request.remote_addr
        )
    except service.Refused as exc:
        status = http.STATUS[exc.reason]
        return jsonify(_state(project, error=str(exc), reason=exc.reason.value)), status
    return jsonify(_state(project, answer_id=submitted.answer["id"], task_id=task_id))


@bp.post("/project/<ref>/label/skip")
@_limited
def skip(ref: str) -> Any:
    project = _json_project(ref)
    task_id = _int((_json_body() or {}).get("task_id"))
    if task_id is None:
        return jsonify(error="Send task_id.", reason="bad_request"), 400
    service.skip(task_id, _caller().id)
    return jsonify(_state(project, skipped=task_id))


@bp.post("/project/<ref>/label/undo")
@_limited
def undo(ref: str) -> Any:
    project = _json_project(ref)
    body = _json_body() or {}
    answer_id = _int(body.get("answer_id"))
    if answer_id is None:
        return jsonify(error="Send answer_id.", reason="bad_request"), 400
    try:
        # the answer must be of this page's project, and its author still able to contribute
        claim = service.undo(answer_id, _caller(), project_id=project.id)
    except service.Refused as exc:
        if exc.reason == Refusal.FORBIDDEN:
            message = "You may no longer change answers in this project: it is not open to you."
            return jsonify(error=message, reason="forbidden"), 403
        message = (
            "Too late to undo: that task already has all its answers."
            if exc.reason == Refusal.TASK_COMPLETED
            else str(exc)
        )
        return jsonify(_state(project, error=message, reason=exc.reason.value)), 409
    release = _int(body.get("release_task_id"))
    if release is not None and release != claim.task["id"]:
        # the prefetched task makes room for the one taken back; the one on screen is kept
        service.release(release, _caller().id)
    return jsonify(_state(project, task=labeling.for_annotator(claim.task, _scope(project))))


@bp.post("/project/<ref>/label/heartbeat")
@_limited
def heartbeat(ref: str) -> Any:
    _json_project(ref)
    ids = (_json_body() or {}).get("task_ids")
    ids = (
        [i for i in ids if _int(i) is not None][: service.MAX_HELD] if isinstance(ids, list) else []
    )
    user_id = _caller().id
    renewed = {str(i): service.renew(i, user_id) is not None for i in ids}
    return jsonify(renewed=renewed)
