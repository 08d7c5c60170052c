"""Annotators excluded from a project's consensus (LabelHive extension;
:mod:`labelhive.review.exclusions`).

- ``GET /api/project/<id>/exclusions``: the excluded annotators, who excluded them and when;
- ``POST /api/project/<id>/exclusions`` ``{"user_id": 7}`` or ``{"name": "bob"}``: leave the
  annotator's answers out of consensus (201; 200 if they were excluded already);
- ``DELETE /api/project/<id>/exclusions/<user_id>``: count them again (204).

A change asks for a consensus recomputation (one job per project, merged): the labels follow
when it has run. Managers of the project only (owners and admins).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify

from labelhive import starters
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import serialize
from labelhive.api.blueprint import bp
from labelhive.api.consensus import _managed
from labelhive.api.query import MAX_INT
from labelhive.extensions import db
from labelhive.review import exclusions


def serialize_exclusion(row: exclusions.Excluded) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "name": row.name,
        "excluded_by": row.excluded_by,
        "excluded_by_name": row.excluded_by_name,
        "excluded_at": serialize.iso(row.excluded_at),
    }


def _error(exc: exclusions.ExclusionError) -> errors.ApiError:
    if exc.status == 404:
        return errors.not_found(str(exc))
    return errors.bad_request(str(exc))


def _who(body: dict[str, Any]) -> dict[str, Any]:
    """``{"user_id": <int>}`` or ``{"name": <str>}``, exactly one of them."""
    usage = 'Send {"user_id": <id>} or {"name": "<user name>"}: the annotator to exclude.'
    if len(body) != 1:
        raise errors.bad_request(usage)
    user_id, name = body.get("user_id"), body.get("name")
    if isinstance(user_id, int) and not isinstance(user_id, bool) and 0 < user_id <= MAX_INT:
        return {"user_id": user_id}
    if isinstance(name, str) and name.strip():
        return {"name": name.strip()}
    raise errors.bad_request(usage)


@bp.get("/project/<int:oid>/exclusions")
def exclusion_list(oid: int) -> Response:
    project = _managed(oid)
    return jsonify([serialize_exclusion(row) for row in exclusions.excluded(project.id)])


@bp.post("/project/<int:oid>/exclusions")
def exclusion_add(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    who = _who(listing.body())
    caller = auth.user()
    try:
        user = exclusions.find_user(**who)
        row, created = exclusions.exclude(project, user, caller.id if caller else None)
    except exclusions.ExclusionError as exc:
        raise _error(exc) from None
    db.session.commit()
    body = serialize_exclusion(row)
    if created:
        body["job_id"] = starters.start_recompute(project, caller).id
    return jsonify(body), 201 if created else 200


@bp.delete("/project/<int:oid>/exclusions/<int:user_id>")
def exclusion_remove(oid: int, user_id: int) -> tuple[str, int]:
    project = _managed(oid)
    if not exclusions.include(project.id, user_id):
        raise errors.not_found(f"User {user_id} is not excluded from project {project.id}.")
    db.session.commit()
    starters.start_recompute(project, auth.user())
    return "", 204
