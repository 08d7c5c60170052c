"""The import page: upload a task file, preview it, confirm to import it atomically.

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

from labelhive.extensions import db
from labelhive.projects import forms
from labelhive.projects.views import bp
from labelhive.tasks import importers
from labelhive.tasks import services as task_services
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


def _limits() -> dict[str, int]:
    return {
        "max_rows": current_app.config["MAX_IMPORT_ROWS"],
        "max_cell_bytes": current_app.config["MAX_CELL_BYTES"],
    }


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


def _columns(specs: list[importers.TaskSpec]) -> list[str]:
    columns: list[str] = []
    for spec in specs:
        for key in spec.info:
            if key not in columns:
                columns.append(key)
    return columns[:8]


@bp.route("/project/<ref>/import", methods=["GET", "POST"])
def importer(ref: str) -> Any:
    project = project_for(ref, "manage")
    form = forms.ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        try:
            fmt = importers.detect_format(upload.filename, upload.mimetype, data[:4096])
            first, total = importers.preview(data, fmt, n=5, **_limits())
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
    return render_template("projects/import.html", project=project, form=form)


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
        specs = importers.parse_tasks(path.read_bytes(), info["fmt"], **_limits())
        count = task_services.import_tasks(project, specs)
        db.session.commit()
    except importers.ImportFormatError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("projects.importer", ref=project.short_name))
    finally:
        _forget()
    flash(f"Imported {count} tasks from {info['filename']}.", "success")
    return redirect(url_for("projects.progress", ref=project.short_name))


@bp.post("/project/<ref>/import/cancel")
def import_cancel(ref: str) -> Any:
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        _forget()
    return redirect(url_for("projects.importer", ref=project.short_name))
