"""503, not 500, while the database is unreachable (a restart, a failover, a full pool).

A PostgreSQL restart breaks every pooled connection; ``pool_pre_ping`` replaces them on the
next checkout, but requests in flight at that moment, and every request while the server is
down, fail with a DBAPI error. Those are outages, not bugs: the client should retry (each
engine call is one transaction, so nothing is half-written, and a retried submit returns the
answer if its commit did land before the connection broke). So they are answered with 503
and ``Retry-After``: a JSON body for JSON clients, a plain page (rendered without the
database) for browsers. The REST API answers them with its
envelope (:mod:`labelhive.api.errors`).
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from labelhive.extensions import db

log = logging.getLogger(__name__)

# what a lost or unreachable database raises (PoolTimeoutError: every connection is busy)
OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)
MESSAGE = "The database is unavailable for a moment. Please try again in a few seconds."
RETRY_AFTER_SECONDS = 5

_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Temporarily unavailable</title>"
    "<h1>Temporarily unavailable</h1><p>{message}</p></html>"
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or the connection was lost."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def forget_session() -> None:
    """Drop the request's session state; its connection may be dead, so never raise."""
    with contextlib.suppress(Exception):
        db.session.rollback()


def log_outage(exc: BaseException) -> None:
    # one line, no traceback: during an outage every request would log one
    log.warning(
        "database unavailable in %s %s: %s",
        request.method,
        request.path,
        str(getattr(exc, "orig", None) or exc).splitlines()[0][:300],
    )


def _web_outage(exc: Exception) -> tuple[Response | str, int, dict[str, str]]:
    forget_session()
    log_outage(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(error=MESSAGE), 503, headers
    return _PAGE.format(message=MESSAGE), 503, {**headers, "Content-Type": "text/html"}


def init_app(app: Flask) -> None:
    """Answer database outages anywhere outside the API with 503."""
    for cls in OUTAGE_ERRORS:
        app.register_error_handler(cls, _web_outage)
