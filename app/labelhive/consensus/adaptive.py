"""Adaptive redundancy: a completed task whose answers disagree gets one more annotator.

Per project (``adaptive_redundancy``, ``adaptive_threshold``, ``adaptive_max_answers``): when a
task completes and the share of its answers that agree with the majority is below the threshold,
its ``n_answers`` goes up by one, up to the cap, which reopens it for one more annotator. When
that answer arrives the task completes again and is judged again.

Exactness comes from the engine: the raise is :func:`labelhive.annotation.service.set_redundancy`
with ``expect_n_answers`` (a compare-and-set under the task's row lock), so a decision taken
from a read that is no longer current (a retry, a late duplicate) changes nothing, and the
cap check is repeated on the value that is actually raised.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy import select

from labelhive.annotation import service as annotation
from labelhive.annotation.store import Submitted
from labelhive.answers.models import Answer
from labelhive.consensus.labels import label_of
from labelhive.projects.models import Project
from labelhive.tasks.models import Task

log = logging.getLogger(__name__)

T = Task.__table__
A = Answer.__table__
P = Project.__table__


def agreement_of(labels: Iterable[str | None]) -> float:
    """The share of answers that agree with the most common one (0 without answers)."""
    counts = collections.Counter(label for label in labels)
    total = sum(counts.values())
    return max(counts.values()) / total if total else 0.0


def needs_more(agreement: float, n_answers: int, threshold: float, cap: int) -> bool:
    """Whether a complete task should get one more annotator (pure)."""
    return agreement < threshold and n_answers < cap


def escalate(engine: Engine, task_id: int) -> bool:
    """Give a complete task one more annotator if its project asks for it and it disagrees.

    :return: whether the task's redundancy was raised.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(
                T.c.n_answers,
                T.c.n_done,
                T.c.state,
                T.c.gold_answer,
                P.c.adaptive_redundancy,
                P.c.adaptive_threshold,
                P.c.adaptive_max_answers,
            )
            .join(P, P.c.id == T.c.project_id)
            .where(T.c.id == task_id)
        ).one_or_none()
        if row is None or not row.adaptive_redundancy or row.gold_answer is not None:
            return False
        if row.state != "completed" or row.n_done < row.n_answers:
            return False
        infos = conn.scalars(select(A.c.info).where(A.c.task_id == task_id)).all()
    agreement = agreement_of(label_of(info) for info in infos)
    if not needs_more(agreement, row.n_answers, row.adaptive_threshold, row.adaptive_max_answers):
        return False
    changed = annotation.set_redundancy(
        row.n_answers + 1, task_ids=[task_id], expect_n_answers=row.n_answers, engine=engine
    )
    if changed:
        log.info(
            "task %s: agreement %.2f below %.2f, redundancy %s -> %s",
            task_id,
            agreement,
            row.adaptive_threshold,
            row.n_answers,
            row.n_answers + 1,
        )
    return bool(changed)


def after_submit(engine: Engine, submitted: Submitted) -> bool:
    """What follows an accepted answer that completed its task (the views call it).

    Adaptive redundancy first (the annotators waiting for work should see the reopened task),
    then a debounced consensus recomputation.

    :return: whether the task was reopened for one more annotator.
    """
    if not submitted.completed_task:
        return False
    from labelhive import starters

    # the submit read the project's setting under the task's lock: no read when it is off
    reopened = submitted.adaptive_redundancy and escalate(engine, submitted.answer["task_id"])
    starters.request_recompute(submitted.answer["project_id"])
    return reopened
