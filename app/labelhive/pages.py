"""The site's own error pages, its icon, and small facts the templates ask about.

Every HTTP error outside the REST API gets a page in the site's layout that says what happened
and offers a way back (the API answers with its JSON envelope, :mod:`labelhive.api.errors`,
and is left alone here). A request that asked for JSON (the labeling page's script) gets
``{"error": ..., "reason": ...}`` instead, as :mod:`labelhive.outage` does for 503s.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from labelhive.extensions import db

log = logging.getLogger(__name__)

# (title, what to tell the reader) per status; werkzeug's own descriptions are replaced by these
# unless the code that raised the error wrote its own sentence
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The page could not make sense of what was sent. Go back and try again."),
    403: (
        "Not allowed",
        "Your account may not open this page. Ask the project's owner if you need it.",
    ),
    404: (
        "Page not found",
        "There is no page here. It may have been moved or deleted, or the link is wrong.",
    ),
    405: ("Not allowed here", "This page does not accept that kind of request."),
    409: ("Conflict", "Someone else changed this at the same time. Reload the page and try again."),
    413: ("Too large", "The upload is larger than this site accepts."),
    429: (
        "Too many requests",
        "You sent many requests in a short time. Wait a minute, then try again.",
    ),
    500: (
        "Something went wrong",
        "The error was logged. Try again; if it keeps happening, tell an administrator.",
    ),
}


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _sentence(exc: HTTPException, code: int) -> str:
    default = MESSAGES.get(code, (exc.name, ""))[1]
    written = exc.description
    # werkzeug's class-level text ("The requested URL was not found on the server. ...")
    if not written or written == type(exc).description or code == 500:
        return default or (written or "")
    return written


def render_error(code: int, message: str, headers: Any = None) -> Response:
    """The error page for ``code`` with ``message`` (JSON for JSON requests)."""
    title = MESSAGES.get(code, ("Error", ""))[0]
    response: Response
    if _wants_json():
        response = jsonify(error=message, reason=title.lower().replace(" ", "_"))
    else:
        try:
            body = render_template("error.html", code=code, title=title, message=message)
        except Exception:  # noqa: BLE001  (the layout itself failed: a page without it)
            log.exception("the error page for %s could not be rendered", code)
            body = (
                f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
                f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
                '<p><a href="/">Home</a></p></html>'
            )
        response = Response(body, mimetype="text/html")
    response.status_code = code
    for name, value in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _http_error(exc: HTTPException) -> Any:
    if _is_api():
        return exc  # the API blueprint's handlers answer its errors; nothing to restyle
    code = exc.code or 500
    if code >= 500:
        db.session.rollback()
    return render_error(code, _sentence(exc, code), exc.get_headers())


def favicon() -> Response:
    """``/favicon.ico``, which browsers ask for on their own: the site's SVG icon."""
    response = current_app.send_static_file("favicon.svg")
    response.cache_control.max_age = 86400
    response.cache_control.public = True
    return response


def s3_configured() -> bool:
    """Whether images may come from S3 here (``S3_BUCKET`` or ``S3_BUCKETS`` set)."""
    from labelhive.storage.scope import allowed_buckets

    return bool(allowed_buckets(current_app.config))


def init_app(app: Flask) -> None:
    """Style every HTTP error page, serve ``/favicon.ico``, give templates ``s3_configured``."""
    app.register_error_handler(HTTPException, _http_error)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
    app.add_template_global(s3_configured, "s3_configured")
