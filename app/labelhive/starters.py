"""Starting background work: every job starter, in one place.

What the web UI, the API and the CLI call to start a job. Each ``start_*`` checks its arguments
(a :class:`ValueError` with a sentence), adds a :class:`~labelhive.jobs.models.JobRecord` to the
session, and the job is enqueued once the caller commits (house style). The caller checks access
(``projects.access.can_manage``) first.

Work that is already queued or running is returned instead of being started twice: the job id
is the work's natural key (:func:`labelhive.jobs.services.unfinished`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from flask import current_app

from labelhive.consensus import jobs as consensus_jobs
from labelhive.consensus.labels import DEFAULT_VALIDATION_FRACTION
from labelhive.exports import dataset
from labelhive.exports import exports
from labelhive.exports import imagefolder
from labelhive.exports import jobs as export_jobs
from labelhive.extensions import db
from labelhive.imports import jobs as import_jobs
from labelhive.imports import parsers as importers
from labelhive.jobs import records
from labelhive.jobs.models import JobRecord
from labelhive.jobs.services import EXPORT
from labelhive.jobs.services import IMPORT
from labelhive.jobs.services import unfinished
from labelhive.results import services as result_services
from labelhive.tasks import jobs as task_jobs
from labelhive.tasks import rules

if TYPE_CHECKING:
    from labelhive.accounts.models import User
    from labelhive.projects.models import Project

CONSENSUS = "consensus"


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
    :param fmt: one of :data:`labelhive.imports.parsers.FORMATS`.
    :param n_answers: redundancy for every task (else each row's, else the project's).
    :param key: a natural key for this import (e.g. the upload's token): starting the same key
        twice returns the first job instead of importing twice.
    :return: the job's record (``status`` ``queued``).
    :raise ValueError: an unknown format (:class:`~labelhive.imports.parsers.ImportFormatError`)
        or an invalid ``n_answers``.
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
        task_jobs.import_file,
        job_id,
        project.id,
        fmt,
        n_answers,
        kind=IMPORT,
        project_id=project.id,
        user_id=_id(user),
        payload=data,
    )


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
    (:func:`labelhive.imports.s3_prefix.import_prefix`). An import of the same bucket, prefix
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
        import_jobs.import_s3,
        job_id,
        project.id,
        bucket,
        prefix,
        wanted,
        n_answers,
        kind=IMPORT,
        project_id=project.id,
        user_id=_id(user),
    )


def start_export(project: Project, user: User | None, what: str, fmt: str) -> JobRecord:
    """Start building an export file of ``project``'s tasks, answers or results.

    An export of the same kind that is still queued or running is returned instead of
    starting a second one.

    :param what: one of :data:`labelhive.exports.exports.WHATS`.
    :param fmt: one of :data:`labelhive.exports.exports.FORMATS`.
    :raise ValueError: an unknown ``what`` or ``fmt``.
    """
    if what not in exports.WHATS:
        raise ValueError(f"Unknown export {what!r}; use one of {', '.join(exports.WHATS)}.")
    exports.content_type(fmt)
    return _start_export(project, user, f"{what}-{fmt}", export_jobs.export_file, what, fmt)


def start_dataset_export(
    project: Project, user: User | None, fmt: str, validation: float | str | None = None
) -> JobRecord:
    """Start writing the labeled dataset (:mod:`labelhive.exports.dataset`) to a file.

    A dataset export of the same format that is still queued or running is returned instead.

    :param fmt: one of :data:`labelhive.exports.dataset.FORMATS`.
    :param validation: the share of items in the validation split (``None``: the default).
    :raise ValueError: an unknown format or a validation share outside 0..1.
    """
    dataset.content_type(fmt)
    validation = dataset.validation_fraction(validation)
    return _start_export(
        project, user, f"dataset-{fmt}", export_jobs.export_dataset, fmt, validation
    )


def _start_export(
    project: Project, user: User | None, kind: str, job: Any, *args: Any
) -> JobRecord:
    """Submit ``job(job_id, project.id, *args)`` (on its queue, ``low``), unless an export of
    the same ``kind`` of the project is still queued or running."""
    if project.id is None:
        db.session.flush()
    prefix = f"export-{project.id}-{kind}-"
    running = unfinished(project.id, EXPORT, prefix)
    if running is not None:
        return running
    job_id = prefix + _token(None)
    return records.submit(
        job_id,
        job,
        job_id,
        project.id,
        *args,
        kind=EXPORT,
        project_id=project.id,
        user_id=_id(user),
    )


def start_imagefolder(
    project: Project,
    user: User | None,
    destination: Any,
    *,
    validation: float = DEFAULT_VALIDATION_FRACTION,
) -> JobRecord:
    """Start copying ``project``'s labeled S3 images into an ImageFolder tree
    (:mod:`labelhive.exports.imagefolder`).

    A copy to the same destination that is still queued or running is returned instead.

    :raise ImageFolderError: an unusable destination.
    """
    bucket, prefix = imagefolder.parse_destination(
        destination, current_app.config.get("S3_BUCKET") or ""
    )
    if project.id is None:
        db.session.flush()
    try:
        imagefolder.check_destination(project, bucket, prefix)
    except imagefolder.DestinationRefused as exc:
        raise imagefolder.ImageFolderError(str(exc)) from None
    target = hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:16]
    job_prefix = f"{imagefolder.KIND}-{project.id}-{target}-"
    running = unfinished(project.id, imagefolder.KIND, job_prefix)
    if running is not None:
        return running
    job_id = job_prefix + uuid.uuid4().hex[:12]
    return records.submit(
        job_id,
        imagefolder.export_imagefolder,
        job_id,
        project.id,
        bucket,
        prefix,
        validation,
        kind=imagefolder.KIND,
        project_id=project.id,
        user_id=_id(user),
    )


def start_recompute(project: Project, user: User | None) -> JobRecord:
    """Ask for a consensus recomputation now (the results page's button, the API).

    One job per project at a time (:func:`labelhive.consensus.jobs.request_consensus`): a queued
    one is returned (the request merged into it), a running one is asked for one follow-up
    run and returned. Commits (the caller's commit after it is harmless).
    """
    job_id, _ = consensus_jobs.request_consensus(
        project.id, "asked for on the results page or through the API", user_id=_id(user)
    )
    return db.session.get_one(JobRecord, job_id)


def request_recompute(project_id: int, *, now: float | None = None) -> str | None:
    """Ask for a consensus recomputation once per project per debounce window; commits.

    Called after a task completes. The job id names the window, so a burst of answers asks
    once; a recomputation already queued takes the request in, one running is asked for one
    follow-up run (:func:`labelhive.consensus.jobs.request_consensus`). Answers after that are
    picked up by the next window's request or the scheduler's periodic run.

    :return: the job id if this call queued a new job, else ``None`` (off, already asked in
        this window, or merged into a queued or running one).
    """
    window = result_services.debounce_seconds()
    if window <= 0:
        return None
    now = time.time() if now is None else now
    job_id = f"consensus-{project_id}-w{int(now // window)}"
    # per process (and app): a window asked for once here needs no second request
    asked = current_app.extensions.setdefault("labelhive.recompute_windows", {})
    if asked.get(project_id) == job_id:
        return None
    got, outcome = consensus_jobs.request_consensus(project_id, "tasks completed", job_id=job_id)
    asked[project_id] = job_id
    return got if outcome == "queued" else None


def _id(user: User | None) -> int | None:
    return None if user is None else user.id


def _token(key: str | None) -> str:
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(key.encode()).hexdigest()[:32]
