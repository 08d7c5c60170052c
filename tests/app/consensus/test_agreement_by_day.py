"""An annotator's agreement with the consensus per day, on SQLite and PostgreSQL: the day is
read from ``finish_time`` with the answers' arrays, counted by the consensus job, stored on the
annotator row, drawn on the results page and served by the API. An excluded annotator is
compared with the consensus they had no part in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from labelhive.answers.models import Answer
from labelhive.consensus import answer_arrays
from labelhive.consensus.models import AnnotatorQuality
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.results import services
from labelhive.review import exclusions
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

DAY1 = dt.datetime(2026, 11, 20)
DAY2 = DAY1 + dt.timedelta(days=1)
# UTC days since the epoch, as the database computes them
EPOCH_DAY1 = (DAY1.date() - dt.date(1970, 1, 1)).days
# the first and last moments of each day: the day boundary is where a wrong expression shows
TIMES = (dt.timedelta(0), dt.timedelta(hours=12), dt.timedelta(hours=23, minutes=59, seconds=59))


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@dataclasses.dataclass(frozen=True)
class World:
    project: int
    owner_key: str
    users: dict[str, int]


def build() -> World:
    """Six items and a gold one; anna and ben answer cat on day 1 and dog on day 2, carol cat
    on both (she agrees on day 1, not on day 2), dave, excluded, dog on both."""
    owner = make_user("olga")
    people = {name: make_user(name) for name in ("anna", "ben", "carol", "dave")}
    project = make_project(owner, answers=("cat", "dog"), n_answers=3)
    project.consensus_method = "majority_vote"
    tasks = [Task(project_id=project.id, info={"n": i}, n_answers=3) for i in range(6)]
    gold = Task(project_id=project.id, info={"n": "gold"}, n_answers=3, gold_answer="cat")
    db.session.add_all([*tasks, gold])
    db.session.flush()
    answers = {"anna": ("cat", "dog"), "ben": ("cat", "dog"), "carol": ("cat", "cat")}
    answers["dave"] = ("dog", "dog")
    for name, (first, second) in answers.items():
        for i, task in enumerate(tasks):
            day, label = (DAY1, first) if i < 3 else (DAY2, second)
            _answer(project, task, people[name].id, label, day + TIMES[i % 3])
        # the gold item, answered right: no part of the agreement with the consensus
        _answer(project, gold, people[name].id, "cat", DAY2 + TIMES[1])
    db.session.commit()
    exclusions.exclude(project, people["dave"], owner.id)
    db.session.commit()
    world = World(project.id, owner.api_key, {name: user.id for name, user in people.items()})
    services.recompute(world.project)
    db.session.rollback()
    return world


def _answer(project: Project, task: Task, user_id: int, label: str, when: dt.datetime) -> None:
    db.session.add(
        Answer(
            project_id=project.id,
            task_id=task.id,
            user_id=user_id,
            info={"answer": label},
            created=when - dt.timedelta(minutes=1),
            finish_time=when,
        )
    )


def test_the_arrays_carry_each_answers_utc_day(db_app) -> None:
    world = build()
    arrays = answer_arrays.read(db.engine, world.project, 2**31 - 1)
    assert arrays.day is not None and arrays.day.dtype.name == "int32"
    users = arrays.worker_ids[arrays.worker].tolist()
    counted = Counter(zip(users, arrays.day.tolist(), strict=True))
    for name in ("anna", "ben", "carol"):
        user = world.users[name]
        # 23:59:59 is still day 1, 00:00:00 already day 2; the gold answer is on day 2
        assert counted[(user, EPOCH_DAY1)] == 3 and counted[(user, EPOCH_DAY1 + 1)] == 4
    assert world.users["dave"] not in users
    others = answer_arrays.read_excluded(db.engine, world.project, 2**31 - 1, arrays)
    assert others.worker_ids.tolist() == [world.users["dave"]]
    assert sorted(others.day.tolist()) == [EPOCH_DAY1] * 3 + [EPOCH_DAY1 + 1] * 4
    assert others.labels == arrays.labels and others.task_ids is arrays.task_ids


def test_the_consensus_job_stores_agreement_per_day(db_app) -> None:
    world = build()
    stored = {
        row.user_id: row
        for row in db.session.scalars(
            db.select(AnnotatorQuality).where(AnnotatorQuality.project_id == world.project)
        )
    }
    day1, day2 = DAY1.date().isoformat(), DAY2.date().isoformat()
    carol = stored[world.users["carol"]]
    assert carol.agreement_by_day == [[day1, 3, 3], [day2, 3, 0]]
    assert carol.agreement_with_consensus == 0.5 and carol.n_answers == 7
    assert stored[world.users["anna"]].agreement_by_day == [[day1, 3, 3], [day2, 3, 3]]
    # excluded: no annotator row (annotators_of never sees their answers), but compared
    assert world.users["dave"] not in stored
    run = services.run_for(world.project)
    (dave,) = run.summary["excluded_annotators"]
    assert dave == {
        "user_id": world.users["dave"],
        "n_answers": 7,
        "n_compared": 6,
        "agreement_with_consensus": 0.5,
        "agreement_by_day": [[day1, 3, 0], [day2, 3, 3]],
    }


def test_the_results_page_draws_each_annotators_days(db_app) -> None:
    build()
    client = db_app.test_client()
    sign_in(client, "olga")
    page = client.get("/project/pets/results").get_data(as_text=True)
    table = page[
        page.index('id="annotator-table"') : page.index(
            "</table>", page.index('id="annotator-table"')
        )
    ]
    carol = _row(table, "carol")
    assert "1.00 → 0.00 over 2 days" in carol
    assert '<svg class="sparkline" role="img"' in carol
    assert "<title>2026-11-21: 0 of 3 agree (0.00)</title>" in carol
    assert "1.00 → 1.00 over 2 days" in _row(table, "anna")
    # the excluded annotator: in the excluded table, with their days against the consensus
    excluded = page[page.index('id="excluded-table"') :]
    assert "0.00 → 1.00 over 2 days" in _row(excluded, "dave")
    assert "dave" not in table


def test_the_api_serves_agreement_per_day_as_documented(db_app) -> None:
    world = build()
    client = db_app.test_client()
    headers = {"Authorization": world.owner_key}
    body = client.get(f"/api/project/{world.project}/annotators", headers=headers).json
    by_name = {a["name"]: a for a in body["annotators"]}
    assert by_name["carol"]["agreement_by_day"] == [
        {"day": "2026-11-20", "answers": 3, "agreeing": 3},
        {"day": "2026-11-21", "answers": 3, "agreeing": 0},
    ]
    (dave,) = body["excluded_annotators"]
    assert (dave["user_id"], dave["name"], dave["n_answers"]) == (world.users["dave"], "dave", 7)
    assert [d["agreeing"] for d in dave["agreement_by_day"]] == [0, 3]
    # what the OpenAPI document says the endpoint returns
    document = client.get("/api/openapi.json").json
    for name, items in (("Annotator", body["annotators"]), ("ExcludedAnnotator", [dave])):
        schema = {"components": document["components"], "$ref": f"#/components/schemas/{name}"}
        for item in items:
            Draft202012Validator(schema).validate(item)


def _row(html: str, name: str) -> str:
    found = re.search(rf'<th scope="row">{name}</th>.*?</tr>', html, re.S)
    assert found is not None, name
    return found.group(0)
