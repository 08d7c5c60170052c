"""The OpenID recheck of leavers, against the real provider of the sign-in tests
(``oidc-provider`` on Node.js, tests/common/oidc.py) issuing refresh tokens, on SQLite and
PostgreSQL.

People sign in through the provider and make an API key on their account page (client input
that reaches the database); then the provider changes its mind (someone leaves the groups,
someone's account is removed there, someone is promoted) and ``labelhive users oidc-recheck``
or the scheduler's periodic job applies it without anyone signing in again. The provider
replaces a refresh token at every use, so a second recheck also proves that the new one was
stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from labelhive import cli
from labelhive.accounts import services as accounts
from labelhive.accounts.identity import sealing
from labelhive.accounts.identity.models import UserIdentity
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import scheduler
from tests.app.accounts.test_oidc import CALLBACK
from tests.app.accounts.test_oidc import ROLES
from tests.app.accounts.test_oidc import people
from tests.app.accounts.test_oidc import reading
from tests.app.accounts.test_oidc import sign_in
from tests.app.jobs.conftest import settle
from tests.common.oidc import OpenIDProvider
from tests.common.oidc import openid_provider
from tests.conftest import make_app

SECRET = "recheck-test-secret-key-0123456789abcdef"
BIRDS = {"description": "d", "info": {}}


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    with openid_provider([CALLBACK], people(), refresh_tokens=True) as running:
        yield running


def oidc_config(provider: OpenIDProvider, **extra: str) -> dict[str, str]:
    """The sign-in settings, as the environment gives them to the CLI and the app alike."""
    return {
        "SECRET_KEY": SECRET,
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_GROUP_ROLES": ROLES,
        **extra,
    }


@contextlib.contextmanager
def recheck_app(url: str, provider: OpenIDProvider, **extra: str) -> Iterator[Flask]:
    provider.set_accounts(people())
    config = oidc_config(provider, **extra)
    if "OIDC_MAX_AGE_WITHOUT_REFRESH" in config:
        config["OIDC_MAX_AGE_WITHOUT_REFRESH"] = int(config["OIDC_MAX_AGE_WITHOUT_REFRESH"])
    app = make_app(url, API_KEY_CACHE_SECONDS=0, WTF_CSRF_ENABLED=False, **config)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def run_recheck(url: str, provider: OpenIDProvider, **extra: str):  # noqa: ANN201
    env = {"DATABASE_URL": url, **oidc_config(provider, **extra)}
    return CliRunner().invoke(cli.main, ["users", "oidc-recheck"], env=env)


def api_key(client: FlaskClient) -> str:
    """Make an API key on the account page, as a person does."""
    page = client.post("/account/api-key").get_data(as_text=True)
    return page.split('id="api-key" class="mono" type="text" readonly value="', 1)[1].split('"')[0]


def signed_in(app: Flask, provider: OpenIDProvider, login: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    assert sign_in(client, provider, login).status_code == 302
    return client, api_key(client)


def post_project(app: Flask, key: str, short_name: str) -> tuple[int, dict]:
    response = app.test_client().post(
        "/api/project",
        headers={"Authorization": key},
        json={**BIRDS, "name": short_name, "short_name": short_name},
    )
    return response.status_code, response.get_json()


def test_sign_in_stores_the_refresh_token_sealed_never_in_clear(any_url, provider, caplog):
    caplog.set_level(logging.DEBUG)
    with recheck_app(any_url, provider) as app:
        signed_in(app, provider, "ann")
        with reading(app):
            stored = db.session.execute(text("SELECT refresh_token FROM user_identity")).scalar()
            token = sealing.unseal(stored)
        assert token and stored
        assert token not in stored
        assert stored.startswith("gAAAAA")  # a Fernet token (version byte 0x80)
        # another SECRET_KEY cannot open it
        assert sealing.open_with(["another-secret"], stored) is None
        assert token not in caplog.text
        result = run_recheck(any_url, provider)
        assert result.exit_code == 0, result.output
        with reading(app):
            rotated = db.session.execute(text("SELECT refresh_token FROM user_identity")).scalar()
            fresh = sealing.unseal(rotated)
        # the provider replaced the token at its use: the new one is stored, sealed too
        assert fresh and fresh != token and fresh not in rotated
        for secret in (token, fresh, provider.client_secret):
            assert secret not in caplog.text
            assert secret not in result.output


def test_leavers_lose_api_key_and_sessions_and_the_others_roles_follow_their_groups(
    any_url, provider
):
    with recheck_app(any_url, provider) as app:
        ann, ann_key = signed_in(app, provider, "ann")
        olga, olga_key = signed_in(app, provider, "olga")
        adam, adam_key = signed_in(app, provider, "adam")
        assert post_project(app, olga_key, "before")[0] == 200
        assert post_project(app, ann_key, "ann-before")[0] == 403  # an annotator only
        # at the provider: olga leaves every allowed group, adam's account is removed (his
        # refresh token is refused: invalid_grant), ann is made a project owner
        now = people()
        now["olga"]["groups"] = ["sales"]
        del now["adam"]
        now["ann"]["groups"] = ["lh-owners"]
        provider.set_accounts(now)

        result = run_recheck(any_url, provider)

        assert result.exit_code == 0, result.output
        assert "checked 3, disabled 2, roles changed 1, without a refresh token 0" in result.output
        for key in (olga_key, adam_key):
            status, body = post_project(app, key, "after")
            assert status == 401
            assert body["status_code"] == 401
            assert "API key" in body["exception_msg"]
        for client in (olga, adam):
            assert client.get("/account/").status_code == 302  # signed out: to the sign-in page
        # ann still works, now with the role her new group gives
        assert post_project(app, ann_key, "ann-after")[0] == 200
        assert ann.get("/account/").status_code == 200
        with reading(app):
            assert accounts.by_name("olga").enabled is False
            assert accounts.by_name("adam").enabled is False
            assert accounts.by_name("ann").can_create_projects is True
            blocked = db.session.scalars(select(UserIdentity).where(UserIdentity.blocked))
            # their tokens are dropped with them
            assert {i.refresh_token for i in blocked} == {None}
        # a second run: ann's rotated token was kept, so the provider answers again
        again = run_recheck(any_url, provider)
        assert again.exit_code == 0, again.output
        assert "checked 1, disabled 0, roles changed 0" in again.output
        # olga is back in the group: her next sign-in enables her again
        provider.set_accounts(people())
        assert sign_in(olga, provider, "olga").status_code == 302
        assert olga.get("/account/").status_code == 200


def test_an_unreachable_provider_changes_nobody(any_url, caplog):
    caplog.set_level(logging.DEBUG)
    with contextlib.ExitStack() as stack:
        with openid_provider([CALLBACK], people(), refresh_tokens=True) as gone:
            app = stack.enter_context(recheck_app(any_url, gone))
            _ann, ann_key = signed_in(app, gone, "ann")
        # the provider process is stopped: its port refuses connections
        result = run_recheck(any_url, gone)
        assert result.exit_code == 1
        assert "could not be asked" in result.output
        assert "it cannot be reached (ConnectionError)" in result.output
        assert "1 account(s) left unchecked and unchanged" in result.output
        # her key still works (an annotator: signed in, but may not create projects)
        assert post_project(app, ann_key, "still")[0] == 403
        with reading(app):
            assert accounts.by_name("ann").enabled is True
        assert gone.client_secret not in caplog.text


def test_accounts_without_a_refresh_token_are_kept_or_disabled_after_the_max_age(any_url):
    # a provider that issues no refresh token (or sign-ins from before they were asked for)
    with openid_provider([CALLBACK], people()) as plain:
        with recheck_app(any_url, plain) as app:
            _ann, ann_key = signed_in(app, plain, "ann")
            olga, olga_key = signed_in(app, plain, "olga")
            kept = run_recheck(any_url, plain)
            assert kept.exit_code == 0, kept.output
            assert "without a refresh token 2 (ann, olga: kept until they sign in again)" in (
                kept.output
            )
            # olga last signed in two days ago; the site allows one day without a refresh token
            with reading(app):
                db.session.execute(
                    update(UserIdentity)
                    .where(UserIdentity.subject == "olga")
                    .values(last_sign_in=utcnow() - dt.timedelta(days=2))
                )
            aged = run_recheck(any_url, plain, OIDC_MAX_AGE_WITHOUT_REFRESH="86400")
            assert aged.exit_code == 0, aged.output
            assert "checked 2, disabled 1" in aged.output
            assert post_project(app, olga_key, "olga")[0] == 401
            assert olga.get("/account/").status_code == 302
            assert post_project(app, ann_key, "ann")[0] == 403  # kept: still an annotator


def test_the_scheduler_runs_the_recheck_every_interval(sqlite_url, provider):
    with recheck_app(sqlite_url, provider, OIDC_RECHECK_INTERVAL="60") as app:
        app.config["OIDC_RECHECK_INTERVAL"] = 60
        _olga, olga_key = signed_in(app, provider, "olga")
        now = people()
        now["olga"]["groups"] = []
        provider.set_accounts(now)
        with app.app_context():
            start = utcnow().replace(tzinfo=dt.UTC).timestamp() // 3600 * 3600
            enqueued = scheduler.tick(app, start)
            job_id = f"oidc_recheck-{int(start // 60)}"
            assert job_id in enqueued
            assert job_id not in scheduler.tick(app, start + 1)  # once per period
            record = settle(job_id)
            assert record.status == "finished", record.error
            assert record.result["disabled"] == 1
            db.session.remove()
        assert post_project(app, olga_key, "olga")[0] == 401


def test_the_recheck_says_when_oidc_is_not_configured(sqlite_url):
    result = CliRunner().invoke(
        cli.main, ["users", "oidc-recheck"], env={"DATABASE_URL": sqlite_url, "OIDC_ISSUER": ""}
    )
    assert result.exit_code == 1
    assert "OpenID Connect sign-in is not configured" in result.output
