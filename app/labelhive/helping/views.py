"""Uploaded helping materials, served only to the project's members.

The files are the owner's uploads; they are sent as attachments-safe static content
(``nosniff``, a sandboxing CSP) so a file can never run script on the site's origin.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import send_file
from flask_login import current_user

from labelhive.helping import services
from labelhive.projects import access
from labelhive.projects import services as projects

bp = Blueprint("helping", __name__, url_prefix="/helping")


@bp.get("/<int:project_id>/<stored>")
def material_file(project_id: int, stored: str) -> Response:
    project = projects.get(project_id)
    # members only: owners, admins and, once it is published, its annotators
    if project is None or not access.can_see(current_user, project):
        abort(404)
    path = services.stored_path(project_id, stored)
    if path is None or services.material_by_stored_name(project_id, stored) is None:
        abort(404)
    response = send_file(path, conditional=True, max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; frame-ancestors 'self'"
    )
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
