"""The import page: upload a task file, preview it, confirm to import it as a background job;
or import an S3 prefix as a background job. Both redirect to the job's page.

Between preview and confirm the upload waits in a temporary file named by a random token that
only the uploader's (signed) session knows. The file is on the web Pod's local disk, so a
preview and its confirm must reach the same Pod (session affinity) when there are several.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for
from flask_login import current_user

from labelhive import starters
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.jobs import services as jobs
from labelhive.projects import forms
from labelhive.projects.models import Project
from labelhive.projects.views import bp
from labelhive.storage.scope import allowed_buckets
from labelhive.tasks import schemas
from labelhive.web import project_for

_STALE_SECONDS = 24 * 3600
_SESSION_KEY = "pending_import"


def _upload_dir() -> Path:
    path = Path(current_app.config.get("IMPORT_TMP_DIR") or tempfile.gettempdir())
    path = path / "labelhive-imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _discard_stale(directory: Path) -> None:
    cutoff = time.time() - _STALE_SECONDS
    for path in directory.glob("*.upload"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _limits(project: Project) -> dict[str, Any]:
    # the import job's checks: a file refused by the job is refused at preview
    return schemas.import_checks(project, current_app.config)


def _pending(project_id: int) -> tuple[Path, dict[str, Any]] | None:
    pending = session.get(_SESSION_KEY)
    if not isinstance(pending, dict) or pending.get("project_id") != project_id:
        return None
    token = str(pending.get("token", ""))
    path = _upload_dir() / f"{token}.upload"
    # the token is ours (signed session), but keep it a plain file name all the same
    if not token.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        return None
    return path, pending


def _forget() -> None:
    pending = session.pop(_SESSION_KEY, None)
    if isinstance(pending, dict):
        token = str(pending.get("token", ""))
        if token.replace("-", "").replace("_", "").isalnum():
            (_upload_dir() / f"{token}.upload").unlink(missing_ok=True)


def _columns(specs: list[importers.TaskSpec], shown: int = 8) -> list[str]:
    """The first ``shown`` info keys of the previewed tasks, in order (linear: a dict, never
    ``key in list`` over every column)."""
    columns: dict[str, None] = {}
    for spec in specs:
        for key in spec.info:
            columns.setdefault(key)
            if len(columns) == shown:
                return list(columns)
    return list(columns)


@bp.route("/project/<ref>/import", methods=["GET", "POST"])
def importer(ref: str) -> Any:
    project = project_for(ref, "manage")
    form = forms.ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        try:
            fmt = importers.detect_format(upload.filename, upload.mimetype, data[:4096])
            first, total = importers.preview(data, fmt, n=5, **_limits(project))
        except importers.ImportFormatError as exc:
            form.file.errors.append(str(exc))
        else:
            _forget()
            directory = _upload_dir()
            _discard_stale(directory)
            token = secrets.token_urlsafe(24)
            path = directory / f"{token}.upload"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            session[_SESSION_KEY] = {
                "token": token,
                "project_id": project.id,
                "fmt": fmt,
                "filename": upload.filename or "upload",
            }
            return render_template(
                "projects/import_preview.html",
                project=project,
                specs=first,
                columns=_columns(first),
                total=total,
                fmt=fmt,
                filename=upload.filename,
                action=forms.ActionForm(),
            )
    return _import_page(project, form, forms.S3ImportForm(formdata=None))


def _import_page(project: Project, form: forms.ImportForm, s3_form: forms.S3ImportForm) -> str:
    return render_template(
        "projects/import.html",
        project=project,
        form=form,
        s3_form=s3_form,
        records=jobs.project_records(project.id),
    )


@bp.post("/project/<ref>/import/confirm")
def import_confirm(ref: str) -> Any:
    project = project_for(ref, "manage")
    if not forms.ActionForm().validate_on_submit():
        return redirect(url_for("projects.importer", ref=project.short_name))
    pending = _pending(project.id)
    if pending is None:
        flash("That upload is no longer here: please upload the file again.", "error")
        return redirect(url_for("projects.importer", ref=project.short_name))
    path, info = pending
    try:
        # the upload's token is the job's key: a confirm sent twice starts one import
        record = starters.start_import(project, current_user, path, info["fmt"], key=info["token"])
        db.session.commit()
    except importers.ImportFormatError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("projects.importer", ref=project.short_name))
    finally:
        _forget()
    flash(f"Importing the tasks of {info['filename']}.", "info")
    return redirect(url_for("jobs.detail", ref=project.short_name, job_id=record.id))


@bp.post("/project/<ref>/import/s3")
def import_s3(ref: str) -> Any:
    project = project_for(ref, "manage")
    s3_form = forms.S3ImportForm()
    if not allowed_buckets(current_app.config):
        # the page hides the form then; a request that still comes says why it cannot be done
        s3_form.validate_on_submit()
        s3_form.bucket.errors = [
            "This server has no S3 bucket configured: an administrator sets S3_BUCKET first."
        ]
    elif s3_form.validate_on_submit():
        try:
            record = starters.start_s3_import(
                project,
                current_user,
                s3_form.bucket.data.strip(),
                (s3_form.prefix.data or "").strip(),
                s3_form.extensions.data or "",
                s3_form.n_answers.data,
            )
        except ValueError as exc:
            s3_form.bucket.errors.append(str(exc))
        else:
            db.session.commit()
            return redirect(url_for("jobs.detail", ref=project.short_name, job_id=record.id))
    return _import_page(project, forms.ImportForm(formdata=None), s3_form), 400


@bp.post("/project/<ref>/import/cancel")
def import_cancel(ref: str) -> Any:
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        _forget()
    return redirect(url_for("projects.importer", ref=project.short_name))
