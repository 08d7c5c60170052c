"""A small project with known answers, for the review tests (SQLite and PostgreSQL).

Items (redundancy 2, options cat/dog/bird), answered by ``ann0`` and ``ann1``:

- ``tie``: cat and dog (a one-to-one tie);
- ``sure``: cat and cat;
- ``gold``: a gold item whose answer is bird, answered cat and cat (missed by most);
- ``open``: one answer so far (not complete).
"""

from __future__ import annotations

import dataclasses

from labelhive.accounts.models import User
from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.results import services as consensus
from labelhive.tasks.models import Task
from tests.common import engine

OPTIONS = ["cat", "dog", "bird"]


@dataclasses.dataclass(frozen=True)
class Person:
    """A user's id, name and API key, usable outside the session that created the user."""

    id: int
    name: str
    api_key: str

    @classmethod
    def of(cls, user: User) -> Person:
        return cls(user.id, user.name, user.api_key)


@dataclasses.dataclass
class World:
    project: int
    owner: Person
    reviewer: Person
    stranger: Person
    annotators: list[int]
    items: dict[str, int]

    def key(self, user: Person) -> dict[str, str]:
        return {"Authorization": user.api_key}


def build(method: str = "majority_vote") -> World:
    owner = create_user("owner", email="owner@example.org")
    reviewer = create_user("rev", email="rev@example.org")
    stranger = create_user("stranger", email="stranger@example.org")
    annotators = [create_user(f"ann{i}", email=f"ann{i}@example.org") for i in range(3)]
    db.session.commit()
    project = create_project(
        owner,
        {
            "name": "Pets",
            "short_name": "pets",
            "info": {"question": "Which animal?", "answers": OPTIONS},
            "default_n_answers": 2,
            "published": True,
            "consensus_method": method,
        },
    )
    db.session.flush()
    names = ("tie", "sure", "gold", "open")
    tasks = {
        name: Task(
            project_id=project.id,
            info={"url": f"https://img.test/{name}.png"},
            n_answers=2,
            gold_answer="bird" if name == "gold" else None,
        )
        for name in names
    }
    db.session.add_all(tasks.values())
    db.session.commit()
    world = World(
        project=project.id,
        owner=Person.of(owner),
        reviewer=Person.of(reviewer),
        stranger=Person.of(stranger),
        annotators=[a.id for a in annotators],
        items={name: task.id for name, task in tasks.items()},
    )
    answers = {
        "tie": ["cat", "dog"],
        "sure": ["cat", "cat"],
        "gold": ["cat", "cat"],
        "open": ["dog"],
    }
    for name, labels in answers.items():
        for user_id, label in zip(world.annotators, labels, strict=False):
            answer(world, name, user_id, label)
    consensus.recompute(world.project)
    db.session.rollback()
    return world


def answer(world: World, item: str, user_id: int, label: str) -> None:
    engine.submit(db.engine, world.items[item], user_id, label, project_id=world.project)
    db.session.rollback()
