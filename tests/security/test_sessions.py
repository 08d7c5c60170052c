"""Sessions and forms: CSRF on every form, a fresh session at sign-in, API keys kept out of logs
and responses, security headers, and the sign-in rate limit."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from labelhive.extensions import db
from tests.common.web import PASSWORD
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def csrf_app(sqlite_url: str) -> Iterator[Flask]:
    """CSRF protection on (as in production); no app context stays pushed."""
    app = make_app(sqlite_url, RATELIMIT_ENABLED=False)
    with app.app_context():
        admin = make_user("admin")
        make_project(admin, short_name="alpha", n_tasks=1)
        app.config["ADMIN_ID"] = admin.id
        app.config["ADMIN_KEY"] = admin.api_key
    yield app
    with app.app_context():
        db.engine.dispose()


def _signed_in(app: Flask, user_id: int) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    return client


def _sample_url(app: Flask, rule: Rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]  # noqa: SLF001 - the rule's own converters
        kind = type(converter).__name__
        values[name] = (
            1
            if kind == "IntegerConverter"
            else {"fmt": "csv", "what": "answers"}.get(name, "alpha" if name == "ref" else "x")
        )
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _web_posts(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/")
    ]


def test_every_web_post_needs_a_csrf_token(csrf_app: Flask) -> None:
    rules = _web_posts(csrf_app)
    assert len(rules) >= 20  # the enumeration works (forms and the labeling page's endpoints)
    refused = {}
    for rule in rules:
        url = _sample_url(csrf_app, rule)
        for who in ("anonymous", "admin"):
            client = (
                csrf_app.test_client()
                if who == "anonymous"
                else _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
            )
            response = client.post(url, data={"name": "x"})
            refused[(rule.endpoint, who)] = response.status_code
            body = response.get_data(as_text=True)
            assert response.status_code == 400, (rule.endpoint, who, response.status_code)
            assert "CSRF" in body, (rule.endpoint, body[:200])
    assert len(refused) == 2 * len(rules)


def test_a_post_with_the_token_passes_csrf(csrf_app: Flask) -> None:
    client = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    client.get("/account/")
    with client.session_transaction() as session:
        token_in_session = "csrf_token" in session
    page = client.get("/account/").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert token_in_session
    response = client.post("/account/signout", data={"csrf_token": token})
    assert response.status_code == 302
    # the labeling page's JSON endpoints take the token in a header
    state = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    page = state.get("/project/alpha/label").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert state.post("/project/alpha/label/state", json={}).status_code == 400
    ok = state.post("/project/alpha/label/state", json={}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200


def test_cookie_authenticated_api_writes_need_the_token(csrf_app: Flask) -> None:
    client = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    response = client.post("/api/taskrun", json={"task_id": 1, "info": "cat"})
    assert response.status_code == 400
    assert response.get_json()["exception_cls"] == "CSRFError"
    # the same write with the API key needs no token
    keyed = csrf_app.test_client().post(
        "/api/taskrun",
        json={"task_id": 1, "info": "cat"},
        headers={"Authorization": csrf_app.config["ADMIN_KEY"]},
    )
    assert keyed.status_code == 200


# --- session fixation -----------------------------------------------------------------------


def _decode(app: Flask, client: FlaskClient) -> dict:
    cookie = client.get_cookie("session")
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(cookie.value)


def test_sign_in_starts_a_fresh_session(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    page = client.get("/account/signin").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    # what an attacker could have planted in the victim's cookie before sign-in
    with client.session_transaction() as session:
        session["planted"] = "attacker"
        session["pending_import"] = {"token": "attacker", "project_id": 1}
    before = client.get_cookie("session").value
    response = client.post(
        "/account/signin",
        data={"login": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    after = _decode(csrf_app, client)
    # id:session_version (tests/security/test_sessions_revocation.py)
    assert after["_user_id"] == f"{csrf_app.config['ADMIN_ID']}:0"
    assert "planted" not in after and "pending_import" not in after
    assert client.get_cookie("session").value != before
    # the pre-sign-in CSRF token does not carry over either
    assert after.get("csrf_token") != _token_of(csrf_app, before)


def _token_of(app: Flask, cookie: str) -> str | None:
    return app.session_interface.get_signing_serializer(app).loads(cookie).get("csrf_token")


# --- API keys: never logged, never shown to others -----------------------------------------


def test_api_key_is_never_logged(csrf_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    key = csrf_app.config["ADMIN_KEY"]
    caplog.set_level(logging.DEBUG)
    client = csrf_app.test_client()
    client.get("/api/project", query_string={"api_key": key})
    client.get("/api/project", headers={"Authorization": key})
    client.get("/api/project", headers={"Authorization": f"Bearer {key}"})
    client.post("/api/task", json={"project_id": 999, "info": {}}, query_string={"api_key": key})
    client.get("/api/no-such-thing", query_string={"api_key": key})
    client.post("/api/taskrun", data=b"{not json", query_string={"api_key": key})
    client.post("/account/signin", data={"login": key, "password": key})
    client.post("/account/signin", data={"login": "admin", "password": PASSWORD})
    assert caplog.records  # something was logged at DEBUG (the capture works)
    for record in caplog.records:
        assert key not in record.getMessage(), record.getMessage()
        assert key not in str(record.args or ""), record.name
    assert key not in caplog.text


def test_api_key_is_shown_only_to_its_owner(csrf_app: Flask) -> None:
    with csrf_app.app_context():
        other = make_user("other")
        other_id, other_key = other.id, other.api_key
    admin_key = csrf_app.config["ADMIN_KEY"]
    client = csrf_app.test_client()
    # the API never returns a key, not even to an admin or to the owner
    for caller in (admin_key, other_key):
        for path in (
            "/api/user",
            f"/api/user/{other_id}",
            f"/api/user/{csrf_app.config['ADMIN_ID']}",
        ):
            body = client.get(path, headers={"Authorization": caller}).get_data(as_text=True)
            assert admin_key not in body and other_key not in body
            assert "api_key" not in body
    # the account page shows no key: a key is shown once, when it is made (only its hash is
    # stored; tests/security/test_sessions_revocation.py)
    own = _signed_in(csrf_app, other_id).get("/account/").get_data(as_text=True)
    assert other_key not in own and admin_key not in own
    users = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"]).get("/admin/users")
    assert users.status_code == 200
    assert other_key not in users.get_data(as_text=True)


# --- security headers -------------------------------------------------------------------------


def _check_headers(response, path: str) -> None:  # noqa: ANN001
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors" in policy, path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy"), path
    assert headers.get("X-Frame-Options") in ("DENY", "SAMEORIGIN"), path


def test_security_headers_on_pages_api_errors_and_static(csrf_app: Flask) -> None:
    admin = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    anonymous = csrf_app.test_client()
    for client, path in [
        (anonymous, "/account/signin"),
        (anonymous, "/"),  # a redirect
        (anonymous, "/no-such-page"),  # a 404
        (anonymous, "/static/labelhive.css"),
        (anonymous, "/healthz"),
        (anonymous, "/api/project"),
        (anonymous, "/api/nothing"),
        (admin, "/"),
        (admin, "/project/alpha/label"),
        (admin, "/project/alpha/settings"),
        (admin, "/project/alpha/download/answers.csv"),
    ]:
        _check_headers(client.get(path), path)
    page = admin.get("/project/alpha/label")
    policy = page.headers["Content-Security-Policy"]
    # the labeling page: own scripts only, images from the imported URLs
    assert (
        "script-src 'self'" in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "img-src" in policy and "https:" in policy
    assert (
        csrf_app.test_client()
        .get("/api/project")
        .headers["Content-Security-Policy"]
        .startswith("default-src 'none'")
    )


def test_presenter_frame_keeps_its_own_stricter_policy(csrf_app: Flask) -> None:
    with csrf_app.app_context():
        from labelhive.projects.models import Project

        project = db.session.scalar(db.select(Project).where(Project.short_name == "alpha"))
        project.use_task_presenter = True
        project.info = {**project.info, "task_presenter": "<p>hi</p>"}
        db.session.commit()
    response = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"]).get("/presenter/alpha/frame")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    _check_headers(response, "/presenter/alpha/frame")


def test_a_response_keeps_its_own_headers_in_any_case_and_gets_each_default_once(
    csrf_app: Flask,
) -> None:
    def framed() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"x-frame-options": "DENY", "content-security-policy": "sandbox"}

    csrf_app.add_url_rule("/test-own-headers", "test_own_headers", framed)
    client = csrf_app.test_client()
    own = client.get("/test-own-headers").headers
    assert own.getlist("X-Frame-Options") == ["DENY"]
    assert own.getlist("Content-Security-Policy") == ["sandbox"]
    assert own.getlist("X-Content-Type-Options") == ["nosniff"]
    plain = client.get("/healthz").headers
    for name in (
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
    ):
        assert len(plain.getlist(name)) == 1, name


def test_the_session_signer_follows_the_secret_key(csrf_app: Flask) -> None:
    """The signing serializer is kept between requests, but not across a key change: a cookie
    signed with the old key is refused unless the key is listed as a fallback."""
    client = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    assert client.get("/project/alpha/settings").status_code == 200
    interface = csrf_app.session_interface
    assert interface.get_signing_serializer(csrf_app) is interface.get_signing_serializer(csrf_app)
    old_key = csrf_app.secret_key
    csrf_app.secret_key = "another-secret-key"
    assert client.get("/project/alpha/settings").status_code == 302  # to the sign-in page
    client = _signed_in(csrf_app, csrf_app.config["ADMIN_ID"])
    csrf_app.secret_key = "a-third-secret-key"
    csrf_app.config["SECRET_KEY_FALLBACKS"] = ["another-secret-key"]
    assert client.get("/project/alpha/settings").status_code == 200
    csrf_app.secret_key, csrf_app.config["SECRET_KEY_FALLBACKS"] = old_key, []


# --- brute force ------------------------------------------------------------------------------


def test_sign_in_attempts_are_rate_limited(sqlite_url: str) -> None:
    app = make_app(
        sqlite_url,
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_SIGNIN="10 per minute",
    )
    with app.app_context():
        make_user("alice")
    client = app.test_client()
    statuses = [
        client.post("/account/signin", data={"login": "alice", "password": "guess"}).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10  # the form again, "wrong password"
    assert statuses[10:] == [429, 429]
    # even the right password is refused while the limit lasts
    right = client.post("/account/signin", data={"login": "alice", "password": PASSWORD})
    assert right.status_code == 429
    # showing the form is not limited, and another account from the address is its own bucket
    assert client.get("/account/signin").status_code == 200
    other = client.post("/account/signin", data={"login": "bob", "password": "guess"})
    assert other.status_code == 200
    # another address is not affected
    elsewhere = app.test_client().post(
        "/account/signin",
        data={"login": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert elsewhere.status_code == 302
    with app.app_context():
        db.engine.dispose()
