"""Owner-written task presenters (PYBOSSA's ``info.task_presenter``), isolated from the
annotator's session.

A project that sets ``use_task_presenter`` has its labeling page show the presenter HTML in
``<iframe sandbox="allow-scripts">`` loaded from ``/presenter/<project>/frame``. That response
carries a CSP whose ``sandbox`` directive gives the document an opaque origin even when it is
opened on its own: its scripts cannot read the site's cookies or storage, cannot reach the
parent page's DOM, and ``connect-src 'none'`` stops every fetch, so owner-written JavaScript
never acts with the annotator's session. The frame talks to the page only through
``postMessage``: a small shim gives it pybossa.js's ``taskLoaded``/``presentTask``/
``saveTask``/``run``, and the page (``static/presenter-host.js``) submits through the labeling
page's own endpoints, with the CSRF token the frame never sees. The frame is served only as a
frame: a browser's top-level navigation to it (``Sec-Fetch-Dest: document``) is refused, and
``frame-ancestors 'self'`` keeps other sites from framing it.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import abort
from flask import request

from labelhive.projects.models import Project
from labelhive.web import project_for

bp = Blueprint("presenter", __name__, url_prefix="/presenter")

FRAME_CSP = "; ".join(
    [
        "sandbox allow-scripts",
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        # the site itself only ('self' covers the /s3/ proxy of the project's storage): an
        # image from anywhere would let the presenter beacon out what the annotator sees
        "img-src 'self' data:",
        "media-src 'self' data:",
        "font-src data:",
        "connect-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    ]
)
_SHIM = Path(__file__).resolve().parents[1] / "static" / "presenter-shim.js"


def presenter_html(project: Project) -> str:
    """The project's presenter, or an empty string."""
    value = (project.info or {}).get("task_presenter")
    return value if isinstance(value, str) else ""


def uses_presenter(project: Project) -> bool:
    return bool(project.use_task_presenter) and bool(presenter_html(project).strip())


def frame_document(presenter: str) -> str:
    """The frame's HTML: the shim first, so the owner's scripts find ``pybossa`` defined."""
    shim = _SHIM.read_text(encoding="utf-8").replace("</", "<\\/")
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<script>{shim}</script></head>\n<body>\n{presenter}\n</body></html>\n"
    )


# what a browser that sends Fetch Metadata may load the frame as
FRAME_DESTINATIONS = frozenset({"iframe"})


def refuse_navigation(dest: str | None) -> str | None:
    """Why a request for the frame is refused (``None``: served).

    Browsers that send ``Sec-Fetch-Dest`` must be loading it into an iframe: opened as a page
    of its own, the owner's HTML would look like a page of the site. Requests without the
    header (older browsers, scripts) are served: the CSP's ``sandbox`` still gives the document
    an opaque origin when opened on its own, and ``frame-ancestors 'self'`` stops any other site
    from framing it.
    """
    if dest is None or dest in FRAME_DESTINATIONS:
        return None
    return "The task presenter is shown only inside its project's labeling page."


@bp.get("/<ref>/frame")
def frame(ref: str) -> Response:
    refused = refuse_navigation(request.headers.get("Sec-Fetch-Dest"))
    if refused:
        return Response(refused + "\n", status=400, mimetype="text/plain")
    project = project_for(ref, "contribute")
    if not uses_presenter(project):
        abort(404)
    response = Response(frame_document(presenter_html(project)), mimetype="text/html")
    response.headers["Content-Security-Policy"] = FRAME_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
