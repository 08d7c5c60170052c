"""Answers are changed or taken back only while their author may contribute (issue 22).

Once a project is unpublished its annotators may no longer change their answers through
``PUT``/``DELETE /api/taskrun/<id>`` nor undo them on a labeling page (not even another
project's page, naming the answer's id): 403 with a sentence, the answer kept. The owner keeps
the right to delete. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.accounts.services import by_name
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _answer_then_unpublish(app: Flask) -> tuple[int, str, str]:
    """Annie answers a task of ``pets`` (n_answers=2, so not complete); the owner unpublishes.

    :return: the answer id, annie's and the owner's API keys.
    """
    owner = make_user("owner")
    make_project(owner, n_tasks=2, n_answers=2)
    owner_key, annie_key = owner.api_key, make_user("annie").api_key
    client = app.test_client()
    task = client.get("/api/project/1/newtask", headers={"Authorization": annie_key}).get_json()
    posted = client.post(
        "/api/taskrun",
        headers={"Authorization": annie_key},
        json={"task_id": task["id"], "info": "cat"},
    )
    assert posted.status_code == 200, posted.get_data(as_text=True)
    db.session.execute(db.update(Project).values(published=False))
    db.session.commit()
    return posted.get_json()["id"], annie_key, owner_key


def _infos() -> list[str]:
    db.session.commit()
    return list(db.session.scalars(db.select(Answer.info).order_by(Answer.id)))


def test_the_author_may_not_change_or_delete_an_answer_once_unpublished(app: Flask) -> None:
    answer_id, annie, owner = _answer_then_unpublish(app)
    client = app.test_client()
    changed = client.put(
        f"/api/taskrun/{answer_id}", headers={"Authorization": annie}, json={"info": "dog"}
    )
    assert changed.status_code == 403
    assert "no longer change answers" in changed.get_json()["exception_msg"]
    deleted = client.delete(f"/api/taskrun/{answer_id}", headers={"Authorization": annie})
    assert deleted.status_code == 403
    assert "no longer change answers" in deleted.get_json()["exception_msg"]
    assert _infos() == ["cat"]
    # the owner manages the project still
    by_owner = client.delete(f"/api/taskrun/{answer_id}", headers={"Authorization": owner})
    assert by_owner.status_code == 204
    assert _infos() == []


def test_undo_on_the_labeling_page_refuses_an_unpublished_projects_answer(app: Flask) -> None:
    answer_id, _, _ = _answer_then_unpublish(app)
    make_project(by_name("owner"), short_name="birds", n_tasks=1)
    client = app.test_client()
    sign_in(client, "annie")
    # its own page is gone for annie; another project's page does not reach it either
    own = client.post("/project/pets/label/undo", json={"answer_id": answer_id})
    assert own.status_code == 404
    other = client.post("/project/birds/label/undo", json={"answer_id": answer_id})
    assert other.status_code == 409
    assert other.get_json()["error"] == "No such answer of yours to undo."
    assert _infos() == ["cat"]


def test_while_published_the_author_may_still_change_the_answer(app: Flask) -> None:
    answer_id, annie, _ = _answer_then_unpublish(app)
    db.session.execute(db.update(Project).values(published=True))
    db.session.commit()
    changed = app.test_client().put(
        f"/api/taskrun/{answer_id}", headers={"Authorization": annie}, json={"info": "dog"}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert _infos() == ["dog"]
