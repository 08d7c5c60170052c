"""What the web UI and the API call to read how background work went.

Jobs are started by :mod:`labelhive.starters`; this module is generic (it imports no domain).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs import exportfiles
from labelhive.jobs import records
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.jobs.models import ExportFile
from labelhive.jobs.models import JobRecord

IMPORT = "import"
EXPORT = "export"


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
