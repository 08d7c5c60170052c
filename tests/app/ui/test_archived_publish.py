"""An archived project is never published, whichever way is tried: ``PUT /api/project/<id>``
(409 ``Conflict`` with a sentence, nothing written), the Publish button (from the settings page
or the overview), and the settings page does not offer it. On SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.extensions import db
from labelhive.projects import lifecycle
from labelhive.projects.models import Project
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def site(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def archived_project() -> tuple[int, str]:
    """An archived project of ``owner`` (published before, as archiving unpublishes it) and
    the owner's API key."""
    make_user("admin")  # the first user is the admin
    owner = make_user("owner")
    project = make_project(owner, published=True)
    project.description = "before"
    lifecycle.set_archived(project, True)
    db.session.commit()
    return project.id, owner.api_key


def reread(project_id: int) -> Project:
    db.session.commit()  # a new snapshot: the requests ran in their own sessions
    return db.session.get(Project, project_id)


def test_the_api_refuses_to_publish_an_archived_project(site: Flask) -> None:
    project_id, key = archived_project()
    client = site.test_client()
    auth = {"Authorization": key}
    refused = client.put(
        f"/api/project/{project_id}", headers=auth, json={"published": True, "description": "new"}
    )
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["status"] == "failed" and body["exception_cls"] == "Conflict"
    assert body["target"] == "project" and body["action"] == "PUT"
    assert "archived" in body["exception_msg"] and "unarchive" in body["exception_msg"]
    # nothing of the request was written
    project = reread(project_id)
    assert project.archived and not project.published and project.description == "before"
    # other changes, unpublishing included, still go through
    changed = client.put(
        f"/api/project/{project_id}", headers=auth, json={"published": False, "description": "new"}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert reread(project_id).description == "new"
    # a bad value is still a 400, before the state is looked at
    bad = client.put(f"/api/project/{project_id}", headers=auth, json={"published": "yes"})
    assert bad.status_code == 400 and "true or false" in bad.get_json()["exception_msg"]
    # once unarchived (a draft again) it may be published
    lifecycle.set_archived(reread(project_id), False)
    db.session.commit()
    published = client.put(f"/api/project/{project_id}", headers=auth, json={"published": True})
    assert published.status_code == 200 and published.get_json()["published"] is True
    assert reread(project_id).published


def test_the_settings_page_neither_offers_nor_does_it(site: Flask) -> None:
    project_id, _ = archived_project()
    client = site.test_client()
    sign_in(client, "owner")
    page = client.get("/project/pets/settings").get_data(as_text=True)
    assert "<strong>archived</strong>" in page and "a draft" not in page
    assert 'action="/project/pets/publish"' not in page
    # the button's request sent anyway (an old tab): refused, said, and back to the settings
    response = client.post("/project/pets/publish", data={"next": "/project/pets/settings"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/project/pets/settings"
    project = reread(project_id)
    assert project.archived and not project.published
    shown = client.get("/project/pets/settings").get_data(as_text=True)
    assert lifecycle.ARCHIVED_PUBLISH in shown
