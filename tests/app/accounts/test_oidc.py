"""Sign-in through OpenID Connect, against a real provider (``oidc-provider`` on Node.js,
tests/common/oidc.py) on loopback, on SQLite and PostgreSQL.

The provider requires PKCE (S256) from every client, so each successful sign-in also proves
that LabelHive sends it. The refusal tests doctor the provider's token answer (a forged
signature, an expired token, another audience) or replay what the browser sent, and each
must end on the refusal page with a 4xx status, nothing written but what a replay needs.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Iterator
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts import services as accounts
from labelhive.accounts.identity.models import UserIdentity
from labelhive.accounts.models import User
from labelhive.accounts.models import new_api_key
from labelhive.extensions import db
from labelhive.settings import services as settings
from tests.common.oidc import OpenIDProvider
from tests.common.oidc import openid_provider
from tests.conftest import make_app

APP = "http://localhost"
CALLBACK = f"{APP}/account/signin/oidc/callback"
ROLES = "lh-admins=admin; lh-owners=creator; labelers=annotator"


def people() -> dict[str, dict]:
    def person(name: str, groups: list[str], verified: bool = True) -> dict:
        return {
            "email": f"{name}@example.org",
            "email_verified": verified,
            "name": name.title(),
            "preferred_username": name,
            "groups": groups,
        }

    return {
        "ann": person("ann", ["labelers"]),
        "olga": person("olga", ["lh-owners", "labelers"]),
        "adam": person("adam", ["lh-admins"]),
        "uma": person("uma", ["labelers"], verified=False),
        "sam": person("sam", ["sales"]),
    }


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    with openid_provider([CALLBACK], people()) as running:
        yield running


def identity_app(url: str, provider: OpenIDProvider, **config: object) -> Flask:
    provider.set_accounts(people())
    provider.tamper_next_token("")
    return make_app(
        url,
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=provider.client_id,
        OIDC_CLIENT_SECRET=provider.client_secret,
        OIDC_SCOPES="openid email profile groups",
        **config,
    )


@pytest.fixture
def oidc_app(any_url: str, provider: OpenIDProvider) -> Iterator[Flask]:
    """The app, with no app context pushed during the test: each request gets its own (and
    so its own ``g`` and database session), as in production; reads take one with
    :func:`reading`."""
    app = identity_app(
        any_url,
        provider,
        OIDC_GROUP_ROLES=ROLES,
        OIDC_PROVIDER_NAME="Example SSO",
        API_KEY_CACHE_SECONDS=0,
        WTF_CSRF_ENABLED=False,
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextlib.contextmanager
def reading(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.commit()
        db.session.remove()


def start(client: FlaskClient) -> str:
    """Begin a sign-in; return the provider's authorization URL LabelHive redirects to."""
    response = client.get("/account/signin/oidc")
    assert response.status_code == 302
    return response.headers["Location"]


def at_provider(provider: OpenIDProvider, authorize_url: str, login: str) -> str:
    """Sign in at the provider (a fresh browser there); the app path it sends back to."""
    back = provider.sign_in(requests.Session(), authorize_url, login, APP)
    return back[len(APP) :]


def sign_in(client: FlaskClient, provider: OpenIDProvider, login: str):  # noqa: ANN201
    return client.get(at_provider(provider, start(client), login))


def refused(response, status: int) -> str:  # noqa: ANN001
    """The refusal page's message, after checking it is one with ``status``."""
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert 'class="flash flash-error" id="refused-message">' in page  # the styled page
    message = page.split('id="refused-message">', 1)[1].split("</p>", 1)[0]
    return html.unescape(message)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_authorization_request_uses_pkce_nonce_and_the_discovered_endpoint(oidc_app, provider):
    query = parse_qs(urlsplit(start(oidc_app.test_client())).query)
    discovered = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10)
    assert start(oidc_app.test_client()).startswith(discovered.json()["authorization_endpoint"])
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["nonce"][0] and query["state"][0]
    # offline_access (OIDC_OFFLINE_SCOPE): a refresh token for the recheck of leavers
    assert query["scope"] == ["openid email profile groups offline_access"]


def test_first_sign_in_creates_the_account_from_verified_claims(oidc_app, provider):
    client = oidc_app.test_client()
    response = sign_in(client, provider, "olga")
    assert response.status_code == 302
    with reading(oidc_app):
        user = accounts.by_name("olga")
        assert user is not None
        assert (user.email_addr, user.fullname) == ("olga@example.org", "Olga")
        assert (user.admin, user.can_create_projects, user.password_hash) == (False, True, None)
        identity = db.session.scalar(select(UserIdentity))
        assert (identity.user_id, identity.issuer) == (user.id, provider.issuer)
        assert identity.subject == "olga"
    assert client.get("/account/").status_code == 200
    # the second sign-in finds the same account
    sign_in(oidc_app.test_client(), provider, "olga")
    with reading(oidc_app):
        assert count(User) == 1


def test_an_existing_account_is_linked_by_verified_email(oidc_app, provider):
    with reading(oidc_app):
        local_id = accounts.create_user("annie", password="local-pass", email="ANN@example.org").id
    client = oidc_app.test_client()
    assert sign_in(client, provider, "ann").status_code == 302
    with reading(oidc_app):
        assert count(User) == 1
        assert db.session.scalar(select(UserIdentity.user_id)) == local_id
    assert client.get("/account/").status_code == 200


def test_an_unverified_email_neither_links_nor_creates(oidc_app, provider):
    with reading(oidc_app):
        accounts.create_user("uma-local", password="local-pass", email="uma@example.org")
    page = refused(sign_in(oidc_app.test_client(), provider, "uma"), 403)
    assert "has not verified that this address is yours" in page
    with reading(oidc_app):
        assert count(UserIdentity) == 0
        db.session.execute(delete(User))
    page = refused(sign_in(oidc_app.test_client(), provider, "uma"), 403)
    assert "has not verified your e-mail address" in page
    with reading(oidc_app):
        assert (count(User), count(UserIdentity)) == (0, 0)


def test_someone_outside_the_allowed_groups_is_refused(oidc_app, provider):
    page = refused(sign_in(oidc_app.test_client(), provider, "sam"), 403)
    assert "not in a group that may use LabelHive" in page
    with reading(oidc_app):
        assert count(User) == 0


def adam_in(provider: OpenIDProvider, groups: list[str]) -> None:
    provider.set_accounts({**people(), "adam": {**people()["adam"], "groups": groups}})


def adam(app: Flask) -> User:
    with reading(app):
        user = accounts.by_name("adam")
        db.session.expunge(user)
        return user


def test_groups_are_reread_at_every_sign_in_and_a_lost_role_ends_sessions(oidc_app, provider):
    laptop, phone = oidc_app.test_client(), oidc_app.test_client()
    sign_in(laptop, provider, "adam")
    sign_in(phone, provider, "adam")
    assert (adam(oidc_app).admin, adam(oidc_app).can_create_projects) == (True, True)
    assert phone.get("/admin/users").status_code == 200
    with reading(oidc_app):
        key = accounts.by_name("adam").set_api_key(new_api_key())

    # moved from the admins to the annotators at the provider
    adam_in(provider, ["labelers"])
    assert sign_in(laptop, provider, "adam").status_code == 302
    assert (adam(oidc_app).admin, adam(oidc_app).can_create_projects) == (False, False)
    # the phone's session, begun as an admin, is over; the laptop's new one is not an admin's
    assert phone.get("/admin/users").status_code == 302
    assert laptop.get("/admin/users").status_code == 403
    assert laptop.get("/project/new").status_code == 403
    created = laptop.post("/api/project", headers={"Authorization": key}, json={"name": "X"})
    assert created.status_code == 403
    assert "may not create projects" in created.get_data(as_text=True)

    # out of every allowed group: refused, and the account, its sessions and its key are off
    adam_in(provider, [])
    refused(sign_in(phone, provider, "adam"), 403)
    assert adam(oidc_app).enabled is False
    assert laptop.get("/account/").status_code == 302
    created = laptop.post("/api/project", headers={"Authorization": key}, json={"name": "X"})
    assert created.status_code == 401

    # back in a group: the account comes back, with the roles of now
    adam_in(provider, ["lh-admins"])
    assert sign_in(phone, provider, "adam").status_code == 302
    assert (adam(oidc_app).enabled, adam(oidc_app).admin) == (True, True)
    created = phone.post("/api/project", headers={"Authorization": key}, json={"name": "Y"})
    assert created.status_code != 401


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("forged", "signature does not match the provider's published keys"),
        ("expired", "it has expired"),
        ("audience", "issued to another application"),
    ],
)
def test_a_doctored_id_token_is_refused(oidc_app, provider, mode, reason):
    client = oidc_app.test_client()
    authorize_url = start(client)
    back = at_provider(provider, authorize_url, "ann")
    provider.tamper_next_token(mode)
    page = refused(client.get(back), 401)
    assert reason in page
    with reading(oidc_app):
        assert count(User) == 0
    assert client.get("/account/").status_code == 302


def test_a_replayed_state_is_refused_even_with_the_old_cookie(oidc_app, provider):
    client = oidc_app.test_client()
    back = at_provider(provider, start(client), "ann")
    cookie_before = client.get_cookie("session").value
    assert client.get(back).status_code == 302
    # the same answer again, from a browser holding the session cookie of before
    replay = oidc_app.test_client()
    replay.set_cookie("session", cookie_before, domain="localhost")
    page = refused(replay.get(back), 400)
    assert "already used once" in page
    assert replay.get("/account/").status_code == 302


def test_a_replayed_nonce_is_refused(oidc_app, provider):
    client = oidc_app.test_client()
    first_url = start(client)
    client.get(at_provider(provider, first_url, "ann"))
    old_nonce = parse_qs(urlsplit(first_url).query)["nonce"][0]
    # a new sign-in whose answer carries the nonce of the finished one
    second = oidc_app.test_client()
    url = urlsplit(start(second))
    query = {k: v[0] for k, v in parse_qs(url.query).items()} | {"nonce": old_nonce}
    back = at_provider(provider, url._replace(query=urlencode(query)).geturl(), "ann")
    page = refused(second.get(back), 401)
    assert "answers another sign-in (nonce)" in page
    assert second.get("/account/").status_code == 302


def test_an_answer_without_a_sign_in_or_with_a_provider_error_is_refused(oidc_app):
    client = oidc_app.test_client()
    page = refused(client.get("/account/signin/oidc/callback?code=x&state=never-issued"), 400)
    assert "does not belong to a sign-in started in this browser" in page
    page = refused(client.get("/account/signin/oidc/callback?error=access_denied&state=x"), 400)
    assert "did not sign you in: access_denied" in page


def test_the_session_ends_after_identity_session_seconds(any_url, provider):
    app = identity_app(any_url, provider, IDENTITY_SESSION_SECONDS=0)
    client = app.test_client()
    assert sign_in(client, provider, "ann").status_code == 302
    expired = client.get("/account/")
    assert expired.status_code == 302
    assert "/account/signin" in expired.headers["Location"]
    with app.app_context():
        db.engine.dispose()


def test_identity_only_policy_keeps_passwords_for_break_glass_admins(oidc_app):
    oidc_app.config["BREAK_GLASS_ADMINS"] = "root"
    with reading(oidc_app):
        accounts.create_user("root", password="root-password", admin=True)
        accounts.create_user("pat", password="pat-password", admin=True)
        settings.set_signup_policy("identity")
    client = oidc_app.test_client()
    refusal = client.post("/account/signin", data={"login": "pat", "password": "pat-password"})
    assert refusal.status_code == 403
    assert "Passwords are turned off" in refusal.get_data(as_text=True)
    assert client.get("/account/").status_code == 302
    signup = client.get("/account/signup").get_data(as_text=True)
    assert "come from your organisation" in signup
    assert 'name="password"' not in signup
    page = client.get("/account/signin").get_data(as_text=True)
    assert "Sign in with Example SSO" in page
    ok = client.post("/account/signin", data={"login": "root", "password": "root-password"})
    assert ok.status_code == 302
    assert client.get("/account/").status_code == 200


def test_identity_only_policy_needs_an_identity_provider(any_url):
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with reading(app):
        accounts.create_user("root", password="root-password", admin=True)
    client = app.test_client()
    client.post("/account/signin", data={"login": "root", "password": "root-password"})
    page = client.post("/admin/settings", data={"mode": "identity"})
    assert page.status_code == 200
    assert "Set up OpenID Connect or LDAP sign-in first" in page.get_data(as_text=True)
    with reading(app):
        assert settings.signup_policy().mode == "open"
        db.engine.dispose()


def test_an_oidc_user_makes_an_api_key_the_same_way_and_no_secret_is_logged(
    oidc_app, provider, caplog
):
    caplog.set_level(logging.DEBUG)
    client = oidc_app.test_client()
    sign_in(client, provider, "olga")
    page = client.post("/account/api-key").get_data(as_text=True)
    key = page.split('id="api-key" class="mono" type="text" readonly value="', 1)[1].split('"')[0]
    created = client.post(
        "/api/project",
        headers={"Authorization": key},
        json={"name": "Birds", "short_name": "birds", "description": "d", "info": {}},
    )
    assert created.status_code == 200
    assert provider.client_secret not in caplog.text
