"""``/api/result``: written by the engine when a task completes; managers read them and fill
``info`` (e.g. from a webhook receiver). Lists show only the last version unless
``last_version`` is given."""

from __future__ import annotations

from typing import NoReturn

from flask import Response
from flask import jsonify

from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.projects import access

RESERVED = ("id", "created", "project_id", "task_id", "task_run_ids", "last_version")


@bp.get("/result")
def result_list() -> Response:
    _, rows = listing.page("result")
    user = auth.user()
    return jsonify(
        [serialize.result(r) for r in rows if access.can_manage(user, services.project_of(r))]
    )


@bp.get("/result/<int:oid>")
def result_get(oid: int) -> Response:
    result = listing.one("result", oid)
    user = auth.user()
    if not access.can_manage(user, services.project_of(result)):
        raise errors.denied(user is not None, "Only the project's owners and admins may.")
    return jsonify(serialize.result(result))


@bp.put("/result/<int:oid>")
def result_update(oid: int) -> Response:
    result = listing.one("result", oid)
    user = auth.user()
    if not access.can_manage(user, services.project_of(result)):
        raise errors.denied(user is not None, "Only the project's owners and admins may.")
    values = payload.check_keys(
        listing.body(), model_name="Result", reserved=RESERVED, writable=("info",)
    )
    if "info" in values:
        result.info = values["info"]
    db.session.commit()
    return jsonify(serialize.result(result))


@bp.post("/result")
def result_create() -> NoReturn:
    raise errors.denied(
        auth.user() is not None, "Results are written by the server when a task completes."
    )


@bp.delete("/result/<int:oid>")
def result_delete(oid: int) -> NoReturn:
    listing.one("result", oid)
    raise errors.denied(auth.user() is not None, "Results cannot be deleted.")
