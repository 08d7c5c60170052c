"""The job page: a background import's or export's progress, result and download.

``/project/<ref>/jobs/<id>`` renders the state, and ``static/job.js`` polls ``.../status``
until the job ends, then reloads the page so it shows the links. Only the project's managers
(owners and admins) see its jobs; a job of another project is a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import jsonify
from flask import render_template
from flask import url_for

from labelhive.extensions import limiter
from labelhive.jobs import exportfiles
from labelhive.jobs import services as jobs
from labelhive.jobs.models import FAILED
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import ExportFile
from labelhive.jobs.models import JobRecord
from labelhive.web import project_for

if TYPE_CHECKING:
    from labelhive.projects.models import Project

bp = Blueprint("jobs", __name__)

# the page polls every few seconds for as long as a job runs: the site's default limit per
# route (RATELIMIT_DEFAULT, 300 per 15 min) would cut off a long import's page
STATUS_LIMIT = "1800 per 900 seconds"


def _job(ref: str, job_id: str) -> tuple[Project, JobRecord]:
    project = project_for(ref, "manage")
    record = jobs.get_record(job_id)
    if record is None or record.project_id != project.id:
        abort(404)
    return project, record


def status_of(project: Project, record: JobRecord) -> dict[str, Any]:
    """The record as the status endpoint returns it, plus where to go once it is done."""
    body = record.to_dict()
    body["ended"] = record.status in (FINISHED, FAILED)
    body["download_url"] = (
        url_for("jobs.download", ref=project.short_name, job_id=record.id)
        if jobs.export_file(record) is not None
        else None
    )
    body["tasks_url"] = (
        url_for("projects.progress", ref=project.short_name)
        if record.kind == jobs.IMPORT and record.status == FINISHED
        else None
    )
    return body


@bp.get("/project/<ref>/jobs/<job_id>")
def detail(ref: str, job_id: str) -> Any:
    project, record = _job(ref, job_id)
    return render_template(
        "jobs/detail.html", project=project, job=record, status=status_of(project, record)
    )


@bp.get("/project/<ref>/jobs/<job_id>/status")
@limiter.limit(STATUS_LIMIT)
def status(ref: str, job_id: str) -> Any:
    project, record = _job(ref, job_id)
    response = jsonify(status_of(project, record))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/project/<ref>/jobs/<job_id>/download")
def download(ref: str, job_id: str) -> Any:
    _, record = _job(ref, job_id)
    stored = jobs.export_file(record)
    if stored is None:
        abort(404)
    return attachment(stored)


def attachment(stored: ExportFile) -> Response:
    """Stream a stored export file as a download (also the API's download).

    The bytes come from the database a few chunks at a time, whichever Pod wrote them;
    ``Content-Length`` is the stored size, so a download cut short is seen as such.
    """
    response = Response(jobs.export_bytes(stored), content_type=stored.content_type)
    response.content_length = stored.size
    response.headers["Content-Disposition"] = exportfiles.content_disposition(stored.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
