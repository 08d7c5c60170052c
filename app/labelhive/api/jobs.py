"""Background jobs through the API (LabelHive extensions; the project's managers only).

- ``GET /api/job/<id>``: a job's status, progress (``done`` of ``total``), result and error.
- ``GET /api/job/<id>/download``: a finished export's file.
- ``GET /api/project/<id>/jobs?limit=``: the project's recent jobs, newest first.
- ``POST /api/project/<id>/import``: start an import, ``{"tasks": [{...}, ...]}`` (rows as in
  a JSON import file) or ``{"s3": {"bucket": .., "prefix": .., "extensions": "jpg,png"}}``;
  optional ``n_answers``, and ``key`` (tasks only: retrying with the same key starts nothing
  new). 202 with the job.
- ``POST /api/project/<id>/export``: start building an export file, ``{"what": "answers",
  "format": "csv"}`` (``what``: tasks, answers, results or dataset; a dataset takes
  ``validation``). 202 with the job; an unfinished export of the same file is returned.

A job of a project the caller may not manage is refused like the project itself: 401 for
anonymous callers, 403 for others; an unknown job id is a 404.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for

from labelhive import starters
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.jobs import services as jobs
from labelhive.jobs import views as job_views
from labelhive.jobs.models import JobRecord
from labelhive.projects import access
from labelhive.projects.models import Project
from labelhive.tasks import schemas

MAX_JOBS_LIMIT = 100


def serialize(record: JobRecord) -> dict[str, Any]:
    """The record, plus ``download`` (the file's API URL) once an export can be downloaded."""
    body = record.to_dict()
    body["download"] = (
        url_for("api.job_download", job_id=record.id) if jobs.export_file(record) else None
    )
    return body


def _managed(oid: int) -> Project:
    project = listing.one("project", oid)
    user = auth.user()
    if not access.can_manage(user, project):
        raise errors.denied(user is not None, "Only the project's owners and admins may.")
    return project


def _job(job_id: str) -> JobRecord:
    user = auth.user()
    if user is None:
        raise errors.unauthorized()
    record = jobs.get_record(job_id)
    if record is None:
        raise errors.not_found(f"Job {job_id} does not exist.")
    project = None if record.project_id is None else db.session.get(Project, record.project_id)
    # periodic jobs belong to no project: admins only
    allowed = user.admin if project is None else access.can_manage(user, project)
    if not allowed:
        raise errors.forbidden("Only the project's owners and admins may see its jobs.")
    return record


@bp.get("/job/<job_id>")
def job_status(job_id: str) -> Response:
    return jsonify(serialize(_job(job_id)))


@bp.get("/job/<job_id>/download")
def job_download(job_id: str) -> Response:
    stored = jobs.export_file(_job(job_id))
    if stored is None:
        raise errors.not_found(f"Job {job_id} has no file to download (yet).")
    return job_views.attachment(stored)


@bp.get("/project/<int:oid>/jobs")
def project_jobs(oid: int) -> Response:
    project = _managed(oid)
    raw = request.args.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_JOBS_LIMIT:
        raise errors.unsupported(
            "ValueError", f"limit must be a whole number from 1 to {MAX_JOBS_LIMIT}."
        )
    return jsonify([serialize(r) for r in jobs.project_records(project.id, int(raw))])


def _n_answers(body: dict[str, Any]) -> int | None:
    value = body.get("n_answers")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise errors.bad_request("n_answers must be a whole number.")
    return value


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.bad_request(f"{name} must be a string.")
    return value


@bp.post("/project/<int:oid>/import")
def project_import(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    body = listing.body()
    n_answers = _n_answers(body)
    user = auth.user()
    try:
        if ("tasks" in body) == ("s3" in body):
            raise errors.bad_request('Send either "tasks" (a list of rows) or "s3".')
        if "s3" in body:
            s3 = body["s3"]
            if not isinstance(s3, dict):
                raise errors.bad_request('"s3" must be an object with bucket, prefix, extensions.')
            extensions = s3.get("extensions", "")
            if isinstance(extensions, list) and all(isinstance(e, str) for e in extensions):
                extensions = ",".join(extensions)
            record = starters.start_s3_import(
                project,
                user,
                _text(s3.get("bucket"), "s3.bucket"),
                _text(s3.get("prefix"), "s3.prefix"),
                _text(extensions, "s3.extensions"),
                n_answers,
            )
        else:
            rows = body["tasks"]
            if not isinstance(rows, list) or not rows:
                raise errors.bad_request('"tasks" must be a non-empty list of objects.')
            data = json.dumps(rows).encode()
            # every row is checked now, so a bad one is a 400 here rather than a failed job
            importers.parse_tasks(
                data, "json", **schemas.import_checks(project, current_app.config)
            )
            key = _text(body.get("key"), "key") or None
            record = starters.start_import(project, user, data, "json", n_answers, key=key)
    except (importers.ImportFormatError, ValueError) as exc:
        raise errors.bad_request(str(exc)) from None
    db.session.commit()
    return jsonify(serialize(record)), 202


@bp.post("/project/<int:oid>/export")
def project_export_job(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    body = listing.body()
    what = _text(body.get("what"), "what")
    fmt = _text(body.get("format"), "format")
    try:
        if what == "dataset":
            validation = body.get("validation")
            record = starters.start_dataset_export(project, auth.user(), fmt, validation)
        else:
            record = starters.start_export(project, auth.user(), what, fmt)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    db.session.commit()
    return jsonify(serialize(record)), 202
