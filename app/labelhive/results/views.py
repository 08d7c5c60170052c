"""The results page and the streamed downloads of tasks, answers and results."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template

from labelhive.extensions import db
from labelhive.projects import services as project_services
from labelhive.results import exports
from labelhive.tasks import labeling
from labelhive.web import project_for

bp = Blueprint("results", __name__)


@bp.get("/project/<ref>/results")
def index(ref: str) -> Any:
    project = project_for(ref, "manage")
    return render_template(
        "results/index.html",
        project=project,
        whats=exports.WHATS,
        formats=exports.FORMATS,
        stats=project_services.stats(project.id),
        counts=labeling.breakdown(project.id),
    )


@bp.get("/project/<ref>/download/<what>.<fmt>")
def download(ref: str, what: str, fmt: str) -> Response:
    project = project_for(ref, "manage")
    if what not in exports.WHATS or fmt not in exports.FORMATS:
        abort(404)
    chunks = exports.stream_export(db.engine, project.id, what, fmt)
    filename = f"{project.short_name}-{what}.{fmt}"
    return Response(
        chunks,
        content_type=exports.content_type(fmt),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
