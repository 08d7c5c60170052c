"""The accounts pages through the Flask test client: sign up/in/out, API key, admin, CSRF."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.extensions import db
from labelhive.settings import services as settings
from tests.common.web import PASSWORD
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


def signup(client, name: str, email: str | None = None, password: str = PASSWORD):  # noqa: ANN001, ANN201
    return client.post(
        "/account/signup",
        data={
            "name": name,
            "email": email or f"{name}@example.org",
            "password": password,
            "confirm": password,
        },
    )


def user(name: str) -> User | None:
    db.session.commit()  # a fresh snapshot: the requests share this session
    return db.session.scalar(db.select(User).where(User.name == name))


def test_first_account_becomes_admin_and_is_signed_in(client):
    response = signup(client, "alice")
    assert response.status_code == 302
    assert user("alice").admin
    assert user("alice").password_hash != PASSWORD
    assert client.get("/account/").status_code == 200
    client.post("/account/signout")
    assert signup(client, "bob").status_code == 302
    assert not user("bob").admin


def test_signup_errors_are_shown(client):
    make_user("alice")
    response = signup(client, "alice", email="other@example.org")
    assert response.status_code == 200
    assert "already taken" in response.get_data(as_text=True)
    response = signup(client, "carol", password="short")
    assert "at least 8" in response.get_data(as_text=True)
    assert user("carol") is None


def test_sign_in_and_out(client):
    make_user("alice")
    wrong = client.post("/account/signin", data={"login": "alice", "password": "nope nope"})
    assert wrong.status_code == 200
    assert "Wrong user name, e-mail or password" in wrong.get_data(as_text=True)
    by_email = client.post(
        "/account/signin", data={"login": "ALICE@example.org", "password": PASSWORD}
    )
    assert by_email.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/account/signout").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/project/new", "/project/new"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_sign_in_redirects_only_to_this_site(client, target, expected):
    make_user("alice")
    response = client.post(
        "/account/signin", data={"login": "alice", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_users_are_sent_to_sign_in(client):
    for path in ("/", "/account/", "/project/new", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/account/signin"), path


def test_disabled_user_cannot_sign_in(client):
    make_user("alice")
    bob = make_user("bob")
    bob.enabled = False
    db.session.commit()
    response = client.post("/account/signin", data={"login": "bob", "password": PASSWORD})
    assert response.status_code == 200


def test_api_key_is_stored_as_a_hash_and_shown_once_when_made(client):
    alice = make_user("alice")
    old = alice.api_key
    assert user("alice").api_key_hash == hash_api_key(old) != old
    sign_in(client, "alice")
    assert old not in client.get("/account/").get_data(as_text=True)
    made = client.post("/account/api-key")
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    page = made.get_data(as_text=True)
    new = re.search(r'id="api-key"[^>]* value="([^"]+)"', page).group(1)
    assert new != old and user("alice").api_key_hash == hash_api_key(new)
    assert new not in client.get("/account/").get_data(as_text=True)  # this browser stays in


def test_admin_pages_are_for_admins_only(client):
    make_user("admin")
    make_user("bob")
    sign_in(client, "bob")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/settings").status_code == 403
    assert client.post("/admin/users/1", data={"admin": "y", "enabled": "y"}).status_code == 403


def test_admin_manages_users(client):
    make_user("admin")
    bob = make_user("bob")
    sign_in(client, "admin")
    assert "bob@example.org" in client.get("/admin/users").get_data(as_text=True)
    client.post(f"/admin/users/{bob.id}", data={"admin": "y", "enabled": "y"})
    assert user("bob").admin
    client.post(f"/admin/users/{bob.id}", data={})
    assert not user("bob").admin and not user("bob").enabled
    # an admin cannot lock themselves out
    response = client.post("/admin/users/1", data={}, follow_redirects=True)
    assert "cannot remove your own admin" in response.get_data(as_text=True)
    assert user("admin").admin
    client.post("/admin/users/new", data={"name": "carol", "password": PASSWORD})
    assert user("carol") is not None and not user("carol").admin


def test_invite_only_and_domain_restricted_sign_up(client):
    make_user("admin")
    sign_in(client, "admin")
    response = client.post("/admin/settings", data={"mode": "closed", "domains": ""})
    assert response.status_code == 302
    client.post("/account/signout")
    page = client.get("/account/signup").get_data(as_text=True)
    assert "Sign-up is closed" in page
    assert signup(client, "mallory").status_code == 200
    assert user("mallory") is None

    sign_in(client, "admin")
    bad = client.post("/admin/settings", data={"mode": "domains", "domains": "not a domain!"})
    assert "is not an e-mail domain" in bad.get_data(as_text=True)
    client.post(
        "/admin/settings", data={"mode": "domains", "domains": "lab.example.com, @Example.ORG"}
    )
    assert settings.signup_policy().domains == ("lab.example.com", "example.org")
    client.post("/account/signout")
    refused = signup(client, "eve", email="eve@elsewhere.test")
    assert "restricted to e-mail addresses" in refused.get_data(as_text=True)
    assert user("eve") is None
    # an allowed domain needs its address confirmed by mail: without SMTP, sign-up waits
    # (the whole flow: tests/security/test_email_verification.py)
    paused = signup(client, "dan", email="dan@lab.example.com")
    assert "cannot send e-mail" in paused.get_data(as_text=True)
    assert user("dan") is None


def test_session_cookie_flags(sqlite_url):
    for secure in (False, True):
        app = make_app(sqlite_url, WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=secure)
        with app.app_context():
            if not secure:
                make_user("alice")
            response = app.test_client().post(
                "/account/signin", data={"login": "alice", "password": PASSWORD}
            )
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie
            assert "SameSite=Lax" in cookie
            assert ("Secure" in cookie) is secure
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def csrf_app(sqlite_url) -> Flask:  # noqa: ANN001
    app = make_app(sqlite_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_forms_without_csrf_token_are_refused(csrf_app):
    make_user("alice")
    client = csrf_app.test_client()
    response = client.post("/account/signin", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert signup(client, "bob").status_code == 400
    assert user("bob") is None
    # with the token from the page it works
    page = client.get("/account/signin").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/account/signin", data={"login": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    # signed in, a POST without the token still fails
    assert client.post("/account/api-key").status_code == 400
