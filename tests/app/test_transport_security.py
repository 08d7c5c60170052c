"""Behind a TLS Ingress (what the operator sets then): ``SESSION_COOKIE_SECURE=1`` and
``LABELHIVE_HSTS_SECONDS``. HSTS goes only on responses to HTTPS requests, as the trusted proxies
(``LABELHIVE_PROXY_FIX``) report the scheme; never by default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive import config
from labelhive.extensions import db
from tests.common.web import PASSWORD
from tests.common.web import make_user
from tests.conftest import make_app

# what the ingress (TLS terminated there), then the HAProxy sidecar, send on
HTTPS = {"X-Forwarded-For": "203.0.113.7, 10.0.0.5", "X-Forwarded-Proto": "https"}
HTTP = {"X-Forwarded-For": "203.0.113.7, 10.0.0.5", "X-Forwarded-Proto": "http"}
YEAR = "31536000"


def _app(url: str, monkeypatch: pytest.MonkeyPatch, **environ: str) -> Iterator[Flask]:
    for name in ("LABELHIVE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "LABELHIVE_PROXY_FIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = make_app(url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        make_user("ada")
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def tls_app(any_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The web container's env behind a TLS Ingress (builders/web.py tls_env)."""
    yield from _app(
        any_url,
        monkeypatch,
        LABELHIVE_PROXY_FIX="2",
        SESSION_COOKIE_SECURE="1",
        LABELHIVE_HSTS_SECONDS=YEAR,
    )


@pytest.fixture
def plain_app(any_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Behind proxies, HSTS not configured."""
    yield from _app(any_url, monkeypatch, LABELHIVE_PROXY_FIX="2")


def test_hsts_on_https_responses_when_configured(tls_app: Flask) -> None:
    client = tls_app.test_client()
    for path in ("/", "/account/signin", "/api/project", "/healthz"):
        response = client.get(path, headers=HTTPS)
        assert response.headers["Strict-Transport-Security"] == f"max-age={YEAR}", path


def test_no_hsts_over_plain_http(tls_app: Flask) -> None:
    response = tls_app.test_client().get("/account/signin", headers=HTTP)
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_no_hsts_unless_configured(plain_app: Flask) -> None:
    response = plain_app.test_client().get("/account/signin", headers=HTTPS)
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_an_untrusted_forwarded_proto_gives_no_hsts(any_url: str, monkeypatch) -> None:  # noqa: ANN001
    # without trusted proxies a client's own X-Forwarded-Proto means nothing
    for app in _app(any_url, monkeypatch, LABELHIVE_HSTS_SECONDS=YEAR):
        response = app.test_client().get("/account/signin", headers=HTTPS)
        assert "Strict-Transport-Security" not in response.headers


def test_the_session_cookie_is_secure_behind_tls(tls_app: Flask) -> None:
    response = tls_app.test_client().post(
        "/account/signin", data={"login": "ada", "password": PASSWORD}, headers=HTTPS
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    cookies = response.headers.getlist("Set-Cookie")
    (session,) = [c for c in cookies if c.startswith("session=")]
    attributes = [a.strip().lower() for a in session.split(";")]
    assert "secure" in attributes and "httponly" in attributes


def test_the_session_cookie_is_not_secure_by_default(plain_app: Flask) -> None:
    response = plain_app.test_client().post(
        "/account/signin", data={"login": "ada", "password": PASSWORD}, headers=HTTP
    )
    (session,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "secure" not in [a.strip().lower() for a in session.split(";")]


def test_the_variable_is_read_and_checked() -> None:
    assert config.from_environ({})["HSTS_SECONDS"] == 0
    assert config.from_environ({"LABELHIVE_HSTS_SECONDS": YEAR})["HSTS_SECONDS"] == int(YEAR)
    for bad in ("a year", "-1"):
        with pytest.raises(RuntimeError, match="LABELHIVE_HSTS_SECONDS"):
            config.from_environ({"LABELHIVE_HSTS_SECONDS": bad})
