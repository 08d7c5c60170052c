"""What the web UI and the API call to start background work and read how it went.

Each ``start_*`` adds a :class:`~labelhive.jobs.models.JobRecord` to the session; the caller
commits (house style), and the job is enqueued after that commit. The caller checks access
(``projects.access.can_manage``) before calling.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs import exportfiles
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import ExportFile
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
    return _start_export(project, user, f"{what}-{fmt}", "export_file", what, fmt)


def start_s3_import(
    project: Project,
    user: User | None,
    bucket: str,
    prefix: str,
    extensions: str = "",
    n_answers: int | None = None,
) -> JobRecord:
    """Start importing every object under ``s3://bucket/prefix`` as a task, in the background.

    Re-running imports only the keys the project does not have yet
    (:func:`labelhive.storage.importer.import_prefix`). An import of the same bucket, prefix
    and extensions that is still queued or running is returned instead of starting another.

    :param extensions: comma-separated extensions to keep (``""``: every object).
    :raise ValueError: an invalid bucket name or ``n_answers``, or a bucket or prefix outside
        the project's storage (:class:`labelhive.storage.scope.OutsideScope`).
    """
    from labelhive.storage import s3
    from labelhive.storage import scope

    bucket, _ = s3.parse_s3_prefix(f"s3://{bucket}/")
    prefix = scope.for_project(project).check_prefix(bucket, prefix)
    if n_answers is not None:
        n_answers = rules.validate_n_answers(n_answers)
    wanted = ",".join(e.lstrip(".") for e in s3.normalise_extensions(extensions))
    if project.id is None:
        db.session.flush()
    same = f"{project.id}|{bucket}|{prefix}|{wanted}|{n_answers}"
    running = unfinished(project.id, IMPORT, f"s3import-{project.id}-{_token(same)[:12]}-")
    if running is not None:
        return running
    job_id = f"s3import-{project.id}-{_token(same)[:12]}-{_token(None)}"
    return records.submit(
        job_id,
        "labelhive.storage.jobs.import_s3",
        job_id,
        project.id,
        bucket,
        prefix,
        wanted,
        n_answers,
        kind=IMPORT,
        queue=queues.DEFAULT,
        project_id=project.id,
        user_id=None if user is None else user.id,
    )


def start_dataset_export(
    project: Project, user: User | None, fmt: str, validation: float | str | None = None
) -> JobRecord:
    """Start writing the labeled dataset (:mod:`labelhive.results.dataset`) to a file.

    A dataset export of the same format that is still queued or running is returned instead.

    :param fmt: one of :data:`labelhive.results.dataset.FORMATS`.
    :param validation: the share of items in the validation split (``None``: the default).
    :raise ValueError: an unknown format or a validation share outside 0..1.
    """
    from labelhive.results import dataset

    dataset.content_type(fmt)
    validation = dataset.validation_fraction(validation)
    return _start_export(project, user, f"dataset-{fmt}", "export_dataset", fmt, validation)


def _start_export(
    project: Project, user: User | None, kind: str, job: str, *args: Any
) -> JobRecord:
    """Submit ``labelhive.results.jobs.<job>(job_id, project.id, *args)`` on the low queue,
    unless an export of the same ``kind`` of the project is still queued or running."""
    if project.id is None:
        db.session.flush()
    prefix = f"export-{project.id}-{kind}-"
    running = unfinished(project.id, EXPORT, prefix)
    if running is not None:
        return running
    job_id = prefix + _token(None)
    return records.submit(
        job_id,
        f"labelhive.results.jobs.{job}",
        job_id,
        project.id,
        *args,
        kind=EXPORT,
        queue=queues.LOW,
        project_id=project.id,
        user_id=None if user is None else user.id,
    )


def unfinished(project_id: int, kind: str, prefix: str) -> JobRecord | None:
    """The project's queued or running job of ``kind`` whose id starts with ``prefix``.

    Starting the same work twice returns this record instead of a second job.
    """
    return db.session.scalar(
        select(JobRecord)
        .where(
            JobRecord.project_id == project_id,
            JobRecord.kind == kind,
            JobRecord.id.startswith(prefix, autoescape=True),
            JobRecord.status.in_((QUEUED, RUNNING)),
        )
        .limit(1)
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


def export_file(record: JobRecord) -> ExportFile | None:
    """A finished export's stored file (name, content type, size), or ``None``.

    ``None`` when the job is not an export, is not finished, or its file expired. The file is
    in the database (:mod:`labelhive.jobs.exportfiles`), so any web process can serve it
    whichever worker wrote it.
    """
    if record.kind != EXPORT or record.status != FINISHED:
        return None
    return db.session.scalar(
        select(ExportFile)
        .where(ExportFile.job_id == record.id, ExportFile.complete.is_(True))
        .order_by(ExportFile.id.desc())
        .limit(1)
    )


def export_bytes(stored: ExportFile) -> Iterator[bytes]:
    """The stored file's bytes, streamed a few chunks at a time (needs no app context)."""
    return exportfiles.read(db.engine, stored.id, stored.size)


def _token(key: str | None) -> str:
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(key.encode()).hexdigest()[:32]
