"""The gold page's one Save button: every changed row at once, or nothing, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def client(any_url: str) -> Iterator[FlaskClient]:
    app: Flask = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app.test_client()
        db.session.remove()
        db.engine.dispose()


def gold_answers(project_id: int) -> dict[int, str | None]:
    db.session.commit()  # a fresh snapshot: the requests share this session
    rows = db.session.execute(
        db.select(Task.id, Task.gold_answer).where(Task.project_id == project_id)
    )
    return dict(rows.all())


def form(ids: list[int], answers: dict[int, str]) -> dict[str, object]:
    return {"task_id": [str(i) for i in ids]} | {f"gold_answer-{i}": a for i, a in answers.items()}


def test_one_save_writes_every_changed_row_or_nothing(client: FlaskClient) -> None:
    alice = make_user("alice")
    project = make_project(alice, n_tasks=4)
    birds = make_project(alice, short_name="birds", n_tasks=1)
    ids = sorted(gold_answers(project.id))
    (other,) = gold_answers(birds.id)
    sign_in(client, "alice")

    unchanged = {i: "" for i in ids}
    response = client.post("/project/pets/gold", data=form(ids, unchanged | {ids[0]: "dog"}))
    assert response.status_code == 302 and response.headers["Location"] == "/project/pets/gold"
    response = client.post(
        "/project/pets/gold", data=form(ids, unchanged | {ids[0]: "dog", ids[2]: "bird"})
    )
    assert "Saved: 1 task changed." in client.get("/project/pets/gold").get_data(as_text=True)
    assert gold_answers(project.id) == {ids[0]: "dog", ids[1]: None, ids[2]: "bird", ids[3]: None}

    # one bad row: nothing of the page is saved, and the message names the problem
    bad = unchanged | {ids[0]: "", ids[1]: "cat", ids[3]: "cow"}
    client.post("/project/pets/gold", data=form(ids, bad))
    page = client.get("/project/pets/gold").get_data(as_text=True)
    assert "Nothing was saved:" in page and "must be one of the project" in page
    assert gold_answers(project.id)[ids[0]] == "dog" and gold_answers(project.id)[ids[1]] is None
    # another project's task through this project's page
    client.post("/project/pets/gold", data=form([other], {other: "cat"}))
    assert gold_answers(birds.id)[other] is None
    # malformed lists are refused
    assert client.post("/project/pets/gold", data={"task_id": ["x"]}).status_code == 400
    too_many = {"task_id": [str(i) for i in range(1, 60)]}
    assert client.post("/project/pets/gold", data=too_many).status_code == 400


def test_only_managers_save_the_gold_page(client: FlaskClient) -> None:
    alice = make_user("alice")
    make_user("bob")
    project = make_project(alice, n_tasks=1)
    (task_id,) = gold_answers(project.id)
    sign_in(client, "bob")
    response = client.post("/project/pets/gold", data=form([task_id], {task_id: "cat"}))
    assert response.status_code == 403
    assert gold_answers(project.id)[task_id] is None
