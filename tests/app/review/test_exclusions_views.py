"""Excluding an annotator on the results page (web, CSRF on), on SQLite and PostgreSQL.

No app context stays pushed while requests run: each request gets its own, as in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from tests.app.review import world as worlds
from tests.app.review.test_exclusions_api import settle
from tests.conftest import make_app

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, RATELIMIT_ENABLED=False)
    yield app
    with app.app_context():
        settle()
        db.engine.dispose()


@pytest.fixture
def world(db_app: Flask) -> worlds.World:
    with db_app.app_context():
        built = worlds.build()
        db.session.remove()
    return built


def signed_in(app: Flask, user: worlds.Person) -> FlaskClient:
    client = app.test_client()
    with app.app_context():
        user_id = db.session.get(User, user.id).get_id()
        db.session.remove()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    return client


def page(client: FlaskClient) -> tuple[str, str]:
    html = client.get("/project/pets/results").get_data(as_text=True)
    return html, TOKEN.search(html).group(1)


def label_of(app: Flask, task_id: int) -> str | None:
    with app.app_context():
        settle()
        label = db.session.scalar(db.select(Consensus.label).where(Consensus.task_id == task_id))
        db.session.remove()
    return label


def test_an_owner_excludes_and_includes_again_on_the_results_page(db_app, world):
    client = signed_in(db_app, world.owner)
    spammer = world.annotators[0]
    tie = world.items["tie"]
    html, token = page(client)
    exclude = f"/project/pets/annotators/{spammer}/exclude"
    assert f'action="{exclude}"' in html
    assert label_of(db_app, tie) == "cat"

    # no CSRF token: refused, nothing changed
    assert client.post(exclude).status_code == 400
    assert "Excluded from consensus" not in page(client)[0]

    done = client.post(exclude, data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "ann0&#39;s answers are left out of consensus" in text
    assert label_of(db_app, tie) == "dog"
    html, token = page(client)
    excluded = html[html.index('id="excluded-table"') :]
    assert '<th scope="row">ann0</th>' in excluded and "<td>owner</td>" in excluded
    include = f"/project/pets/annotators/{spammer}/include"
    assert f'action="{include}"' in excluded

    back = client.post(include, data={"csrf_token": token}, follow_redirects=True)
    assert "Their answers count again" in back.get_data(as_text=True)
    assert label_of(db_app, tie) == "cat"
    assert 'id="excluded-table"' not in page(client)[0]


def test_strangers_may_not_exclude_and_idle_users_are_refused(db_app, world):
    owner = signed_in(db_app, world.owner)
    _, token = page(owner)
    stranger = signed_in(db_app, world.stranger)
    spammer = world.annotators[0]
    # the stranger's own valid token (from a page they may see): the refusal is access's
    own = TOKEN.search(stranger.get("/account/").get_data(as_text=True)).group(1)
    denied = stranger.post(f"/project/pets/annotators/{spammer}/exclude", data={"csrf_token": own})
    assert denied.status_code == 403
    idle = world.annotators[2]  # never answered here
    refused = owner.post(
        f"/project/pets/annotators/{idle}/exclude",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "ann2 has no answers in this project" in refused.get_data(as_text=True)
    assert "Excluded from consensus" not in page(owner)[0]
    missing = owner.post(
        "/project/pets/annotators/999999/exclude",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "No user has id 999999" in missing.get_data(as_text=True)
    # ids past the database's integer: nobody, not an error
    huge = 10**20
    for action in ("exclude", "include"):
        answered = owner.post(
            f"/project/pets/annotators/{huge}/{action}",
            data={"csrf_token": token},
            follow_redirects=True,
        )
        assert answered.status_code == 200
