"""Which projects are being answered: what the scheduler's per-project periodic jobs follow."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.extensions import db


def projects_answered_since(since: dt.datetime) -> list[int]:
    """The ids of the projects that received an answer at or after ``since`` (naive UTC).

    By submit time (``finish_time``), on its index ``ix_answer_finish_time_project_id``: the
    scan covers the recent answers only, and reads ``project_id`` from the index.
    ``Answer.created`` is when the task was handed out, and has no index.
    """
    return list(
        db.session.scalars(select(Answer.project_id).where(Answer.finish_time >= since).distinct())
    )
