"""Excluding an annotator from consensus through the API, and including them again
(SQLite and PostgreSQL): the labels change, the answers stay, the change is undone."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from tests.app.review import world as worlds
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
        settle()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(db_app: Flask) -> worlds.World:
    return worlds.build()


def settle(timeout: float = 30) -> None:
    """Wait until no job is queued or running (the in-process thread runs them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # end the read each time: SQLite's writer lock must go to the job's thread
        db.session.rollback()
        busy = db.session.scalar(
            db.select(db.func.count())
            .select_from(JobRecord)
            .where(JobRecord.status.in_(("queued", "running")))
        )
        db.session.rollback()
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("the consensus job did not finish")


def labels(client, world: worlds.World) -> dict[str, str | None]:  # noqa: ANN001
    rows = client.get(
        f"/api/project/{world.project}/consensus?limit=100", headers=world.key(world.owner)
    ).json
    by_id = {row["item_id"]: row["label"] for row in rows}
    return {name: by_id.get(task_id) for name, task_id in world.items.items()}


def dataset_rows(client, world: worlds.World) -> dict[str, dict[str, str]]:  # noqa: ANN001
    response = client.get(
        f"/api/project/{world.project}/dataset.csv", headers=world.key(world.owner)
    )
    assert response.status_code == 200, response.text[:300]
    rows = {
        int(row["item_id"]): row
        for row in csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig")))
    }
    return {name: rows[task_id] for name, task_id in world.items.items()}


def test_excluding_an_annotator_changes_the_labels_and_including_restores_them(db_app, world):
    client = db_app.test_client()
    owner = world.key(world.owner)
    url = f"/api/project/{world.project}/exclusions"
    before = labels(client, world)
    # ann0 answered cat (tie) and dog (open); ann1 answered dog (tie)
    assert before["tie"] == "cat" and before["open"] == "dog"
    spammer = world.annotators[0]

    added = client.post(url, json={"name": "ann0"}, headers=owner)
    assert added.status_code == 201, added.json
    assert added.json["user_id"] == spammer and added.json["name"] == "ann0"
    assert added.json["excluded_by"] == world.owner.id
    assert added.json["excluded_by_name"] == "owner" and added.json["excluded_at"]
    assert added.json["job_id"].startswith(f"consensus-{world.project}-")
    settle()
    after = labels(client, world)
    assert after["tie"] == "dog"  # only ann1's dog counts
    assert after["open"] is None  # its one answer was ann0's
    assert after["sure"] == "cat" and after["gold"] == "bird"
    # the labeled dataset agrees: the excluded answers are no votes there either
    dataset = dataset_rows(client, world)
    assert dataset["tie"]["label"] == "dog" and dataset["tie"]["votes_cat"] == "0"
    assert dataset["open"]["n_answers"] == "0" and dataset["open"]["label"] == ""
    annotators = client.get(f"/api/project/{world.project}/annotators", headers=owner).json
    assert spammer not in [a["user_id"] for a in annotators["annotators"]]
    # the answers stay stored
    stored = db.session.scalar(
        db.select(db.func.count()).select_from(Answer).where(Answer.user_id == spammer)
    )
    assert stored == 4

    # visible: who, by whom, when; excluding again changes nothing
    listed = client.get(url, headers=owner).json
    assert [(e["user_id"], e["excluded_by_name"]) for e in listed] == [(spammer, "owner")]
    again = client.post(url, json={"user_id": spammer}, headers=owner)
    assert again.status_code == 200 and "job_id" not in again.json
    assert len(client.get(url, headers=owner).json) == 1

    removed = client.delete(f"{url}/{spammer}", headers=owner)
    assert removed.status_code == 204
    settle()
    assert labels(client, world) == before
    assert dataset_rows(client, world)["tie"]["votes_cat"] == "1"
    assert client.get(url, headers=owner).json == []
    assert client.delete(f"{url}/{spammer}", headers=owner).status_code == 404


def test_only_managers_exclude(db_app, world):
    client = db_app.test_client()
    url = f"/api/project/{world.project}/exclusions"
    spammer = world.annotators[0]
    for user in (world.stranger, world.reviewer):
        assert client.get(url, headers=world.key(user)).status_code == 403
        denied = client.post(url, json={"user_id": spammer}, headers=world.key(user))
        assert denied.status_code == 403
        assert client.delete(f"{url}/{spammer}", headers=world.key(user)).status_code == 403
    assert client.post(url, json={"user_id": spammer}).status_code == 401
    assert client.get(url, headers=world.key(world.owner)).json == []


def test_bad_exclusions_are_refused_with_a_reason(db_app, world):
    client = db_app.test_client()
    owner = world.key(world.owner)
    url = f"/api/project/{world.project}/exclusions"
    # ann2 never answered in this project
    idle = client.post(url, json={"name": "ann2"}, headers=owner)
    assert idle.status_code == 400
    assert "ann2 has no answers in this project" in idle.json["exception_msg"]
    missing = client.post(url, json={"name": "nobody"}, headers=owner)
    assert missing.status_code == 404 and "nobody" in missing.json["exception_msg"]
    assert client.post(url, json={"user_id": 10**6}, headers=owner).status_code == 404
    assert client.post(url, json={"user_id": 10**20}, headers=owner).status_code == 400
    assert client.delete(f"{url}/{10**20}", headers=owner).status_code == 404
    for body in ({}, {"user_id": "1"}, {"user_id": True}, {"name": " "}, {"name": "a", "x": 1}):
        bad = client.post(url, json=body, headers=owner)
        assert bad.status_code == 400, body
        assert "user_id" in bad.json["exception_msg"]
    assert client.get(url, headers=owner).json == []
