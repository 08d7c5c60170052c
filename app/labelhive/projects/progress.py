"""What "progress" means in LabelHive: the ONE definition every progress bar uses.

A project's progress is **answers received of answers needed**: each ordinary (non-gold) task
needs ``n_answers`` answers, and each answer it has, up to that number, counts. Half the answers
in is a half-full bar, even when no task is complete yet (a count of completed tasks stays at
zero until the end with depth-first off, and is shown next to the bar).

Gold tasks are left out: they never complete and do not count towards redundancy, so their
answers are no part of the work still to do. That is what managers see (the overview, the
progress page, their home cards). An annotator sees their own answers of all the project's tasks
instead (:func:`for_annotator`), so that nothing they read tells a gold task from a real one.
Services never commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.tasks.models import Task


@dataclasses.dataclass(frozen=True)
class Progress:
    """A project's progress: answers received of answers needed, and tasks done of tasks."""

    answers: int = 0
    needed: int = 0
    tasks_done: int = 0
    tasks: int = 0

    @property
    def percent(self) -> int:
        """Whole percent of the answers needed that were received (100 only when all are)."""
        if not self.needed:
            return 0
        return self.answers * 100 // self.needed


def for_projects(project_ids: Iterable[int]) -> dict[int, Progress]:
    """The progress of each project (in one query); a project with no tasks gets zeros."""
    ids = list(project_ids)
    if not ids:
        return {}
    counted = case((Task.n_done < Task.n_answers, Task.n_done), else_=Task.n_answers)
    done = case((Task.state == "completed", 1), else_=0)
    rows = db.session.execute(
        select(
            Task.project_id,
            func.coalesce(func.sum(counted), 0),
            func.coalesce(func.sum(Task.n_answers), 0),
            func.coalesce(func.sum(done), 0),
            func.count(),
        )
        .where(Task.project_id.in_(ids), Task.gold_answer.is_(None))
        .group_by(Task.project_id)
    ).all()
    found = {row[0]: Progress(*(int(v) for v in row[1:])) for row in rows}
    return {i: found.get(i, Progress()) for i in ids}


def of(project_id: int) -> Progress:
    """The progress of one project (see the module's docstring for what it counts)."""
    return for_projects([project_id])[project_id]


def for_annotator(project_ids: Iterable[int], user_id: int) -> dict[int, Progress]:
    """One annotator's own progress in each project (in one query): their answers of the
    project's tasks, at most one per task.

    Gold tasks are counted like the others here: an annotator's figures must move alike for a
    gold and a real task, so they never point at the gold ones (the labeling page's figures,
    the home page's cards). ``tasks_done`` stays 0: completion is the managers' figure.
    """
    ids = list(project_ids)
    if not ids:
        return {}
    # a user answers a task at most once (unique answer per task and user): counting the
    # joined answers counts the tasks they answered
    rows = db.session.execute(
        select(Task.project_id, func.count(Answer.id), func.count(Task.id))
        .outerjoin(Answer, (Answer.task_id == Task.id) & (Answer.user_id == user_id))
        .where(Task.project_id.in_(ids))
        .group_by(Task.project_id)
    ).all()
    found = {
        pid: Progress(answers=int(mine), needed=int(total), tasks=int(total))
        for pid, mine, total in rows
    }
    return {i: found.get(i, Progress()) for i in ids}


def of_annotator(project_id: int, user_id: int) -> Progress:
    """An annotator's own progress in one project (see :func:`for_annotator`)."""
    return for_annotator([project_id], user_id)[project_id]
