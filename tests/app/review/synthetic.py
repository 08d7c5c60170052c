"""A synthetic crowd whose true labels are known, answered through the real engine, and a
reviewer who settles the flagged items through the API (the test and ``bench.review_accuracy``).

The crowd has the shape of the one that holds Dawid–Skene to crowd-kit
(``tests/app/consensus/test_crowdkit_parity.py``): annotators of mixed accuracy, a few adversaries
who always answer the next option, uneven redundancy (so ties happen) and a little gold; unlike
that one, it keeps every item's truth, so the dataset's accuracy can be measured.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random

from flask.testing import FlaskClient

from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.tasks.models import Task
from tests.common import engine

OPTIONS = ["bird", "cat", "dog", "fish"]


@dataclasses.dataclass(frozen=True)
class Crowd:
    project_id: int
    owner_key: str
    reviewer_key: str
    truth: dict[int, str]  # every item, gold or not
    gold: frozenset[int]


def build(
    *, n_tasks: int = 120, n_annotators: int = 12, n_adversaries: int = 2, seed: int = 3
) -> Crowd:
    """The project, its answers (2 to 4 per item, one item in 20 gold) and a reviewer."""
    rng = random.Random(seed)
    owner = create_user("owner", email="owner@example.org")
    reviewer = create_user("rev", email="rev@example.org")
    users = [create_user(f"a{i}", email=f"a{i}@example.org") for i in range(n_annotators)]
    project = create_project(
        owner,
        {
            "name": "Synthetic",
            "short_name": "synthetic",
            "info": {"question": "Which animal?", "answers": OPTIONS},
            "default_n_answers": 3,
            "published": True,
        },
    )
    db.session.flush()
    accuracy = {u.id: rng.uniform(0.45, 0.9) for u in users}
    adversaries = {u.id for u in users[:n_adversaries]}
    truth: dict[int, str] = {}
    gold: set[int] = set()
    plan: list[tuple[int, list[int]]] = []
    for i in range(n_tasks):
        label = rng.choice(OPTIONS)
        k = rng.randint(2, 4)
        is_gold = i % 20 == 19
        task = Task(
            project_id=project.id,
            info={"url": f"https://img.test/{i}.png"},
            n_answers=k,
            gold_answer=label if is_gold else None,
        )
        db.session.add(task)
        db.session.flush()
        truth[task.id] = label
        if is_gold:
            gold.add(task.id)
        plan.append((task.id, [u.id for u in rng.sample(users, k)]))
    db.session.commit()
    crowd = Crowd(project.id, owner.api_key, reviewer.api_key, truth, frozenset(gold))
    for task_id, workers in plan:
        for user_id in workers:
            right = truth[task_id]
            if user_id in adversaries:
                answer = OPTIONS[(OPTIONS.index(right) + 1) % len(OPTIONS)]
            elif rng.random() < accuracy[user_id]:
                answer = right
            else:
                answer = rng.choice(OPTIONS)
            engine.submit(db.engine, task_id, user_id, answer, project_id=project.id)
    db.session.rollback()
    return crowd


def dataset(client: FlaskClient, crowd: Crowd) -> dict[int, dict[str, str]]:
    """The labeled dataset export (CSV), by item id."""
    response = client.get(
        f"/api/project/{crowd.project_id}/dataset.csv", headers={"Authorization": crowd.owner_key}
    )
    assert response.status_code == 200, response.get_data()[:300]
    text = response.get_data().decode("utf-8-sig")
    return {int(row["item_id"]): row for row in csv.DictReader(io.StringIO(text))}


def accuracy(rows: dict[int, dict[str, str]], crowd: Crowd) -> float:
    """The share of non-gold items whose final label is the truth (no label is wrong)."""
    items = [t for t in crowd.truth if t not in crowd.gold]
    return sum(rows[t]["label"] == crowd.truth[t] for t in items) / len(items)


def review_all(client: FlaskClient, crowd: Crowd) -> list[int]:
    """The owner makes ``rev`` a reviewer, who works through the queue setting each flagged
    item's true label.

    :return: the adjudicated item ids, in queue order.
    """
    base = f"/api/project/{crowd.project_id}"
    granted = client.post(
        f"{base}/reviewers", json={"name": "rev"}, headers={"Authorization": crowd.owner_key}
    )
    assert granted.status_code == 201, granted.json
    key = {"Authorization": crowd.reviewer_key}
    decided: list[int] = []
    last_id = 0
    while True:
        page = client.get(f"{base}/review?limit=50&last_id={last_id}", headers=key)
        assert page.status_code == 200, page.json
        if not page.json:
            return decided
        for item in page.json:
            task_id = item["item_id"]
            done = client.post(
                f"{base}/review/{task_id}", json={"label": crowd.truth[task_id]}, headers=key
            )
            assert done.status_code == 200, done.json
            decided.append(task_id)
        last_id = page.json[-1]["item_id"]
