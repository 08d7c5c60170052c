"""The labeling page's endpoints resolve the session and the project through per-process caches
(``accounts.services.session_owner``, ``projects.refs``), on both databases.

What must hold: an ended session, a disabled user, an unpublished or deleted project take effect
at once in the process that made the change; in another process (a second app: its own caches)
within ``API_KEY_CACHE_SECONDS``, and even then the annotation service refuses what the project
no longer allows, with a JSON refusal, never a 500 or a task.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts import services as accounts
from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def url(any_url: str) -> str:
    return any_url


@pytest.fixture
def app(url: str) -> Iterator[Flask]:
    app = make_app(url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        alice = make_user("alice")
        make_user("bob")
        make_project(alice, n_tasks=4)
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


def signed_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name)
    return client


def state(client: FlaskClient) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post("/project/pets/label/state", json={})
    return response.status_code, response.get_json() or {}


def test_ending_sessions_refuses_the_old_cookie_at_once_in_this_process(app: Flask) -> None:
    bob = signed_in(app, "bob")
    assert state(bob)[0] == 200  # cached now
    user = db.session.scalar(db.select(User).where(User.name == "bob"))
    accounts.end_sessions(user)
    db.session.commit()
    code, body = state(bob)
    assert (code, body.get("reason")) == (401, "signed_out")


def test_a_disabled_user_is_refused_at_once_in_this_process(app: Flask) -> None:
    bob = signed_in(app, "bob")
    assert state(bob)[0] == 200
    user = db.session.scalar(db.select(User).where(User.name == "bob"))
    admin = db.session.scalar(db.select(User).where(User.name == "alice"))
    accounts.set_flags(admin, user, enabled=False)  # as the admin's page does
    db.session.commit()
    assert state(bob)[0] == 401


def test_another_process_forgets_an_ended_session_within_the_cache_time(app: Flask) -> None:
    bob = signed_in(app, "bob")
    with bob.session_transaction() as sess:
        session_id = sess["_user_id"]
    assert accounts.session_owner(session_id) is not None  # this process cached it
    now = time.monotonic()
    with db.engine.begin() as conn:
        conn.execute(
            db.update(User)
            .where(User.name == "bob")
            .values(session_version=User.session_version + 1)
        )
    # another process's change: this cache still answers, for at most API_KEY_CACHE_SECONDS
    assert accounts.session_owner(session_id, now=now) is not None
    ttl = float(app.config["API_KEY_CACHE_SECONDS"])
    assert accounts.session_owner(session_id, now=now + ttl + 0.1) is None


def test_a_project_unpublished_here_is_refused_at_once(app: Flask) -> None:
    bob = signed_in(app, "bob")
    assert state(bob)[0] == 200
    project = db.session.scalar(db.select(Project).where(Project.short_name == "pets"))
    project.published = False
    db.session.commit()
    # the same 404 as the page gives a draft it may not see
    assert state(bob)[0] == 404


def test_a_project_unpublished_by_another_process_is_refused_by_the_service(
    app: Flask, url: str
) -> None:
    other = make_app(url, WTF_CSRF_ENABLED=False)
    bob = signed_in(other, "bob")
    with other.app_context():
        assert state(bob)[0] == 200  # the other process cached the project as published
    # this process unpublishes it; the other's cache still says published
    project = db.session.scalar(db.select(Project).where(Project.short_name == "pets"))
    project.published = False
    db.session.commit()
    with other.app_context():
        code, body = state(bob)
        answer = bob.post("/project/pets/label/answer", json={"task_id": 1, "answer": "cat"})
        db.session.remove()
        db.engine.dispose()
    # refused by the service's own check: no task handed out, no answer stored
    assert (code, body.get("reason")) == (403, "forbidden")
    assert "tasks" not in body
    assert answer.status_code == 403
    assert db.session.scalar(db.text("SELECT count(*) FROM answer")) == 0


def test_no_cache_when_the_cache_time_is_zero(url: str) -> None:
    app = make_app(url, WTF_CSRF_ENABLED=False, API_KEY_CACHE_SECONDS=0)
    with app.app_context():
        make_user("bob")
        db.session.commit()
        bob = signed_in(app, "bob")
        with bob.session_transaction() as sess:
            session_id = sess["_user_id"]
        assert accounts.session_owner(session_id) is not None
        with db.engine.begin() as conn:
            conn.execute(db.update(User).where(User.name == "bob").values(enabled=False))
        assert accounts.session_owner(session_id) is None
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("ref", ["99999999999999999999", "pe\x00ts", "\u0661", "nope"])
def test_a_url_that_names_no_project_is_a_404(app: Flask, ref: str) -> None:
    bob = signed_in(app, "bob")
    response = bob.post(f"/project/{ref}/label/state", json={})
    assert response.status_code == 404
