"""The project settings form's gold, consensus, adaptive redundancy and presenter fields,
through the real form with CSRF protection on."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.common.web import PASSWORD
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app

BASE = {
    "name": "Pets",
    "short_name": "pets",
    "description": "",
    "question": "Which animal?",
    "answers": "cat\ndog\nbird",
    "default_n_answers": "3",
    "lease_ttl": "600",
    "ordering": "depth_first",
    "instructions": "",
}
SETTINGS = {
    **BASE,
    "gold_rate": "0.25",
    "consensus_method": "gold_weighted",
    "consensus_use_gold": "y",
    "adaptive_redundancy": "y",
    "adaptive_threshold": "0.8",
    "adaptive_max_answers": "6",
    "use_task_presenter": "y",
    "task_presenter": "<div id='x'>custom</div>",
}


@pytest.fixture
def csrf_app(sqlite_url: str) -> Iterator[Flask]:
    """CSRF on, and no app context held across requests: each request gets its own ``g``,
    so the token cached there at sign-in does not outlive the session it was made for."""
    app = make_app(sqlite_url)
    with app.app_context():
        make_user("alice")
    yield app
    with app.app_context():
        db.engine.dispose()


def _make_project(app: Flask) -> None:
    with app.app_context():
        alice = db.session.scalar(db.select(User).where(User.name == "alice"))
        make_project(alice, n_answers=3)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    token = _token(client.get("/account/signin").get_data(as_text=True))
    response = client.post(
        "/account/signin", data={"login": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def _project(app: Flask) -> Project:
    with app.app_context():
        project = db.session.scalar(db.select(Project).where(Project.short_name == "pets"))
        db.session.expunge(project)
        return project


def _post(client: FlaskClient, data: dict[str, str]) -> tuple[int, str]:
    token = _token(client.get("/project/pets/settings").get_data(as_text=True))
    response = client.post("/project/pets/settings", data={**data, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def test_settings_form_saves_gold_consensus_adaptive_and_presenter(csrf_app: Flask) -> None:
    _make_project(csrf_app)
    client = _signed_in(csrf_app)
    page = client.get("/project/pets/settings").get_data(as_text=True)
    # the form shows the current values: Dawid-Skene, gold anchoring on, adaptive off
    assert '<option selected value="dawid_skene">' in page
    assert '<input checked id="consensus_use_gold" name="consensus_use_gold"' in page
    assert '<input id="adaptive_redundancy" name="adaptive_redundancy"' in page

    # without the token nothing changes
    refused = client.post("/project/pets/settings", data=SETTINGS)
    assert refused.status_code == 400 and _project(csrf_app).gold_rate == 0

    status, _ = _post(client, SETTINGS)
    assert status == 302
    project = _project(csrf_app)
    assert project.gold_rate == 0.25
    assert (project.consensus_method, project.consensus_use_gold) == ("gold_weighted", True)
    assert (project.adaptive_redundancy, project.adaptive_threshold) == (True, 0.8)
    assert project.adaptive_max_answers == 6
    assert project.use_task_presenter and project.info["task_presenter"].startswith("<div")
    # the labeling page now shows the presenter's sandboxed frame
    assert 'src="/presenter/pets/frame"' in client.get("/project/pets/label").get_data(as_text=True)
    page = client.get("/project/pets/settings").get_data(as_text=True)
    assert '<option selected value="gold_weighted">' in page
    assert '<input checked id="adaptive_redundancy" name="adaptive_redundancy"' in page
    assert 'value="0.8"' in page and "&lt;div id=&#39;x&#39;&gt;custom&lt;/div&gt;" in page

    # unticked boxes are sent as nothing: off; an empty number keeps the value
    status, _ = _post(client, {**BASE, "consensus_method": "majority_vote", "gold_rate": ""})
    assert status == 302
    project = _project(csrf_app)
    assert (project.gold_rate, project.consensus_method) == (0.25, "majority_vote")
    assert not (project.use_task_presenter or project.adaptive_redundancy)
    assert not project.consensus_use_gold
    assert project.info["task_presenter"] == ""
    assert "/presenter/pets/frame" not in client.get("/project/pets/label").get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gold_rate": "1.5"}, "Number must be between 0 and 1"),
        ({"gold_rate": "many"}, "Not a valid float value"),
        ({"adaptive_threshold": "0"}, "Enter a number above 0 and at most 1"),
        ({"adaptive_threshold": "1.01"}, "Enter a number above 0 and at most 1"),
        ({"adaptive_max_answers": "2"}, "The cap must be at least the redundancy (3)"),
        ({"consensus_method": "glad"}, "Not a valid choice"),
        ({"task_presenter": "  "}, "Paste the presenter&#39;s HTML below first"),
    ],
)
def test_settings_form_refuses_bad_values(csrf_app: Flask, change: dict, message: str) -> None:
    _make_project(csrf_app)
    client = _signed_in(csrf_app)
    status, page = _post(client, {**SETTINGS, **change})
    assert status == 200
    assert message in page
    project = _project(csrf_app)
    assert (project.gold_rate, project.adaptive_redundancy, project.use_task_presenter) == (
        0,
        False,
        False,
    )


def test_cap_at_the_redundancy_is_allowed_and_threshold_one_too(csrf_app: Flask) -> None:
    _make_project(csrf_app)
    client = _signed_in(csrf_app)
    data = {**SETTINGS, "adaptive_max_answers": "3", "adaptive_threshold": "1"}
    assert _post(client, data)[0] == 302
    assert (_project(csrf_app).adaptive_max_answers, _project(csrf_app).adaptive_threshold) == (
        3,
        1.0,
    )
    # raising the redundancy past the cap is refused with a message, not an error page
    token = _token(client.get("/project/pets/settings").get_data(as_text=True))
    response = client.post("/project/pets/redundancy", data={"n_answers": "4", "csrf_token": token})
    assert response.status_code == 302
    assert "must be at least the redundancy" in client.get("/project/pets/settings").get_data(
        as_text=True
    )
    assert _project(csrf_app).default_n_answers == 3


def test_a_new_project_gets_the_consensus_settings_too(csrf_app: Flask) -> None:
    client = _signed_in(csrf_app)
    page = client.get("/project/new").get_data(as_text=True)
    assert 'name="gold_rate"' in page and 'name="use_task_presenter"' in page
    token = _token(page)
    data = {**SETTINGS, "use_task_presenter": "", "task_presenter": "", "csrf_token": token}
    response = client.post("/project/new", data=data)
    assert response.status_code == 302
    project = _project(csrf_app)
    assert (project.gold_rate, project.consensus_method) == (0.25, "gold_weighted")
    assert not project.use_task_presenter and "task_presenter" not in project.info
