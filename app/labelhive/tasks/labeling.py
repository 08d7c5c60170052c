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

from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.storage.scope import S3Scope
from labelhive.tasks import engine
from labelhive.tasks.images import image_for
from labelhive.tasks.images import image_key
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

T = Task.__table__
L = Lease.__table__
P = Project.__table__

# leases one user holds in one project: the task on screen and the prefetched one
MAX_HELD = 2


def held_tasks(project_id: int, user_id: int, *, now: dt.datetime | None = None) -> list[Task]:
    """The tasks the user holds a live lease on in the project, oldest lease first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Task)
            .join(Lease, Lease.task_id == Task.id)
            .where(
                Lease.project_id == project_id,
                Lease.user_id == user_id,
                Lease.expires_at > now,
            )
            .order_by(Lease.id)
        )
    )


def top_up(eng: Engine, project_id: int, user_id: int) -> list[Task]:
    """Make sure the user holds up to :data:`MAX_HELD` tasks; return them, oldest lease first.

    Runs outside the request's session transaction (the engine commits its own), so the
    session is ended first and the look-up below sees the engine's writes.
    """
    db.session.commit()
    held = held_tasks(project_id, user_id)
    if not held:
        if engine.claim(eng, project_id, user_id) is None:
            return []
        db.session.commit()
        held = held_tasks(project_id, user_id)
    if len(held) < MAX_HELD and engine.claim_ahead(eng, project_id, user_id) is not None:
        db.session.commit()
        held = held_tasks(project_id, user_id)
    return held[:MAX_HELD]


def for_annotator(task: Task | dict[str, Any], project: Project | S3Scope) -> dict[str, Any]:
    """What the labeling page may know of a task: id, image URL and the info to show as text.

    The gold answer is a column of its own and never leaves the server; info keys naming gold
    are dropped too, in case an import put the known answer there.
    """
    info = task["info"] if isinstance(task, dict) else task.info
    task_id = task["id"] if isinstance(task, dict) else task.id
    info = info if isinstance(info, dict) else {"value": info}
    key = image_key(info)
    shown = {
        str(k): v
        for k, v in info.items()
        if k != key and not str(k).lower().startswith(("gold", "_gold"))
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
