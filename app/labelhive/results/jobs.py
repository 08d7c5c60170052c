"""Background jobs of the results domain: export files, consensus, clean-up.

Job functions take primitive ids, reload what they need, and are idempotent (house style).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import records
from labelhive.jobs import services as job_services
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import JobRecord
from labelhive.projects.models import Project
from labelhive.results import exports
from labelhive.results import services as consensus_services
from labelhive.results.models import Result
from labelhive.tasks.models import Task

_COUNTED = {"tasks": Task, "answers": Answer, "results": Result}
# periodic jobs' records are kept this long, then pruned by cleanup_exports
PERIODIC_KINDS = ("sweep", "stats", "consensus", "cleanup")
PERIODIC_RECORD_TTL = dt.timedelta(days=2)


def export_file(job_id: str, project_id: int, what: str, fmt: str) -> dict[str, Any] | None:
    """Write a project's export to ``EXPORT_DIR/<job_id>.<fmt>``.

    The file is written under a unique temporary name and renamed when complete, so a reader
    never sees half a file and two runs of the same job cannot mix their bytes; the second
    rename replaces the first file with an equal one.

    :return: ``{"file", "download_name", "content_type", "rows", "bytes"}``.
    """
    return records.run_job(job_id, lambda run: _export(run, project_id, what, fmt))


def _export(run: records.Run, project_id: int, what: str, fmt: str) -> dict[str, Any]:
    project = db.session.get(Project, project_id)
    if project is None:
        raise records.JobError("The project no longer exists.")
    model = _COUNTED[what]
    total = db.session.scalar(
        select(func.count()).select_from(model).where(model.project_id == project_id)
    )
    short_name = project.short_name
    run.progress(0, total)
    directory = job_services.export_dir()
    final = directory / f"{run.job_id}.{fmt}"
    partial = directory / f".{run.job_id}.{uuid.uuid4().hex}.partial"
    rows = 0

    def progress(done: int) -> None:
        nonlocal rows
        rows = done
        run.progress(done)

    try:
        with partial.open("wb") as out:
            for chunk in exports.stream_export(db.engine, project_id, what, fmt, progress=progress):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "file": final.name,
        "download_name": f"{short_name}-{what}.{fmt}",
        "content_type": exports.content_type(fmt),
        "rows": rows,
        "bytes": final.stat().st_size,
    }


def refresh_consensus(job_id: str, project_id: int) -> dict[str, Any] | None:
    """Recompute and store a project's consensus labels, annotator quality and agreement.

    Periodic (for projects with new answers), debounced after tasks complete, and on demand
    from the results page; see :func:`labelhive.results.services.recompute`.

    :return: the recomputation's :class:`~labelhive.results.services.Summary` as a dict.
    """

    def body(run: records.Run) -> dict[str, Any]:
        try:
            return consensus_services.recompute(project_id).to_dict()
        except consensus_services.ConsensusError as exc:
            raise records.JobError(str(exc)) from None

    return records.run_job(job_id, body)


def cleanup_exports(job_id: str) -> dict[str, Any] | None:
    """Delete export files older than ``EXPORT_TTL_SECONDS`` and old periodic job records.

    Leftover ``.partial`` files (a worker died mid-write) older than a day go too.
    """

    def body(run: records.Run) -> dict[str, Any]:
        ttl = current_app.config["EXPORT_TTL_SECONDS"]
        now = time.time()
        removed = 0
        for path in job_services.export_dir().iterdir():
            age = now - path.stat().st_mtime
            if (path.name.startswith(".") and age > 86400) or age > ttl:
                path.unlink(missing_ok=True)
                removed += 1
        pruned = db.session.execute(
            delete(JobRecord).where(
                JobRecord.kind.in_(PERIODIC_KINDS),
                JobRecord.status == FINISHED,
                JobRecord.updated < utcnow() - PERIODIC_RECORD_TTL,
                JobRecord.id != run.job_id,
            )
        ).rowcount
        db.session.commit()
        return {"files_removed": removed, "records_pruned": pruned}

    return records.run_job(job_id, body)
