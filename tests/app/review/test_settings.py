"""The project's ``review_threshold``: set through the API (PYBOSSA's project PUT) and the
settings form, checked by the one settings schema (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.app.projects.test_settings import BASE
from tests.app.review import world as worlds
from tests.app.review.test_views import signed_in
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


def threshold(app: Flask, project_id: int) -> float:
    with app.app_context():
        return db.session.get(Project, project_id).review_threshold


def test_the_api_sets_and_shows_the_threshold(db_app, world):
    client = db_app.test_client()
    url = f"/api/project/{world.project}"
    assert client.get(url, headers=world.key(world.owner)).json["review_threshold"] == 0.6
    changed = client.put(url, json={"review_threshold": 0.9}, headers=world.key(world.owner))
    assert changed.status_code == 200, changed.json
    assert threshold(db_app, world.project) == 0.9
    refused = client.put(url, json={"review_threshold": 1.5}, headers=world.key(world.owner))
    assert refused.status_code in (400, 415)
    assert "review_threshold must be a number from 0 to 1" in refused.json["exception_msg"]
    assert threshold(db_app, world.project) == 0.9
    # annotators do not see how items are sent to review
    seen = client.get(url, headers=world.key(world.stranger)).json
    assert "review_threshold" not in seen


def test_the_settings_form_sets_the_threshold(db_app, world):
    owner = signed_in(db_app, world.owner)
    data = {**BASE, "name": "Pets", "short_name": "pets", "review_threshold": "0.3"}
    saved = owner.post("/project/pets/settings", data=data)
    assert saved.status_code == 302
    assert threshold(db_app, world.project) == 0.3
    page = owner.get("/project/pets/settings").get_data(as_text=True)
    assert 'name="review_threshold"' in page
    refused = owner.post("/project/pets/settings", data={**data, "review_threshold": "2"})
    assert refused.status_code == 200
    assert threshold(db_app, world.project) == 0.3
