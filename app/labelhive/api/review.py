"""The review queue, reviewers' decisions, provenance and the per-item results browser
(LabelHive extensions; :mod:`labelhive.review`).

- ``GET /api/project/<id>/review?limit=&last_id=``: items that need review, in item id order.
- ``POST /api/project/<id>/review/<task_id>`` ``{"label": "cat"}`` sets the final label
  (method ``reviewed``); ``{"send_back": true}`` reopens the item for one more answer.
- ``GET /api/project/<id>/item/<task_id>``: provenance: the consensus, each answer with who
  gave it, and the review.
- ``GET /api/project/<id>/items?limit=&last_id=&<filters>``: the results browser's rows
  (:mod:`labelhive.review.filters`).
- ``GET|POST /api/project/<id>/reviewers``, ``DELETE /api/project/<id>/reviewers/<user_id>``:
  who may review (``{"name": "alice"}`` grants).

Reviewers and managers may use the queue, decide and read provenance; the browser and the
reviewer list are the managers' (owners and admins).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import serialize
from labelhive.api.blueprint import bp
from labelhive.api.consensus import _managed
from labelhive.api.consensus import _whole
from labelhive.api.consensus import serialize_item
from labelhive.api.query import MAX_INT
from labelhive.api.query import MAX_LIMIT
from labelhive.extensions import db
from labelhive.projects import access
from labelhive.projects.models import Project
from labelhive.review import browse
from labelhive.review import filters as browse_filters
from labelhive.review import rules
from labelhive.review import services as review
from labelhive.tasks.images import image_url_for

DEFAULT_LIMIT = 20


def _reviewable(oid: int) -> Project:
    project = listing.one("project", oid)
    user = auth.user()
    reviewer = user is not None and review.is_reviewer(project.id, user.id)
    if not access.can_review(user, project, reviewer=reviewer):
        raise errors.denied(user is not None, "Only the project's reviewers and owners may.")
    return project


def _item_id(task_id: int) -> int:
    # no task has a larger id, and the database's integer would overflow
    if task_id > MAX_INT:
        raise errors.not_found(f"No task {task_id}.")
    return task_id


def _review_error(exc: review.ReviewError) -> errors.ApiError:
    if exc.status == 404:
        return errors.not_found(str(exc))
    return errors.conflict(str(exc))


def serialize_provenance(project: Project, found: review.Provenance) -> dict[str, Any]:
    row = found.consensus
    return {
        "item_id": found.task.id,
        "task_id": found.task.id,
        "image": image_url_for(found.task.info, project),
        "info": found.task.info,
        "gold": found.task.gold_answer is not None,
        "gold_answer": found.task.gold_answer,
        "consensus": serialize_item(row) if row is not None else None,
        "answers": [
            {
                "user_id": vote.user_id,
                "user_name": vote.user_name,
                "label": vote.label,
                "finish_time": serialize.iso(vote.finish_time),
            }
            for vote in found.votes
        ],
        "review": {
            "state": row.review_state if row is not None else rules.NONE,
            "reasons": found.reasons,
            "reviewed_by": row.reviewed_by if row is not None else None,
            "reviewer_name": found.reviewer_name,
            "reviewed_at": serialize.iso(row.reviewed_at) if row is not None else None,
        },
    }


@bp.get("/project/<int:oid>/review")
def review_queue(oid: int) -> Response:
    project = _reviewable(oid)
    limit = _whole("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    last_id = _whole("last_id", 0, low=0, high=MAX_INT)
    rows = review.queue_page(project.id, last_id, limit)
    return jsonify([serialize_item(row) for row in rows])


@bp.post("/project/<int:oid>/review/<int:task_id>")
def review_decide(oid: int, task_id: int) -> Response:
    project = _reviewable(oid)
    task_id = _item_id(task_id)
    body = listing.body()
    unknown = sorted(set(body) - {"label", "send_back"})
    if unknown:
        raise errors.bad_request(f"Unknown key {unknown[0]!r}: send label, or send_back: true.")
    if ("label" in body) == bool(body.get("send_back")):
        raise errors.bad_request("Send either label (the final label) or send_back: true.")
    if "send_back" in body and body["send_back"] is not True:
        raise errors.bad_request("send_back must be true.")
    reviewer = auth.user()
    if reviewer is None:  # _reviewable refused anonymous callers already
        raise errors.denied(False)
    reviewer_id, project_id = reviewer.id, project.id
    # the decision runs its own transaction: end the request's read first (SQLite's lock)
    db.session.rollback()
    project = _project_again(project_id)
    try:
        if body.get("send_back"):
            review.send_back(db.engine, project, task_id, reviewer_id)
        else:
            review.decide(db.engine, project, task_id, body["label"], reviewer_id)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    except review.ReviewError as exc:
        raise _review_error(exc) from None
    db.session.rollback()
    project = _project_again(project_id)
    return jsonify(serialize_provenance(project, review.provenance(project, task_id)))


@bp.get("/project/<int:oid>/item/<int:task_id>")
def item_provenance(oid: int, task_id: int) -> Response:
    project = _reviewable(oid)
    task_id = _item_id(task_id)
    try:
        found = review.provenance(project, task_id)
    except review.ReviewError as exc:
        raise _review_error(exc) from None
    return jsonify(serialize_provenance(project, found))


@bp.get("/project/<int:oid>/items")
def item_list(oid: int) -> Response:
    project = _managed(oid)
    limit = _whole("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    last_id = _whole("last_id", 0, low=0, high=MAX_INT)
    try:
        chosen = browse_filters.parse(request.args)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    rows = browse.page(project.id, chosen, last_id, limit)
    return jsonify(
        [serialize_item(row) | {"image": image_url_for(info, project)} for row, info in rows]
    )


@bp.get("/project/<int:oid>/reviewers")
def reviewer_list(oid: int) -> Response:
    project = _managed(oid)
    return jsonify(
        [
            {"user_id": row.user_id, "name": name, "created": serialize.iso(row.created)}
            for row, name in review.reviewers(project.id)
        ]
    )


def _project_again(project_id: int) -> Project:
    """The project read anew after the request's transaction ended: 404 if deleted since."""
    project = db.session.get(Project, project_id)
    if project is None:
        raise errors.not_found("The project was deleted.")
    return project


@bp.post("/project/<int:oid>/reviewers")
def reviewer_grant(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    body = listing.body()
    name = body.get("name")
    if set(body) != {"name"} or not isinstance(name, str) or not name.strip():
        raise errors.bad_request('Send {"name": "<user name>"}: the user to make a reviewer.')
    granter = auth.user()
    try:
        row = review.grant(project, name.strip(), granter.id if granter else None)
    except review.ReviewError as exc:
        raise _review_error(exc) from None
    db.session.commit()
    return jsonify({"user_id": row.user_id, "name": name.strip()}), 201


@bp.delete("/project/<int:oid>/reviewers/<int:user_id>")
def reviewer_revoke(oid: int, user_id: int) -> tuple[str, int]:
    project = _managed(oid)
    if not review.revoke(project.id, user_id):
        raise errors.not_found(f"User {user_id} is not a reviewer of project {project.id}.")
    db.session.commit()
    return "", 204
