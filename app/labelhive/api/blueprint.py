"""The ``api`` blueprint, and JSON answers for paths and methods it does not serve.

A catch-all rule (werkzeug tries it last) turns unknown paths, trailing slashes and
non-integer ids into the JSON envelope instead of the site's HTML 404 page, and a method a
real route does not accept into a 405 envelope.
"""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint
from flask import current_app
from flask import request
from werkzeug.exceptions import HTTPException

from labelhive.api import auth
from labelhive.api import errors

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _refuse_nul() -> None:
    """A NUL character in the path or a query argument: 400 (PostgreSQL's text holds none, so
    it would fail in the database rather than match nothing)."""
    texts = [request.path, *request.args.keys(), *request.args.values()]
    if any("\x00" in text for text in texts):
        raise errors.bad_request("The URL holds a NUL character (%00); no value has one.")


bp.before_request(auth.authenticate)
errors.register(bp)

_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _allowed_methods() -> list[str]:
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != "api.unknown_route":
            allowed.append(method)
    return allowed


@bp.route("/", defaults={"path": ""}, methods=_METHODS)
@bp.route("/<path:path>", methods=_METHODS)
def unknown_route(path: str) -> NoReturn:
    allowed = _allowed_methods()
    if allowed:
        raise errors.ApiError(
            405,
            "MethodNotAllowed",
            f"{request.method} is not allowed here; use {', '.join(allowed)}.",
        )
    raise errors.not_found(f"No API endpoint at {request.path}.")
