"""Services behind the labeling page: the tasks a user holds, a look-ahead lease, progress.

The labeling page shows the next image the moment a key is pressed, so it must know the next
task *before* the keypress: each annotator holds up to two leases in a project, the task on
screen and the one behind it (whose image the browser has already loaded). The look-ahead lease
is an ordinary lease: it reserves a slot exactly like the first one, so the redundancy guarantee
is unchanged; it is renewed by the page's heartbeat and released on undo.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.reports.models import TaskReport
from labelhive.storage.scope import S3Scope
from labelhive.tasks.images import IMAGE_KEYS
from labelhive.tasks.images import image_for
from labelhive.tasks.images import image_key
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

T = Task.__table__
L = Lease.__table__
P = Project.__table__


def for_annotator(task: Task | dict[str, Any], project: Project | S3Scope) -> dict[str, Any]:
    """What the labeling page may know of a task: id, image URL and the info to show as text.

    The gold answer is a column of its own and never leaves the server; info keys naming gold
    are dropped too, in case an import put the known answer there.
    """
    info = task["info"] if isinstance(task, dict) else task.info
    task_id = task["id"] if isinstance(task, dict) else task.id
    info = info if isinstance(info, dict) else {"value": info}
    key = image_key(info)
    # every image key is left out, not only the one used: an import keeps the original column
    # (``image_url``) next to the ``url`` it adds, and an annotator reads no raw URLs
    shown = {
        str(k): v
        for k, v in info.items()
        if k != key
        and not (str(k).lower() in IMAGE_KEYS and isinstance(v, str))
        and not str(k).lower().startswith(("gold", "_gold"))
    }
    image = image_for(info, project)
    # image_key: where the image URL was, for custom presenters that read task.info.<key>;
    # image_problem: why an image is not shown (outside the project's storage)
    return {
        "id": task_id,
        "image": image.url,
        "image_key": key,
        "image_problem": image.problem,
        "info": shown,
    }


def answered_by(project_id: int, user_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Answer)
            .where(Answer.project_id == project_id, Answer.user_id == user_id)
        )
        or 0
    )


def task_count(project_id: int) -> int:
    """The project's tasks, gold included: the one total an annotator is shown."""
    return (
        db.session.scalar(select(func.count()).select_from(T).where(T.c.project_id == project_id))
        or 0
    )


def breakdown(project_id: int) -> dict[str, int]:
    """Non-gold tasks by progress: done, in progress (some answers or leases), not started."""
    started = (T.c.n_done + T.c.n_reserved) > 0
    rows = db.session.execute(
        select(T.c.state, started.label("started"), func.count())
        .where(T.c.project_id == project_id, T.c.gold_answer.is_(None))
        .group_by(T.c.state, started)
    ).all()
    counts = {"done": 0, "in_progress": 0, "open": 0}
    for state, is_started, count in rows:
        if state == "completed":
            counts["done"] += count
        elif is_started:
            counts["in_progress"] += count
        else:
            counts["open"] += count
    return counts


def has_work(project_id: int, user_id: int, *, now: dt.datetime | None = None) -> bool:
    """Whether the labeling page has a task for the user: one they hold, or one a claim can take.

    A claimable task is the engine's ordinary candidate (not gold, not complete, not answered
    or held by the user) with room left once expired leases are set aside (claims sweep them).
    An unanswered gold task is work when the project's gold rate is above zero (the claim
    may hand it out), whatever else is left, so the answer does not tell gold tasks apart.
    Tasks the user skipped count: a claim offers them again when nothing else is left; tasks
    they reported do not (the claim's candidates leave them out).
    """
    now = now or utcnow()
    holds = select(L.c.id).where(
        L.c.project_id == project_id, L.c.user_id == user_id, L.c.expires_at > now
    )
    if db.session.scalar(holds.limit(1)) is not None:
        return True
    live = (
        select(func.count())
        .select_from(L)
        .where(L.c.task_id == T.c.id, L.c.expires_at > now)
        .scalar_subquery()
    )
    answered = select(Answer.id).where(Answer.task_id == T.c.id, Answer.user_id == user_id)
    leased = select(L.c.id).where(L.c.task_id == T.c.id, L.c.user_id == user_id)
    reported = select(TaskReport.id).where(
        TaskReport.task_id == T.c.id, TaskReport.user_id == user_id
    )
    candidate = select(T.c.id).where(
        T.c.project_id == project_id,
        T.c.state == "ongoing",
        T.c.gold_answer.is_(None),
        T.c.n_done + live < T.c.n_answers,
        ~answered.exists(),
        ~leased.exists(),
        ~reported.exists(),
    )
    if db.session.scalar(candidate.limit(1)) is not None:
        return True
    # gold tasks the claim may still serve (at the project's gold rate) are work too: an
    # overview that said "nothing left" while only gold remained would point at the gold tasks
    gold = select(T.c.id).where(
        T.c.project_id == project_id,
        T.c.gold_answer.is_not(None),
        select(P.c.gold_rate).where(P.c.id == project_id).scalar_subquery() > 0,
        ~answered.exists(),
        ~leased.exists(),
        ~reported.exists(),
    )
    return db.session.scalar(gold.limit(1)) is not None


def undoable(project_id: int, user_id: int, limit: int = 20) -> list[int]:
    """The user's latest answers in the project that undo may still take back, oldest first.

    Undo refuses an answer whose task is complete (its result used it), so those are left out.
    The labeling page seeds its undo stack with these, so ``u`` works after a reload too.
    """
    ids = db.session.scalars(
        select(Answer.id)
        .join(Task, Task.id == Answer.task_id)
        .where(
            Answer.project_id == project_id,
            Answer.user_id == user_id,
            Task.state != "completed",
        )
        .order_by(Answer.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(ids))
