"""A small labeled project filled through the real engine (claims and submits), for tests."""

from __future__ import annotations

import dataclasses
import random

from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.tasks.models import Task
from tests.common import engine

OPTIONS = ["cat", "dog", "bird"]


@dataclasses.dataclass
class Crowd:
    project_id: int
    owner_id: int
    annotators: list[int]
    truth: dict[int, str]
    gold: dict[int, str]


def fill(*, n_tasks: int = 30, n_gold: int = 3, n_annotators: int = 6, seed: int = 1) -> Crowd:
    """A project (3 answers per task, gold at rate 0.3) answered by simulated annotators.

    Annotator 0 always answers "dog"; the others are right 80% of the time.
    """
    rng = random.Random(seed)
    owner = create_user("owner", email="owner@example.org")
    users = [create_user(f"annotator{i}", email=f"a{i}@example.org") for i in range(n_annotators)]
    project = create_project(
        owner,
        {
            "name": "Pets",
            "short_name": "pets",
            "info": {"question": "Which animal?", "answers": OPTIONS},
            "default_n_answers": 3,
            "gold_rate": 0.3,
            "published": True,
        },
    )
    truth = {}
    gold = {}
    for i in range(n_tasks + n_gold):
        label = rng.choice(OPTIONS)
        is_gold = i >= n_tasks
        task = Task(
            project_id=project.id,
            info={"url": f"s3://bucket/pets/{i}.jpg"},
            n_answers=3,
            gold_answer=label if is_gold else None,
        )
        db.session.add(task)
        db.session.flush()
        truth[task.id] = label
        if is_gold:
            gold[task.id] = label
    db.session.commit()
    crowd = Crowd(project.id, owner.id, [u.id for u in users], truth, gold)
    answer_all(crowd, rng)
    return crowd


def answer(crowd: Crowd, user_id: int, task_id: int, rng: random.Random) -> str:
    if user_id == crowd.annotators[0]:
        return "dog"
    if rng.random() < 0.8:
        return crowd.truth[task_id]
    return rng.choice(OPTIONS)


def answer_all(crowd: Crowd, rng: random.Random, *, limit: int | None = None) -> int:
    """Annotators take turns claiming and answering until no work is left (or ``limit``)."""
    done = 0
    active = list(crowd.annotators)
    while active and (limit is None or done < limit):
        for user_id in list(active):
            if limit is not None and done >= limit:
                break
            claim = engine.claim(db.engine, crowd.project_id, user_id, rng=rng)
            if claim is None:
                active.remove(user_id)
                continue
            task_id = claim.task["id"]
            engine.submit(db.engine, task_id, user_id, answer(crowd, user_id, task_id, rng))
            done += 1
    # end the session's read transaction: on SQLite it would keep seeing the old snapshot
    db.session.commit()
    return done
