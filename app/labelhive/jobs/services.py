"""What the web UI and the API call to start background work and read how it went.

Each ``start_*`` adds a :class:`~labelhive.jobs.models.JobRecord` to the session; the caller
commits (house style), and the job is enqueued after that commit. The caller checks access
(``projects.access.can_manage``) before calling.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import JobRecord
from labelhive.results import exports
from labelhive.tasks import importers
from labelhive.tasks import rules

if TYPE_CHECKING:
    from labelhive.accounts.models import User
    from labelhive.projects.models import Project

IMPORT = "import"
EXPORT = "export"


def start_import(
    project: Project,
    user: User | None,
    uploaded: Path | bytes,
    fmt: str,
    n_answers: int | None = None,
    *,
    key: str | None = None,
) -> JobRecord:
    """Start importing a task file into ``project`` in the background.

    The file's bytes are stored with the record (workers do not share the web process's
    disk), so the caller may delete the upload once this returns.

    :param project: the project to import into.
    :param user: who asked (shown with the job; may be ``None`` for the CLI).
    :param uploaded: the uploaded file, or its bytes.
    :param fmt: one of :data:`labelhive.tasks.importers.FORMATS`.
    :param n_answers: redundancy for every task (else each row's, else the project's).
    :param key: a natural key for this import (e.g. the upload's token): starting the same key
        twice returns the first job instead of importing twice.
    :return: the job's record (``status`` ``queued``).
    :raise ValueError: an unknown format or an invalid ``n_answers``.
    """
    if fmt not in importers.FORMATS:
        raise importers.ImportFormatError(
            f"Unknown import format {fmt!r}; use one of {', '.join(importers.FORMATS)}."
        )
    if n_answers is not None:
        n_answers = rules.validate_n_answers(n_answers)
    data = uploaded if isinstance(uploaded, bytes) else Path(uploaded).read_bytes()
    if project.id is None:
        db.session.flush()
    job_id = f"import-{project.id}-{_token(key)}"
    return records.submit(
        job_id,
        "labelhive.tasks.jobs.import_file",
        job_id,
        project.id,
        fmt,
        n_answers,
        kind=IMPORT,
        queue=queues.DEFAULT,
        project_id=project.id,
        user_id=None if user is None else user.id,
        payload=data,
    )


def start_export(project: Project, user: User | None, what: str, fmt: str) -> JobRecord:
    """Start building an export file of ``project``'s tasks, answers or results.

    An export of the same kind that is still queued or running is returned instead of
    starting a second one.

    :param what: one of :data:`labelhive.results.exports.WHATS`.
    :param fmt: one of :data:`labelhive.results.exports.FORMATS`.
    :raise ValueError: an unknown ``what`` or ``fmt``.
    """
    if what not in exports.WHATS:
        raise ValueError(f"Unknown export {what!r}; use one of {', '.join(exports.WHATS)}.")
    exports.content_type(fmt)
    if project.id is None:
        db.session.flush()
    prefix = f"export-{project.id}-{what}-{fmt}-"
    running = db.session.scalar(
        select(JobRecord)
        .where(
            JobRecord.project_id == project.id,
            JobRecord.kind == EXPORT,
            JobRecord.id.startswith(prefix, autoescape=True),
            JobRecord.status.in_((QUEUED, RUNNING)),
        )
        .limit(1)
    )
    if running is not None:
        return running
    job_id = prefix + _token(None)
    return records.submit(
        job_id,
        "labelhive.results.jobs.export_file",
        job_id,
        project.id,
        what,
        fmt,
        kind=EXPORT,
        queue=queues.LOW,
        project_id=project.id,
        user_id=None if user is None else user.id,
    )


def get_record(job_id: str) -> JobRecord | None:
    """The job's record (for the status endpoint: ``record.to_dict()``), or ``None``."""
    return records.get_record(job_id)


def project_records(project_id: int, limit: int = 20) -> list[JobRecord]:
    """A project's most recent jobs, newest first (for the import/export pages)."""
    return list(
        db.session.scalars(
            select(JobRecord)
            .where(JobRecord.project_id == project_id)
            .order_by(JobRecord.created.desc())
            .limit(limit)
        )
    )


def export_dir() -> Path:
    """Where export files are written (``EXPORT_DIR``; else a folder in the temp dir)."""
    configured = current_app.config.get("EXPORT_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "labelhive-exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def export_file(record: JobRecord) -> tuple[Path, str, str] | None:
    """A finished export's file, download name and content type, or ``None``.

    ``None`` when the job is not an export, is not finished, or its file was cleaned up.
    """
    if record.kind != EXPORT or record.status != FINISHED or not record.result:
        return None
    name = str(record.result.get("file", ""))
    if not name or "/" in name or name.startswith("."):
        return None
    path = export_dir() / name
    if not path.is_file():
        return None
    return path, str(record.result["download_name"]), str(record.result["content_type"])


def _token(key: str | None) -> str:
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(key.encode()).hexdigest()[:32]
