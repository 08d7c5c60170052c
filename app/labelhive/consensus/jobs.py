"""Background jobs of consensus: recompute a project's consensus, one job per project at a time.

Job functions take primitive ids, reload what they need, and are idempotent (house style).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from labelhive.consensus import slots
from labelhive.extensions import db
from labelhive.jobs import UserError
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.models import CONSENSUS
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import JobRecord
from labelhive.jobs.registry import job
from labelhive.results import services as consensus_services


@job("refresh_consensus", queue=queues.LOW)
def refresh_consensus(job_id: str, project_id: int) -> dict[str, Any] | None:
    """Recompute and store a project's consensus labels, annotator quality and agreement.

    Periodic (for projects with new answers), after tasks complete, and on demand from the
    results page, always through :func:`request_consensus`: one job per project at a time. On
    ``low``, behind every import and export (:mod:`labelhive.jobs.queues`).

    A job that starts while another recomputation of its project runs (two requests raced past
    :func:`request_consensus`) does not run beside it: it asks that one for its follow-up run
    and ends as ``{"merged_into": id}``.

    At most ``CONSENSUS_MAX_RUNNING`` recomputations run at once (:mod:`labelhive.results.
    slots`): a job over the cap stays queued, with the reason in its runs, and ends as
    ``{"waiting": n}``; the next recomputation to end enqueues it again.

    :return: the recomputation's :class:`~labelhive.results.services.Summary` as a dict.
    """
    running = slots.take(job_id)
    if running is not None:
        return {"waiting": running}

    def body(run: records.Run) -> dict[str, Any]:
        other = records.ask_follow_up(
            (JobRecord.project_id == project_id)
            & (JobRecord.kind == CONSENSUS)
            & (JobRecord.id != job_id),
            f"asked for again while it ran (job {job_id})",
        )
        if other:
            return {"merged_into": other[0]}
        try:
            return consensus_services.recompute(project_id).to_dict()
        except consensus_services.ConsensusError as exc:
            raise UserError(str(exc)) from None

    def follow_up(reason: str) -> None:
        request_consensus(project_id, f"follow-up of {job_id}: {reason}")

    try:
        return records.run_job(job_id, body, follow_up=follow_up)
    finally:
        slots.wake_one(job_id)


def request_consensus(
    project_id: int, reason: str, *, job_id: str | None = None, user_id: int | None = None
) -> tuple[str, str]:
    """Ask for a recomputation of the project's consensus: one job per project at a time.

    - a recomputation is running: it is asked for exactly one follow-up run once it ends (the
      first reason is kept; more requests change nothing);
    - one is queued: the request is merged into it (its reason is added to the record's runs);
    - else a new job is queued (``job_id``, or a fresh one).

    Ends the session's transaction first and commits (like
    :func:`labelhive.jobs.records.submit_once`): the web request's own work is committed.

    :return: the job that will do the work, and what happened: ``"follow_up"``,
        ``"merged"``, ``"queued"``, or ``"done"`` (``job_id`` names a job that already ended).
    """
    db.session.rollback()
    mine = (JobRecord.project_id == project_id) & (JobRecord.kind == CONSENSUS)
    running = records.ask_follow_up(mine, reason)
    if running:
        return running[0], "follow_up"
    job_id = job_id or f"consensus-{project_id}-{uuid.uuid4().hex[:12]}"
    if records.submit_once(
        job_id,
        refresh_consensus,
        job_id,
        project_id,
        kind=CONSENSUS,
        project_id=project_id,
        user_id=user_id,
        reason=reason,
    ):
        return job_id, "queued"
    # the partial unique index (one queued per project), or this id's record, is in the way
    queued = db.session.scalar(select(JobRecord).where(mine, JobRecord.status == QUEUED).limit(1))
    if queued is not None:
        queued_id = queued.id
        records.add_run(queued, f"merged: {reason}")
        try:
            db.session.commit()
        except DBAPIError:
            # SQLite: another writer committed since this read; the reason is only a note
            db.session.rollback()
        return queued_id, "merged"
    # the queued one started in between: ask it for its follow-up
    running = records.ask_follow_up(mine, reason)
    if running:
        return running[0], "follow_up"
    # ``job_id``'s own record ended (a debounce window's job ran): nothing more this time
    return job_id, "done"
