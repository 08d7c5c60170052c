"""The review API: reviewers, the queue, decisions, provenance, the results browser and the
labels in the results export (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.extensions import db
from labelhive.results import services as consensus
from labelhive.tasks.models import Task
from tests.app.review import world as worlds
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(db_app) -> worlds.World:
    world = worlds.build()
    response = db_app.test_client().post(
        f"/api/project/{world.project}/reviewers",
        json={"name": "rev"},
        headers=world.key(world.owner),
    )
    assert response.status_code == 201, response.json
    return world


def test_owners_grant_and_revoke_the_reviewer_role(db_app, world):
    client = db_app.test_client()
    url = f"/api/project/{world.project}/reviewers"
    listed = client.get(url, headers=world.key(world.owner)).json
    assert [(r["user_id"], r["name"]) for r in listed] == [(world.reviewer.id, "rev")]
    # granting twice is harmless; strangers and reviewers may not grant
    again = client.post(url, json={"name": "rev"}, headers=world.key(world.owner))
    assert again.status_code == 201
    assert len(client.get(url, headers=world.key(world.owner)).json) == 1
    for user in (world.stranger, world.reviewer):
        denied = client.post(url, json={"name": "stranger"}, headers=world.key(user))
        assert denied.status_code == 403
    missing = client.post(url, json={"name": "nobody"}, headers=world.key(world.owner))
    assert missing.status_code == 404 and "nobody" in missing.json["exception_msg"]
    bad = client.post(url, json={"name": ""}, headers=world.key(world.owner))
    assert bad.status_code == 400
    gone = client.delete(f"{url}/{world.reviewer.id}", headers=world.key(world.owner))
    assert gone.status_code == 204
    queue = client.get(f"/api/project/{world.project}/review", headers=world.key(world.reviewer))
    assert queue.status_code == 403
    assert (
        client.delete(f"{url}/{world.reviewer.id}", headers=world.key(world.owner)).status_code
        == 404
    )


def test_a_reviewer_works_through_the_queue(db_app, world):
    client = db_app.test_client()
    key = world.key(world.reviewer)
    base = f"/api/project/{world.project}"
    queue = client.get(f"{base}/review", headers=key)
    assert queue.status_code == 200
    tie, gold = world.items["tie"], world.items["gold"]
    assert [(i["item_id"], i["tie"], i["review_state"]) for i in queue.json] == [
        (tie, True, "needs_review"),
        (gold, False, "needs_review"),
    ]
    # keyset paging
    second = client.get(f"{base}/review?limit=1&last_id={tie}", headers=key).json
    assert [i["item_id"] for i in second] == [gold]

    item = client.get(f"{base}/item/{tie}", headers=key).json
    assert item["image"] == "https://img.test/tie.png"
    assert sorted((a["user_name"], a["label"]) for a in item["answers"]) == [
        ("ann0", "cat"),
        ("ann1", "dog"),
    ]
    assert item["review"]["reasons"] == ["tie", "low_confidence"]
    assert item["consensus"]["votes"] == {"cat": 1, "dog": 1}

    decided = client.post(f"{base}/review/{tie}", json={"label": "dog"}, headers=key)
    assert decided.status_code == 200, decided.json
    assert decided.json["consensus"]["label"] == "dog"
    assert decided.json["consensus"]["method"] == "reviewed"
    assert decided.json["review"]["state"] == "reviewed"
    assert decided.json["review"]["reviewer_name"] == "rev"
    assert decided.json["review"]["reviewed_at"]
    assert [i["item_id"] for i in client.get(f"{base}/review", headers=key).json] == [gold]

    # a recomputation keeps the decision, and the API says so
    consensus.recompute(world.project)
    db.session.rollback()
    again = client.get(f"{base}/item/{tie}", headers=key).json
    assert (again["consensus"]["label"], again["review"]["state"]) == ("dog", "reviewed")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"label": "fish"}, 400, "one of the project's options"),
        ({"label": "cat", "send_back": True}, 400, "either"),
        ({}, 400, "either"),
        ({"send_back": "yes"}, 400, "send_back must be true"),
        ({"verdict": "cat"}, 400, "Unknown key"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(db_app, world, body, status, words):
    client = db_app.test_client()
    tie = world.items["tie"]
    url = f"/api/project/{world.project}/review/{tie}"
    response = client.post(url, json=body, headers=world.key(world.reviewer))
    assert response.status_code == status
    assert words in response.json["exception_msg"]
    item = client.get(f"/api/project/{world.project}/item/{tie}", headers=world.key(world.owner))
    assert item.json["review"]["state"] == "needs_review"
    assert db.session.get(Task, tie).n_answers == 2


def test_decisions_need_the_role_and_a_real_item(db_app, world):
    client = db_app.test_client()
    base = f"/api/project/{world.project}"
    tie = world.items["tie"]
    stranger = client.post(
        f"{base}/review/{tie}", json={"label": "cat"}, headers=world.key(world.stranger)
    )
    assert stranger.status_code == 403
    anonymous = client.post(f"{base}/review/{tie}", json={"label": "cat"})
    assert anonymous.status_code == 401
    assert client.get(f"{base}/item/{tie}", headers=world.key(world.stranger)).status_code == 403
    missing = client.post(
        f"{base}/review/999999", json={"label": "cat"}, headers=world.key(world.reviewer)
    )
    assert missing.status_code == 404
    # the owner may decide too
    owner = client.post(
        f"{base}/review/{tie}", json={"label": "cat"}, headers=world.key(world.owner)
    )
    assert owner.status_code == 200 and owner.json["review"]["reviewer_name"] == "owner"


def test_sending_back_raises_redundancy_through_the_engine(db_app, world):
    client = db_app.test_client()
    base = f"/api/project/{world.project}"
    tie = world.items["tie"]
    sent = client.post(
        f"{base}/review/{tie}", json={"send_back": True}, headers=world.key(world.reviewer)
    )
    assert sent.status_code == 200, sent.json
    assert sent.json["review"]["state"] == "sent_back"
    db.session.rollback()
    task = db.session.get(Task, tie)
    assert (task.n_answers, task.state) == (3, "ongoing")
    twice = client.post(
        f"{base}/review/{tie}", json={"send_back": True}, headers=world.key(world.reviewer)
    )
    assert twice.status_code == 409 and "still collecting" in twice.json["exception_msg"]
    gold = client.post(
        f"{base}/review/{world.items['gold']}",
        json={"send_back": True},
        headers=world.key(world.reviewer),
    )
    assert gold.status_code == 409
    # the reopened task is handed out again, to an annotator who has not answered it
    worlds.answer(world, "tie", world.annotators[2], "dog")
    consensus.recompute(world.project)
    db.session.rollback()
    item = client.get(f"{base}/item/{tie}", headers=world.key(world.reviewer)).json
    assert (item["consensus"]["label"], item["review"]["state"]) == ("dog", "none")


def test_the_results_browser_filters_and_pages(db_app, world):
    client = db_app.test_client()
    key = world.key(world.owner)
    base = f"/api/project/{world.project}/items"
    items = world.items

    def ids(query: str = "") -> list[int]:
        response = client.get(f"{base}?{query}", headers=key)
        assert response.status_code == 200, response.json
        return [row["item_id"] for row in response.json]

    assert ids() == sorted(items.values())
    assert ids("tie=1") == [items["tie"]]
    assert ids("gold=1") == [items["gold"]]
    assert ids("disagreement=1") == [items["tie"]]
    assert ids("confidence_below=0.9") == [items["tie"]]
    assert ids("label=dog") == [items["open"]]
    assert ids("state=needs_review") == sorted([items["tie"], items["gold"]])
    assert ids(f"annotator={world.annotators[1]}") == sorted(
        [items["tie"], items["sure"], items["gold"]]
    )
    first = ids("limit=2")
    assert first == sorted(items.values())[:2]
    assert ids(f"limit=2&last_id={first[-1]}") == sorted(items.values())[2:]
    row = client.get(f"{base}?tie=1", headers=key).json[0]
    assert row["image"] == "https://img.test/tie.png" and row["votes"] == {"cat": 1, "dog": 1}
    bad = client.get(f"{base}?confidence_below=7", headers=key)
    assert bad.status_code == 400 and "confidence_below" in bad.json["exception_msg"]
    # the browser is the owners': reviewers use the queue
    assert client.get(base, headers=world.key(world.reviewer)).status_code == 403


def test_results_exports_carry_the_final_label(db_app, world):
    client = db_app.test_client()
    base = f"/api/project/{world.project}"
    tie, sure = world.items["tie"], world.items["sure"]
    client.post(f"{base}/review/{tie}", json={"label": "bird"}, headers=world.key(world.reviewer))
    key = world.key(world.owner)
    rows = {r["task_id"]: r for r in client.get(f"{base}/export/results.json", headers=key).json}
    assert (rows[tie]["label"], rows[tie]["method"], rows[tie]["review_state"]) == (
        "bird",
        "reviewed",
        "reviewed",
    )
    assert rows[tie]["reviewed_by"] == world.reviewer.id and rows[tie]["reviewed_at"]
    assert (rows[sure]["label"], rows[sure]["confidence"], rows[sure]["review_state"]) == (
        "cat",
        1.0,
        "none",
    )
    # PYBOSSA's fields are still there
    assert {"id", "task_id", "project_id", "task_run_ids", "info", "created"} <= set(rows[tie])
    text = client.get(f"{base}/export/results.csv", headers=key).get_data(as_text=True)
    table = {int(r["task_id"]): r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert (table[tie]["label"], table[tie]["method"], table[tie]["review_state"]) == (
        "bird",
        "reviewed",
        "reviewed",
    )
    lines = client.get(f"{base}/export/results.jsonl", headers=key).get_data(as_text=True)
    assert {json.loads(line)["task_id"]: json.loads(line)["label"] for line in lines.splitlines()}[
        sure
    ] == "cat"
    # the labeled dataset: the reviewer's label wins, with its state
    dataset = client.get(f"{base}/dataset.csv", headers=key).get_data(as_text=True)
    items = {int(r["item_id"]): r for r in csv.DictReader(io.StringIO(dataset.lstrip("\ufeff")))}
    assert (items[tie]["label"], items[tie]["method"], items[tie]["review_state"]) == (
        "bird",
        "reviewed",
        "reviewed",
    )
    assert items[world.items["gold"]]["review_state"] == "needs_review"
