"""Background jobs of the tasks domain: imports, the lease sweep.

Job functions take primitive ids, reload what they need, and are idempotent (house style).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from labelhive.annotation import service as annotation
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.imports import writer as services
from labelhive.jobs import UserError
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import JobRecord
from labelhive.jobs.registry import job
from labelhive.projects.models import Project
from labelhive.tasks import counts
from labelhive.tasks import schemas
from labelhive.tasks.models import Task


@job("import_file", queue=queues.DEFAULT)
def import_file(
    job_id: str, project_id: int, fmt: str, n_answers: int | None = None
) -> dict[str, Any] | None:
    """Import the file stored with job ``job_id`` into project ``project_id``.

    The import goes in batches of ``IMPORT_BATCH_SIZE`` tasks, each committed with the job's
    progress. Every task carries the job id (``task.import_id``), and each batch starts by
    counting the tasks already there, so a run that was killed half-way resumes where the last
    commit left it and a run that repeats a finished one inserts nothing.

    Why batches rather than one transaction: the owner sees real progress, a retry after a
    worker died keeps what was done, and on SQLite (one writer) annotators' answers are not held
    up for the whole import. Every row is checked (:func:`importers.parse_tasks`) before the
    first batch is written, so a bad file fails without importing anything.

    :return: ``{"imported": n, "tasks": total}``.
    """
    return records.run_job(job_id, lambda run: _import_checked(run, project_id, fmt, n_answers))


def _import_checked(
    run: records.Run, project_id: int, fmt: str, n_answers: int | None
) -> dict[str, Any]:
    try:
        return _import(run, project_id, fmt, n_answers)
    except importers.ImportFormatError as exc:
        # a file the owner can fix: its message names the row
        raise UserError(str(exc)) from None


def _import(run: records.Run, project_id: int, fmt: str, n_answers: int | None) -> dict[str, Any]:
    config = current_app.config
    data = db.session.scalar(select(JobRecord.payload).where(JobRecord.id == run.job_id))
    if data is None:
        raise UserError("The uploaded file is no longer available: upload it again.")
    project = db.session.get(Project, project_id)
    if project is None:
        raise UserError("The project no longer exists.")
    # every row, s3:// images against the project's storage and gold answers against its
    # options too, before the first batch
    specs = importers.parse_tasks(data, fmt, **schemas.import_checks(project, config))
    del data
    total = len(specs)
    batch = max(int(config["IMPORT_BATCH_SIZE"]), 1)
    inserted = 0
    while True:
        # the record's row lock makes two runs of the same import take turns, batch by batch
        db.session.execute(
            update(JobRecord).where(JobRecord.id == run.job_id).values(updated=utcnow())
        )
        done = (
            db.session.scalar(
                select(func.count()).select_from(Task).where(Task.import_id == run.job_id)
            )
            or 0
        )
        if done >= total:
            db.session.commit()
            break
        project = db.session.get(Project, project_id)
        if project is None:
            raise UserError("The project no longer exists.")
        inserted += services.import_tasks(
            project,
            specs[done : done + batch],
            n_answers=n_answers,
            import_id=run.job_id,
            batch_size=batch,
        )
        run.progress(done + min(batch, total - done), total, commit=False)
        db.session.commit()
    return {"imported": total, "inserted_by_this_run": inserted}


@job("sweep_leases", queue=queues.HIGH)
def sweep_leases(job_id: str) -> dict[str, Any] | None:
    """Delete expired leases and fold the task counts (periodic; idempotent)."""

    def body(run: records.Run) -> dict[str, Any]:
        # the engine counts them in labelhive_leases_expired_total
        swept = annotation.sweep_expired(engine=db.engine)
        with db.engine.begin() as conn:
            folded = counts.fold(conn)
        return {"swept": swept, "folded": folded}

    return records.run_job(job_id, body)
