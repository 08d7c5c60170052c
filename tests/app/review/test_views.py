"""The review page and the results browser (web), on SQLite and PostgreSQL.

No app context stays pushed while requests run: each request gets its own (its own ``g`` and
signed-in user), as in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.review import services as review
from tests.app.review import world as worlds
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    yield app
    with app.app_context():
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


def is_reviewer(app: Flask, world: worlds.World) -> bool:
    with app.app_context():
        return review.is_reviewer(world.project, world.reviewer.id)


def test_reviewers_reach_the_review_page_even_of_an_unpublished_project(db_app, world):
    with db_app.app_context():
        project = db.session.get(Project, world.project)
        project.published = False
        review.grant(project, "rev", world.owner.id)
        db.session.commit()
    page = signed_in(db_app, world.reviewer).get("/project/pets/review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2 waiting for review" in html
    assert f'/api/project/{world.project}/review"' in html
    # strangers do not learn that an unpublished project exists; the owner reviews too
    assert signed_in(db_app, world.stranger).get("/project/pets/review").status_code == 404
    assert signed_in(db_app, world.owner).get("/project/pets/review").status_code == 200
    # the browser is the owner's
    assert signed_in(db_app, world.reviewer).get("/project/pets/items").status_code == 404
    anonymous = db_app.test_client().get("/project/pets/review")
    assert anonymous.status_code == 302 and "/account/signin" in anonymous.headers["Location"]


def test_the_browser_filters_and_marks_ties(db_app, world):
    owner = signed_in(db_app, world.owner)
    html = owner.get("/project/pets/items?tie=1").get_data(as_text=True)
    assert html.count('class="item-row"') == 1
    assert f'data-item="{world.items["tie"]}"' in html
    assert 'class="flag-tie"' in html and "needs review" in html
    everything = owner.get("/project/pets/items").get_data(as_text=True)
    assert everything.count('class="item-row"') == 4
    assert "https://img.test/sure.png" in everything
    # a bad filter is said, and the list is shown unfiltered
    bad = owner.get("/project/pets/items?confidence_below=5").get_data(as_text=True)
    assert "confidence_below must be a number from 0 to 1." in bad
    assert bad.count('class="item-row"') == 4


def test_owners_grant_and_take_away_the_role_from_the_browser(db_app, world):
    owner = signed_in(db_app, world.owner)
    granted = owner.post("/project/pets/reviewers", data={"name": "rev"})
    assert granted.status_code == 302
    assert is_reviewer(db_app, world)
    unknown = owner.post("/project/pets/reviewers", data={"name": "nobody"}, follow_redirects=True)
    assert "No user is named &#39;nobody&#39;." in unknown.get_data(as_text=True)
    # reviewers may not make more reviewers
    reviewer = signed_in(db_app, world.reviewer)
    assert reviewer.post("/project/pets/reviewers", data={"name": "stranger"}).status_code == 403
    removed = owner.post(f"/project/pets/reviewers/{world.reviewer.id}/remove")
    assert removed.status_code == 302
    assert not is_reviewer(db_app, world)
    assert reviewer.get("/project/pets/review").status_code == 403
