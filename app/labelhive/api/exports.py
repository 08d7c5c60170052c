"""``GET /api/project/<id>/export/<what>.<fmt>``: a project's tasks, answers or results as a
streamed CSV, JSON or JSON Lines download (LabelHive extension; managers only)."""

from __future__ import annotations

import re

from flask import Response

from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.exports import exports
from labelhive.extensions import db
from labelhive.projects import access


def attachment_name(short_name: str, what: str, fmt: str) -> str:
    """``<short_name>-<what>.<fmt>`` with anything but letters, digits, ``.-_`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{short_name}-{what}.{fmt}")


@bp.get("/project/<int:oid>/export/<filename>")
def project_export(oid: int, filename: str) -> Response:
    project = listing.one("project", oid)
    user = auth.user()
    if not access.can_manage(user, project):
        raise errors.denied(user is not None, "Only the project's owners and admins may export.")
    what, _, fmt = filename.rpartition(".")
    if what not in exports.WHATS or fmt not in exports.FORMATS:
        raise errors.not_found(
            f"No export {filename!r}: use <what>.<fmt> with what in {', '.join(exports.WHATS)}"
            f" and fmt in {', '.join(exports.FORMATS)}."
        )
    name = attachment_name(project.short_name, what, fmt)
    project_id = project.id
    services.end_transaction()
    # the stream reads through the engine in short batches; no request state is needed
    body = exports.stream_export(db.engine, project_id, what, fmt)
    return Response(
        body,
        content_type=exports.content_type(fmt),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
