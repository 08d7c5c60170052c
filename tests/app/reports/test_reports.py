"""Reporting a task whose image failed to load, on SQLite and PostgreSQL, CSRF on as deployed.

The report is stored once, the task is skipped for the reporter (another task comes first),
the owner lists it, and nobody reports a task they do not hold or lists another's reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.services import by_name
from labelhive.accounts.services import regenerate_api_key
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.reports.models import TaskReport
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Skip
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def site(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, RATELIMIT_ENABLED=False)  # CSRF on
    with app.app_context():
        owner = make_user("owner")
        make_user("annie")
        make_user("other")
        make_project(owner, short_name="pets", n_tasks=3, n_answers=2)
        make_project(owner, short_name="draft", n_tasks=1, published=False)
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def signed_in(app: Flask, name: str) -> tuple[FlaskClient, str]:
    """A client signed in as ``name`` and the CSRF token its labeling page carries."""
    client = app.test_client()
    sign_in_token = client.get("/account/signin").get_data(as_text=True)
    token = sign_in_token.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/account/signin",
        data={"login": name, "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 302
    page = client.get("/project/pets/label").get_data(as_text=True)
    return client, page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def held(client: FlaskClient, token: str) -> list[int]:
    state = client.post("/project/pets/label/state", json={}, headers={"X-CSRFToken": token})
    return [t["id"] for t in state.get_json()["tasks"]]


def rows(app: Flask, model: type) -> list[tuple[int, int]]:
    with app.app_context():
        found = db.session.scalars(db.select(model)).all()
        result = sorted((r.task_id, r.user_id) for r in found)
        db.session.remove()
    return result


def user_id(app: Flask, name: str) -> int:
    with app.app_context():
        uid = by_name(name).id
        db.session.remove()
    return uid


def test_a_report_is_stored_once_skips_the_task_and_the_owner_lists_it(site: Flask) -> None:
    client, token = signed_in(site, "annie")
    on_screen, ahead = held(client, token)
    headers = {"X-CSRFToken": token}
    url = "/project/pets/label/report"
    response = client.post(url, json={"task_id": on_screen}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["reported"] == on_screen
    annie = user_id(site, "annie")
    assert rows(site, TaskReport) == [(on_screen, annie)]
    # sent again (a double click): the same report, not a second one
    again = client.post(url, json={"task_id": on_screen}, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["report_id"] == response.get_json()["report_id"]
    assert rows(site, TaskReport) == [(on_screen, annie)]
    # skipped for her: the lease is gone, a skip is stored, the look-ahead task comes first
    assert rows(site, Skip) == [(on_screen, annie)]
    assert (on_screen, annie) not in rows(site, Lease)
    assert held(client, token)[0] == ahead
    with site.app_context():
        report = db.session.scalar(db.select(TaskReport))
        assert report.problem == "Image failed to load"
        db.session.remove()
    # once she answered the rest, the reported task does not come back to her (a plain skip
    # would be offered again), and the overview says nothing is left
    while tasks := held(client, token):
        body = {"task_id": tasks[0], "answer": "cat"}
        assert (
            client.post("/project/pets/label/answer", json=body, headers=headers).status_code == 200
        )
    assert "Nothing left for you" in client.get("/project/pets/").get_data(as_text=True)

    # the owner's page lists it, linked from the project's tabs
    owner, _ = signed_in(site, "owner")
    page = owner.get("/project/pets/reports").get_data(as_text=True)
    assert 'href="/project/pets/reports"' in owner.get("/project/pets/").get_data(as_text=True)
    assert f'<th scope="row">{on_screen}</th>' in page
    assert "annie" in page and "Image failed to load" in page
    with site.app_context():
        assert db.session.get(Task, on_screen).info["url"] in page
        db.session.remove()


def test_the_api_does_not_hand_a_reported_task_back_to_its_reporter(site: Flask) -> None:
    """One rule for every entry point: the claim leaves the reporter's reported tasks out, so
    ``newtask`` with her key serves the other tasks and then nothing, never the broken one."""
    client, token = signed_in(site, "annie")
    on_screen = held(client, token)[0]
    headers = {"X-CSRFToken": token}
    assert (
        client.post(
            "/project/pets/label/report", json={"task_id": on_screen}, headers=headers
        ).status_code
        == 200
    )
    with site.app_context():
        key = regenerate_api_key(by_name("annie"))
        db.session.commit()
        project_id = db.session.scalar(db.select(Project.id).where(Project.short_name == "pets"))
        db.session.remove()
    api = site.test_client()
    served = []
    while task := api.get(
        f"/api/project/{project_id}/newtask", query_string={"api_key": key}
    ).get_json():
        assert "id" in task, task
        served.append(task["id"])
        body = {"project_id": project_id, "task_id": task["id"], "info": "cat"}
        posted = api.post("/api/taskrun", json=body, query_string={"api_key": key})
        assert posted.status_code == 200, posted.get_data(as_text=True)
    # the page's look-ahead lease on the second task is hers: the API resumes it first
    assert len(served) == 2 and on_screen not in served
    # for everybody else the task is an ordinary one
    other, other_token = signed_in(site, "other")
    answered = []
    while tasks := held(other, other_token):
        body = {"task_id": tasks[0], "answer": "dog"}
        sent = other.post(
            "/project/pets/label/answer", json=body, headers={"X-CSRFToken": other_token}
        )
        assert sent.status_code == 200
        answered.append(tasks[0])
    assert on_screen in answered and len(answered) == 3


def test_a_report_needs_the_csrf_token(site: Flask) -> None:
    client, token = signed_in(site, "annie")
    task = held(client, token)[0]
    response = client.post("/project/pets/label/report", json={"task_id": task})
    assert response.status_code == 400
    assert rows(site, TaskReport) == []
    assert (task, user_id(site, "annie")) in rows(site, Lease)


def test_only_a_task_on_your_screen_of_this_project_can_be_reported(site: Flask) -> None:
    client, token = signed_in(site, "annie")
    headers = {"X-CSRFToken": token}
    url = "/project/pets/label/report"
    mine = set(held(client, token))
    with site.app_context():
        all_ids = set(db.session.scalars(db.select(Task.id)).all())
        draft_task = db.session.scalar(
            db.select(Task.id).join(Project).where(Project.short_name == "draft")
        )
        db.session.remove()
    not_held = min(all_ids - mine - {draft_task})
    refused = client.post(url, json={"task_id": not_held}, headers=headers)
    assert refused.status_code == 409
    assert "only while it is on your screen" in refused.get_json()["error"]
    other_project = client.post(url, json={"task_id": draft_task}, headers=headers)
    assert other_project.status_code == 400
    for bad in ({}, {"task_id": "1"}, {"task_id": True}, {"task_id": min(mine), "problem": 5}):
        assert client.post(url, json=bad, headers=headers).status_code == 400
    too_long = {"task_id": min(mine), "problem": "x" * 501}
    assert client.post(url, json=too_long, headers=headers).status_code == 400
    assert rows(site, TaskReport) == []


def test_reports_follow_the_projects_access_rules(site: Flask) -> None:
    client, token = signed_in(site, "annie")
    headers = {"X-CSRFToken": token}
    # an unpublished project of someone else: as if it did not exist
    assert (
        client.post("/project/draft/label/report", json={"task_id": 1}, headers=headers).status_code
        == 404
    )
    # a contributor may not read the owner's list; anonymous callers are sent to sign in
    assert client.get("/project/pets/reports").status_code == 403
    anonymous = site.test_client()
    assert anonymous.get("/project/pets/reports").status_code == 302
    assert anonymous.post("/project/pets/label/report", json={"task_id": 1}).status_code in (
        400,
        401,
    )
    assert rows(site, TaskReport) == []
