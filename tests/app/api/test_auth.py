"""Authentication: API key by parameter or header, unknown keys, session cookies and CSRF."""

from __future__ import annotations

import re

from sqlalchemy import update

from labelhive.accounts import services as accounts
from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.extensions import db
from tests.app.api.conftest import PASSWORD
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def test_key_by_parameter_or_header(any_api: Api):
    api = any_api
    draft = api.project(api.owner, "draft", published=False)
    path = f"/api/project/{draft['id']}"
    assert api.ok(api.get(path, api.owner))["id"] == draft["id"]
    assert api.ok(api.get(path, headers={"Authorization": api.owner.key}))["id"] == draft["id"]
    bearer = {"Authorization": f"Bearer {api.owner.key}"}
    assert api.ok(api.get(path, headers=bearer))["id"] == draft["id"]
    # the header wins over the parameter
    envelope(
        api.get(path, api.owner, headers={"Authorization": api.contributor.key}),
        403,
        "Forbidden",
        "project",
    )
    # POST by header, no CSRF token needed
    created = api.post(
        "/api/project",
        None,
        {"name": "H", "short_name": "h"},
        headers={"Authorization": api.other.key},
    )
    assert api.ok(created)["owner_id"] == api.other.id


def test_an_unknown_key_is_anonymous(api: Api):
    published = api.project(api.owner, "pets")
    api.project(api.owner, "draft", published=False)
    listed = api.ok(api.get("/api/project", api_key="no-such-key"))
    assert [p["id"] for p in listed] == [published["id"]]
    assert "secret_key" not in listed[0]
    envelope(api.get("/api/task", api_key="no-such-key"), 401, "Unauthorized", "task")
    envelope(api.get("/api/task", headers={"Authorization": "wrong"}), 401, "Unauthorized", "task")


def _sign_in(api: Api) -> str:
    """Sign the contributor in through the real form; return the session's CSRF token."""
    api.set_password(api.contributor)
    page = api.client.get("/account/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = api.client.post(
        "/account/signin",
        data={"login": "contributor", "password": PASSWORD, "csrf_token": token, "next": ""},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    # sign-in starts a fresh session (a new CSRF token too): read it from a page
    page = api.client.get("/account/").get_data(as_text=True)
    fresh = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert fresh != token
    return fresh


def test_session_cookie_writes_need_the_csrf_token(api: Api):
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"])
    token = _sign_in(api)
    # reads by cookie need no token
    handed = api.ok(api.get(f"/api/project/{project['id']}/newtask"))
    assert handed["id"] == task["id"]
    body = {"project_id": project["id"], "task_id": task["id"], "info": "cat"}
    error = envelope(api.post("/api/taskrun", None, body), 400, "CSRFError", "taskrun")
    assert "CSRF token is missing" in error["exception_msg"]
    envelope(
        api.post("/api/taskrun", None, body, headers={"X-CSRFToken": "forged"}),
        400,
        "CSRFError",
        "taskrun",
    )
    assert api.ok(api.get("/api/taskrun", all="1")) == []
    run = api.ok(api.post("/api/taskrun", None, body, headers={"X-CSRFToken": token}))
    assert run["user_id"] == api.contributor.id
    # a request that presents a key is judged by the key alone, even with a cookie
    envelope(api.get("/api/taskrun", api_key="unknown"), 401, "Unauthorized", "taskrun")
    assert [r["id"] for r in api.ok(api.get("/api/taskrun", all="1"))] == [run["id"]]


def test_a_rotated_or_disabled_key_stops_working(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    newtask = f"/api/project/{project['id']}/newtask"
    api.task(api.owner, project["id"])
    # the key is cached by this request; rotating it in this process forgets it at once
    assert api.get(newtask, api.contributor).status_code == 200
    with api.app.app_context():
        user = db.session.get(User, api.contributor.id)
        new_key = accounts.regenerate_api_key(user)
        db.session.commit()
    envelope(api.get(newtask, api.contributor), 401, "Unauthorized", "project")
    assert api.get(newtask, api_key=new_key).status_code == 200
    # disabling the user: the key is refused at once too
    assert api.get(newtask, api.other).status_code == 200
    with api.app.app_context():
        actor = db.session.get(User, api.admin.id)
        accounts.set_flags(actor, db.session.get(User, api.other.id), enabled=False)
        db.session.commit()
    envelope(api.get(newtask, api.other), 401, "Unauthorized", "project")


def test_another_process_change_to_a_key_is_seen_within_the_cache_time(any_api: Api):
    api = any_api
    key = api.contributor.key
    with api.app.app_context():
        ttl = api.app.config["API_KEY_CACHE_SECONDS"]
        assert ttl > 0
        owner = accounts.api_key_owner(key, now=1000.0)
        assert owner is not None and owner.id == api.contributor.id and not owner.admin
        # another process rotates the key: this one never hears of it
        db.session.execute(
            update(User)
            .where(User.id == api.contributor.id)
            .values(api_key_hash=hash_api_key("r" * 32))
        )
        db.session.commit()
        assert accounts.api_key_owner(key, now=1000.0 + ttl - 0.01) == owner
        assert accounts.api_key_owner(key, now=1000.0 + ttl + 0.01) is None
        # an unknown key is not cached: the new key works at once
        assert accounts.api_key_owner("r" * 32, now=1000.0).id == api.contributor.id
