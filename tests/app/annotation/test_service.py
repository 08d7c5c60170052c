"""The annotation service on real SQLite and PostgreSQL databases: one rule, every entry point."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.annotation.core import Refusal
from labelhive.extensions import db
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def any_app(any_url: str):  # noqa: ANN201
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def leases_of(user_id: int) -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(Lease.task_id).where(Lease.user_id == user_id)))


def test_authorization_is_data_a_draft_refuses_others_and_serves_its_owner(any_app):
    alice, bob = make_user("alice"), make_user("bob")
    project = make_project(alice, n_tasks=2, published=False)
    # the owner first, so that PostgreSQL's next claim is its one statement
    assert service.claim(project.id, Caller(alice.id)) is not None
    for attempt in range(2):
        with pytest.raises(service.Refused) as refused:
            service.claim(project.id, Caller(bob.id))
        assert refused.value.reason == Refusal.FORBIDDEN, attempt
    assert leases_of(bob.id) == []
    # an admin may, as on every page
    admin = make_user("root", admin=True)
    assert service.claim(project.id, Caller(admin.id, admin=True)) is not None
    with pytest.raises(service.Refused) as missing:
        service.claim(project.id + 1000, Caller(bob.id))
    assert missing.value.reason == Refusal.PROJECT_NOT_FOUND


def test_a_submit_to_a_draft_by_someone_else_is_refused_and_stores_nothing(any_app):
    alice, bob = make_user("alice"), make_user("bob")
    project = make_project(alice, n_tasks=1, published=False)
    task_id = db.session.scalar(select(Task.id).where(Task.project_id == project.id))
    with pytest.raises(service.Refused) as refused:
        service.submit(task_id, Caller(bob.id), "cat")
    assert refused.value.reason == Refusal.FORBIDDEN
    assert service.progress(project.id, bob.id).answered == 0
    stored = service.submit(task_id, Caller(alice.id), "cat")
    assert stored.created and service.progress(project.id, alice.id).answered == 1


def test_each_database_has_its_own_executor_and_what_it_learnt(any_app, sqlite_url):
    """PostgreSQL's executor remembers a project's settings: never for another database."""
    here = service.store_for()
    assert service.store_for() is here
    other = make_app(sqlite_url.replace(".db", "-other.db"))
    with other.app_context():
        assert service.store_for() is not here
        assert getattr(service.store_for(), "expected", {}) == {}
        db.engine.dispose()


def test_a_refused_already_answered_submit_gives_the_lease_back_on_the_api_too(any_app):
    """Only the labeling page used to: the API left the slot reserved until the lease expired."""
    alice, bob = make_user("alice"), make_user("bob")
    project = make_project(alice, n_tasks=1, n_answers=2)
    key = bob.api_key
    claim = service.claim(project.id, Caller(bob.id))
    task_id = claim.task["id"]
    service.submit(task_id, Caller(bob.id), "cat")
    # a lease left on the answered task (a claim raced with the answer on another page)
    db.session.execute(
        db.insert(Lease).values(
            project_id=project.id,
            task_id=task_id,
            user_id=bob.id,
            created=claim.expires_at,
            expires_at=claim.expires_at,
        )
    )
    db.session.execute(db.update(Task).values(n_reserved=Task.n_reserved + 1))
    db.session.commit()
    refused = any_app.test_client().post(
        "/api/taskrun", json={"task_id": task_id, "info": "dog"}, headers={"Authorization": key}
    )
    assert refused.status_code == 409, refused.get_data(as_text=True)
    assert leases_of(bob.id) == []
    assert db.session.scalar(select(Task.n_reserved).where(Task.id == task_id)) == 0


def _page_and_api(app: Flask, task_id: int, key: str, answer: str) -> tuple[int, int]:
    page = app.test_client()
    sign_in(page, "bob")
    on_page = page.post("/project/pets/label/answer", json={"task_id": task_id, "answer": answer})
    by_api = app.test_client().post(
        "/api/taskrun",
        json={"task_id": task_id, "info": answer},
        headers={"Authorization": key},
    )
    return on_page.status_code, by_api.status_code


def test_the_page_and_the_api_give_a_refusal_the_same_status(any_app):
    alice, bob = make_user("alice"), make_user("bob")
    make_project(alice, n_tasks=1, n_answers=1)
    other = make_project(alice, short_name="birds", n_tasks=1)
    key = bob.api_key
    elsewhere = db.session.scalar(select(Task.id).where(Task.project_id == other.id))
    db.session.commit()
    # an unknown task, and a task of another project (the page names its project): 403 both
    assert _page_and_api(any_app, 10_000, key, "cat") == (403, 403)
    page = any_app.test_client()
    sign_in(page, "bob")
    wrong = page.post("/project/pets/label/answer", json={"task_id": elsewhere, "answer": "cat"})
    assert wrong.status_code == 403 and wrong.get_json()["reason"] == "wrong_project"
    pets_task = db.session.scalar(select(Task.id).where(Task.project_id != other.id))
    # not an option: 400 both
    assert _page_and_api(any_app, pets_task, key, "horse") == (400, 400)
    # stored on the page; the API's different answer: 409
    page_status, api_status = _page_and_api(any_app, pets_task, key, "cat")
    assert (page_status, api_status) == (200, 200)  # the API's is the same answer: idempotent
    assert _page_and_api(any_app, pets_task, key, "dog") == (409, 409)


def test_the_labeling_pages_holding_is_two_tasks_and_never_more_than_their_slots(any_app):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    project = make_project(alice, n_tasks=3, n_answers=1)
    first = service.hold(project.id, Caller(bob.id))
    assert len(first.tasks) == 2 and first.progress == service.AnnotatorProgress(0, 3)
    # again (PostgreSQL: the one statement now): the same tasks, oldest lease first, no new lease
    again = service.hold(project.id, Caller(bob.id))
    assert [t["id"] for t in again.tasks] == [t["id"] for t in first.tasks]
    assert again.taken == 0 and sorted(leases_of(bob.id)) == sorted(t["id"] for t in first.tasks)
    # one slot left in the project: carol gets that one task, not one of bob's
    theirs = service.hold(project.id, Caller(carol.id))
    assert [t["id"] for t in theirs.tasks] == sorted(
        set(db.session.scalars(select(Task.id))) - set(leases_of(bob.id))
    )
    service.submit(first.tasks[0]["id"], Caller(bob.id), "cat")
    after = service.hold(project.id, Caller(bob.id))
    # the task behind comes first now; nothing is left to take behind it
    assert [t["id"] for t in after.tasks] == [first.tasks[1]["id"]]
    assert after.progress == service.AnnotatorProgress(1, 3)
    db.session.rollback()
    assert all(t.n_done + t.n_reserved <= t.n_answers for t in db.session.scalars(select(Task)))
