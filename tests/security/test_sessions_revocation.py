"""Sessions end on the server's word, and API keys are stored as hashes (issue 22, finding 4).

Every session cookie carries the user's session version; signing out everywhere, changing the
password and making a new API key bump it, and a cookie with an old version is refused, also
when it is replayed. Run on SQLite and PostgreSQL, with CSRF protection on as in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.extensions import db
from tests.common.processes import labelhive_cli
from tests.common.web import PASSWORD
from tests.common.web import make_user
from tests.conftest import make_app

NEW_PASSWORD = "a much better passphrase"


@pytest.fixture
def csrf_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, RATELIMIT_ENABLED=False)
    with app.app_context():
        app.config["ALICE_KEY"] = make_user("alice").api_key
    yield app
    with app.app_context():
        db.engine.dispose()


def _token(client: FlaskClient) -> str:
    page = client.get("/account/signin").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _post(client: FlaskClient, path: str, **data: str):  # noqa: ANN202
    return client.post(path, data={**data, "csrf_token": _token(client)})


def _browser(app: Flask, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    response = _post(client, "/account/signin", login="alice", password=password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account/").status_code == 200


def _replayed(app: Flask, client: FlaskClient) -> FlaskClient:
    """A new browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _alice(app: Flask) -> User:
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.name == "alice"))


def test_sign_out_everywhere_ends_every_session(csrf_app: Flask) -> None:
    laptop, phone = _browser(csrf_app), _browser(csrf_app)
    stolen = _replayed(csrf_app, phone)
    assert _signed_in(laptop) and _signed_in(phone) and _signed_in(stolen)
    response = _post(laptop, "/account/signout-everywhere")
    assert response.status_code == 302
    assert not _signed_in(laptop) and not _signed_in(phone) and not _signed_in(stolen)
    assert _alice(csrf_app).session_version == 1
    # signing in again works, with the new version
    assert _signed_in(_browser(csrf_app))


def test_sign_out_everywhere_needs_the_csrf_token(csrf_app: Flask) -> None:
    laptop, phone = _browser(csrf_app), _browser(csrf_app)
    laptop.post("/account/signout-everywhere")  # no token: a cross-site form
    assert _signed_in(phone) and _alice(csrf_app).session_version == 0


def test_password_change_needs_the_current_password_and_ends_other_sessions(
    csrf_app: Flask,
) -> None:
    laptop, phone = _browser(csrf_app), _browser(csrf_app)
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    wrong = _post(laptop, "/account/password", current="not my password", **form)
    assert wrong.status_code == 200
    assert "current password is wrong" in wrong.get_data(as_text=True)
    assert laptop.post("/account/password", data={"current": PASSWORD, **form}).status_code in (
        200,
        400,
    )  # no CSRF token: refused
    assert _alice(csrf_app).check_password(PASSWORD) and _signed_in(phone)

    changed = _post(laptop, "/account/password", current=PASSWORD, **form)
    assert changed.status_code == 302
    assert _signed_in(laptop)  # this browser is signed in again
    assert not _signed_in(phone)
    assert _alice(csrf_app).check_password(NEW_PASSWORD)
    assert _signed_in(_browser(csrf_app, NEW_PASSWORD))


def test_the_password_page_is_for_signed_in_users(csrf_app: Flask) -> None:
    response = csrf_app.test_client().get("/account/password")
    assert response.status_code == 302 and "/account/signin" in response.headers["Location"]


def _made_key(response) -> str:  # noqa: ANN001
    assert response.status_code == 200
    return re.search(r'id="api-key"[^>]* value="([^"]+)"', response.get_data(as_text=True))[1]


def test_a_new_api_key_ends_sessions_and_the_old_key_at_once(csrf_app: Flask) -> None:
    old_key = csrf_app.config["ALICE_KEY"]
    api = csrf_app.test_client()
    # the old key works, and sits in this process's key cache
    assert api.get("/api/task", headers={"Authorization": old_key}).status_code == 200
    laptop, phone = _browser(csrf_app), _browser(csrf_app)
    new_key = _made_key(_post(laptop, "/account/api-key"))
    assert _signed_in(laptop) and not _signed_in(phone)
    stored = _alice(csrf_app).api_key_hash
    assert stored == hash_api_key(new_key) and new_key not in stored
    # PYBOSSA's two ways of sending the key
    assert api.get("/api/task", query_string={"api_key": new_key}).status_code == 200
    assert api.get("/api/task", headers={"Authorization": new_key}).status_code == 200
    assert api.get("/api/task", headers={"Authorization": old_key}).status_code == 401
    assert api.get("/api/task", query_string={"api_key": old_key}).status_code == 401
    # the stored hash is no key
    assert api.get("/api/task", headers={"Authorization": stored}).status_code == 401


def test_a_new_api_key_needs_the_csrf_token(csrf_app: Flask) -> None:
    laptop = _browser(csrf_app)
    before = _alice(csrf_app).api_key_hash
    laptop.post("/account/api-key")
    assert _alice(csrf_app).api_key_hash == before


def test_the_account_page_never_shows_a_stored_key(csrf_app: Flask) -> None:
    browser = _browser(csrf_app)
    page = browser.get("/account/").get_data(as_text=True)
    assert _alice(csrf_app).api_key_hash not in page
    assert 'id="api-key"' not in page


def test_the_operators_key_from_the_environment_is_hashed_and_works(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "SECRET_KEY": "s", "OPERATOR_KEY": "o" * 40}
    labelhive_cli("db", "upgrade", env=env)
    argv = ("users", "create", "operator", "--admin", "--api-key-from-env", "OPERATOR_KEY")
    assert labelhive_cli(*argv, env=env).stdout == f"operator {'o' * 40}\n"
    again = labelhive_cli(*argv, "--exist-ok", env=env)
    assert again.stdout == f"operator {'o' * 40}\n"
    app = make_app(sqlite_url, RATELIMIT_ENABLED=False)
    with app.app_context():
        stored = db.session.scalar(db.select(User.api_key_hash).where(User.name == "operator"))
        assert stored == hash_api_key("o" * 40)
        client = app.test_client()
        mine = client.get("/api/project", headers={"Authorization": "o" * 40})
        assert mine.status_code == 200
        assert client.get("/api/task", headers={"Authorization": stored}).status_code == 401
        db.engine.dispose()
