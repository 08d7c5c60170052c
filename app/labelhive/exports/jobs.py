"""Background jobs of the exports: export files and the labeled dataset, clean-up.

Job functions take primitive ids, reload what they need, and are idempotent (house style).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from labelhive.answers.models import Answer
from labelhive.consensus.models import Result
from labelhive.db import rowcount
from labelhive.db import utcnow
from labelhive.exports import dataset
from labelhive.exports import exports
from labelhive.extensions import db
from labelhive.jobs import UserError
from labelhive.jobs import exportfiles
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import JobRecord
from labelhive.jobs.registry import job
from labelhive.projects.models import Project
from labelhive.tasks import counts

# the rows an export of each kind counts for its progress; tasks are counted by triggers
_COUNTED: dict[str, type[Answer] | type[Result]] = {"answers": Answer, "results": Result}
# periodic jobs' records are kept this long, then pruned by cleanup_exports
# ("stats": a periodic job no release runs any more, whose old records are pruned too)
PERIODIC_KINDS = ("sweep", "stats", "consensus", "cleanup", "oidc_recheck")
PERIODIC_RECORD_TTL = dt.timedelta(days=2)
# a partial export file older than this belongs to a job that died (cleanup_exports)
PARTIAL_FILE_TTL = dt.timedelta(days=1)


@job("export_file", queue=queues.DEFAULT)
def export_file(job_id: str, project_id: int, what: str, fmt: str) -> dict[str, Any] | None:
    """Store a project's export in the database, streamed in chunks as it is built.

    The file is complete only once its last chunk is written (:func:`labelhive.jobs.exportfiles.
    write`), so a download never gets half a file, and a second run of the job replaces the
    first run's file with an equal one.

    :return: ``{"file_id", "download_name", "content_type", "rows", "bytes", "sha256"}``.
    """
    return records.run_job(job_id, lambda run: _export(run, project_id, what, fmt))


def _export(run: records.Run, project_id: int, what: str, fmt: str) -> dict[str, Any]:
    # the export reads, and the file is written, through the engine: _started ends this read
    short_name, total = _started(project_id, what)
    run.progress(0, total)
    rows = 0

    def progress(done: int) -> None:
        nonlocal rows
        rows = done
        run.progress(done)

    download_name = f"{short_name}-{what}.{fmt}"
    content_type = exports.content_type(fmt)
    stored = _store(
        run,
        project_id,
        download_name,
        content_type,
        exports.stream_export(db.engine, project_id, what, fmt, progress=progress),
    )
    return _described(stored, download_name, content_type, rows)


def _started(project_id: int, what: str) -> tuple[str, int]:
    """The project's short name and its number of ``what`` rows (the progress total), read in
    the session, whose transaction then ends.

    :raise UserError: the project no longer exists.
    """
    project = db.session.get(Project, project_id)
    if project is None:
        raise UserError("The project no longer exists.")
    if what == "tasks":
        counted = select(counts.tasks_of(project_id))
    else:
        model = _COUNTED[what]
        counted = select(func.count()).select_from(model).where(model.project_id == project_id)
    total = db.session.scalar(counted) or 0
    short_name = project.short_name
    db.session.commit()
    return short_name, total


def _store(
    run: records.Run, project_id: int, filename: str, content_type: str, chunks: Iterable[bytes]
) -> exportfiles.Stored:
    try:
        return exportfiles.write(
            db.engine,
            chunks,
            job_id=run.job_id,
            project_id=project_id,
            filename=filename,
            content_type=content_type,
            chunk_bytes=int(
                current_app.config.get("EXPORT_CHUNK_BYTES") or exportfiles.CHUNK_BYTES
            ),
        )
    except DBAPIError as exc:
        if not _disk_full(exc):
            raise
        # the operator's to fix: say so on the job rather than "internal error"
        raise UserError(
            "The database ran out of disk space while storing the export; the partial file"
            " was deleted. Free space on the database's volume, then export again."
        ) from None


def _disk_full(exc: DBAPIError) -> bool:
    """PostgreSQL's ``disk_full`` (SQLSTATE 53100) or SQLite's ``SQLITE_FULL``."""
    return getattr(exc.orig, "sqlstate", None) == "53100" or "disk is full" in str(exc.orig)


def _described(
    stored: exportfiles.Stored, download_name: str, content_type: str, rows: int
) -> dict[str, Any]:
    return {
        "file_id": stored.id,
        "download_name": download_name,
        "content_type": content_type,
        "rows": rows,
        "bytes": stored.size,
        "sha256": stored.sha256,
    }


@job("export_dataset", queue=queues.DEFAULT)
def export_dataset(
    job_id: str, project_id: int, fmt: str, validation: float
) -> dict[str, Any] | None:
    """Store a project's labeled dataset (:mod:`labelhive.exports.dataset`) in the database.

    Stored like :func:`export_file` (chunks, complete at the end), so a second run of the job
    replaces the file with an equal one.

    :return: as :func:`export_file`'s; ``rows`` is the number of items (tasks) in the project.
    """

    def body(run: records.Run) -> dict[str, Any]:
        # the dataset reads through the engine: _started ends the session's read transaction
        short_name, total = _started(project_id, "tasks")
        run.progress(0, total)
        download_name = f"{short_name}-dataset.{fmt}"
        content_type = dataset.content_type(fmt)
        stored = _store(
            run,
            project_id,
            download_name,
            content_type,
            dataset.stream(db.engine, project_id, fmt, validation=validation),
        )
        run.progress(total, total)
        return _described(stored, download_name, content_type, total)

    return records.run_job(job_id, body)


@job("cleanup_exports", queue=queues.LOW)
def cleanup_exports(job_id: str) -> dict[str, Any] | None:
    """Delete export files older than ``EXPORT_TTL_SECONDS`` and old periodic job records.

    Partial files (a worker was killed mid-write) go once they are older than a day, or than
    the TTL if that is longer: until then their job may still be writing them.
    """

    def body(run: records.Run) -> dict[str, Any]:
        ttl = dt.timedelta(seconds=current_app.config["EXPORT_TTL_SECONDS"])
        now = utcnow()
        # end the session's read first: on SQLite a transaction that read before another
        # connection wrote (the files are deleted through the engine) cannot write any more
        db.session.commit()
        pruned = rowcount(
            db.session.execute(
                delete(JobRecord).where(
                    JobRecord.kind.in_(PERIODIC_KINDS),
                    JobRecord.status == FINISHED,
                    JobRecord.updated < now - PERIODIC_RECORD_TTL,
                    JobRecord.id != run.job_id,
                )
            )
        )
        db.session.commit()
        removed = exportfiles.delete_expired(
            db.engine, before=now - ttl, incomplete_before=now - max(ttl, PARTIAL_FILE_TTL)
        )
        return {"files_removed": removed, "records_pruned": pruned}

    return records.run_job(job_id, body)
