"""API errors and PYBOSSA's JSON error envelope.

Every error under ``/api`` is answered with::

    {"status": "failed", "status_code": 404, "target": "task", "action": "GET",
     "exception_cls": "NotFound", "exception_msg": "..."}

``target`` is the resource named by the path (``/api/project/1/newtask`` → ``project``), as
PYBOSSA's clients map errors by it; ``action`` is the HTTP method.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from labelhive import outage
from labelhive.extensions import db

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered with the envelope; ``cls`` is PYBOSSA's ``exception_cls``."""

    def __init__(self, status: int, cls: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.cls = cls
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized(message: str = "Sign in or send your API key to do this.") -> ApiError:
    return ApiError(401, "Unauthorized", message)


def forbidden(message: str = "You are not allowed to do this.") -> ApiError:
    return ApiError(403, "Forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "Conflict", message)


def unsupported(cls: str, message: str) -> ApiError:
    """415, PYBOSSA's status for ``ValueError``, ``TypeError``, ``AttributeError`` and
    ``DBIntegrityError``."""
    return ApiError(415, cls, message)


def denied(signed_in: bool, message: str = "You are not allowed to do this.") -> ApiError:
    """401 for anonymous callers, 403 for signed-in ones (PYBOSSA's rule)."""
    return forbidden(message) if signed_in else unauthorized()


def target() -> str:
    """The resource an ``/api/...`` path names: its first segment after ``/api/``."""
    parts = request.path.split("/")
    return parts[2] if len(parts) > 2 and parts[2] else "api"


def envelope(status: int, cls: str, message: str) -> tuple[Response, int]:
    body = {
        "action": request.method,
        "exception_cls": cls,
        "exception_msg": message,
        "status": "failed",
        "status_code": status,
        # PYBOSSA's 429s name the request path ("/api/task"), other errors the resource
        "target": request.path if status == 429 else target(),
    }
    return jsonify(body), status


def _api_error(exc: ApiError) -> tuple[Response, int]:
    db.session.rollback()
    return envelope(exc.status, exc.cls, exc.message)


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    db.session.rollback()
    code = exc.code or 500
    # Flask-Limiter raises a subclass; PYBOSSA's clients know werkzeug's name
    cls = "TooManyRequests" if code == 429 else type(exc).__name__
    if code == 413:
        from labelhive.security import too_large_message

        return envelope(code, cls, too_large_message())
    return envelope(code, cls, exc.description or exc.name)


def _integrity_error(exc: IntegrityError) -> tuple[Response, int]:
    db.session.rollback()
    # a race the pre-checks could not see (two creates with one short_name at once)
    log.info("integrity error in the API: %s", exc.orig)
    message = "The change conflicts with existing data (a duplicate or missing value)."
    return envelope(415, "DBIntegrityError", message)


def _database_unavailable(exc: Exception) -> tuple[Response, int]:
    outage.forget_session()
    outage.log_outage(exc)
    response, status = envelope(503, "ServiceUnavailable", outage.MESSAGE)
    response.headers["Retry-After"] = str(outage.RETRY_AFTER_SECONDS)
    return response, status


def _unexpected(exc: Exception) -> tuple[Response, int]:
    if outage.is_outage(exc):
        return _database_unavailable(exc)
    db.session.rollback()
    log.exception("unhandled error in %s %s", request.method, request.path)
    return envelope(500, type(exc).__name__, "Internal server error; the error was logged.")


def register(bp: Blueprint) -> None:
    """Answer every error raised in ``bp``'s views with the envelope."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(IntegrityError, _integrity_error)
    for cls in outage.OUTAGE_ERRORS:
        bp.register_error_handler(cls, _database_unavailable)
    bp.register_error_handler(Exception, _unexpected)
