"""Uploaded helping materials, served only to the project's members, from the database.

The files are the owner's uploads; they are sent as attachments-safe static content
(``nosniff``, a sandboxing CSP, a download for anything but a picture) so a file can never run
script on the site's origin. The bytes are streamed a few chunks at a time by whichever web
process gets the request (:mod:`labelhive.helping.files`).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import request
from flask_login import current_user

# what the view returns: a werkzeug response (make_conditional's); flask's Response is one
from werkzeug.wrappers import Response as BaseResponse

from labelhive.extensions import db
from labelhive.helping import files
from labelhive.helping import services
from labelhive.projects import access
from labelhive.projects import services as projects

bp = Blueprint("helping", __name__, url_prefix="/helping")


@bp.get("/<int:project_id>/<stored>")
def material_file(project_id: int, stored: str) -> BaseResponse:
    project = projects.get(project_id)
    # members only: owners, admins and, once it is published, its annotators
    if project is None or not access.can_see(current_user, project):
        abort(404)
    if not services.is_stored_name(stored):
        abort(404)
    material = services.material_by_stored_name(project_id, stored)
    # a file uploaded before its bytes moved to the database and not imported yet is missing
    if material is None or material.size is None or material.content_type is None:
        abort(404)
    response = Response(
        files.read(db.engine, material.id, material.size), content_type=material.content_type
    )
    response.content_length = material.size
    response.set_etag(material.sha256 or str(material.id))
    response.last_modified = material.created
    response.headers["Content-Disposition"] = files.content_disposition(
        (material.info or {}).get("file_name") or stored, material.content_type
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; frame-ancestors 'self'"
    )
    # members only: no shared cache may keep it; a browser revalidates by ETag after 5 minutes
    response.headers["Cache-Control"] = "private, max-age=300"
    # a 304 when the browser's copy is current (the body is then never read); a Range (a video
    # seeking) is cut from the stream
    return response.make_conditional(request, accept_ranges=True, complete_length=material.size)
