"""The e-mail domain restriction is a control (issue 22, finding 2).

- Under the restriction a new account can do nothing (no sign-in, no API key) until its owner
  opens the link mailed over real SMTP (a local aiosmtpd sink) or an admin approves it.
- E-mail addresses are unique whatever their case, so nobody can register ``Alice@x`` next to
  ``alice@x`` and take over e-mail sign-in; migration 0008 refuses to run while such clashes
  exist, naming them, and hashes the existing API keys.

Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from labelhive import create_app
from labelhive import migrate
from labelhive.accounts import services as accounts
from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.extensions import db
from labelhive.settings import services as settings
from tests.common.web import PASSWORD
from tests.common.web import make_user
from tests.conftest import make_app
from tests.security.mailsink import MailSink
from tests.security.mailsink import mail_sink


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as sink:
        yield sink


@pytest.fixture
def restricted(any_url: str, sink: MailSink) -> Iterator[Flask]:
    """Sign-up restricted to lab.example; CSRF on, as in production."""
    app = make_app(any_url, RATELIMIT_ENABLED=False, SERVER_NAME="labelhive.test", **sink.config)
    with app.app_context():
        make_user("admin")
        settings.set_signup_policy("domains", ("lab.example",))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def _post(client: FlaskClient, path: str, **data: str):  # noqa: ANN202
    page = client.get("/account/signin").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    return client.post(path, data={**data, "csrf_token": token})


def _signup(client: FlaskClient, name: str, email: str):  # noqa: ANN202
    return _post(
        client, "/account/signup", name=name, email=email, password=PASSWORD, confirm=PASSWORD
    )


def _user(app: Flask, name: str) -> User | None:
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.name == name))


def test_a_restricted_sign_up_can_do_nothing_until_the_address_is_confirmed(
    restricted: Flask, sink: MailSink
) -> None:
    client = restricted.test_client()
    sent = _signup(client, "dan", "dan@lab.example")
    assert sent.status_code == 200 and "We sent a link" in sent.get_data(as_text=True)
    assert client.get("/account/").status_code == 302  # not signed in
    dan = _user(restricted, "dan")
    assert dan is not None and dan.verification_pending
    # no sign-in (a new link is mailed instead), no API use with the key
    refused = _post(client, "/account/signin", login="dan", password=PASSWORD)
    assert "We sent a link" in refused.get_data(as_text=True)
    assert client.get("/account/").status_code == 302
    assert len([m for m in sink.messages if m["To"] == "dan@lab.example"]) == 2
    with restricted.app_context():
        key = accounts.regenerate_api_key(accounts.by_name("dan"))
        db.session.commit()
    api = restricted.test_client()
    assert api.get("/api/task", headers={"Authorization": key}).status_code == 401

    # the link: a GET shows a button (mail scanners do not confirm), the POST confirms
    link = sink.link("dan@lab.example")
    assert client.get(link).status_code == 200
    assert _user(restricted, "dan").verification_pending
    assert _post(client, link).status_code == 302
    assert not _user(restricted, "dan").verification_pending
    assert _post(client, "/account/signin", login="dan", password=PASSWORD).status_code == 302
    assert client.get("/account/").status_code == 200
    assert api.get("/api/task", headers={"Authorization": key}).status_code == 200


def test_a_forged_or_retargeted_link_confirms_nothing(restricted: Flask, sink: MailSink) -> None:
    client = restricted.test_client()
    _signup(client, "dan", "dan@lab.example")
    link = sink.link("dan@lab.example")
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert _post(client, forged).status_code == 302
    assert _user(restricted, "dan").verification_pending
    # the link is bound to the address it was sent to
    with restricted.app_context():
        accounts.by_name("dan").email_addr = "other@lab.example"
        db.session.commit()
    _post(client, link)
    assert _user(restricted, "dan").verification_pending


def test_an_admin_can_approve_a_pending_account(restricted: Flask) -> None:
    _signup(restricted.test_client(), "dan", "dan@lab.example")
    admin = restricted.test_client()
    _post(admin, "/account/signin", login="admin", password=PASSWORD)
    assert "(not confirmed)" in admin.get("/admin/users").get_data(as_text=True)
    dan = _user(restricted, "dan")
    assert _post(admin, f"/admin/users/{dan.id}/approve").status_code == 302
    assert not _user(restricted, "dan").verification_pending


def test_an_address_outside_the_domains_is_still_refused(restricted: Flask) -> None:
    refused = _signup(restricted.test_client(), "eve", "eve@lab.example.evil")
    assert "restricted to e-mail addresses" in refused.get_data(as_text=True)
    assert _user(restricted, "eve") is None


def test_an_unreachable_smtp_server_creates_no_account(any_url: str) -> None:
    from tests.common.processes import free_port

    app = make_app(any_url, RATELIMIT_ENABLED=False, SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    with app.app_context():
        make_user("admin")
        settings.set_signup_policy("domains", ("lab.example",))
        db.session.commit()
    client = app.test_client()
    response = _signup(client, "dan", "dan@lab.example")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be sent" in page
    assert _user(app, "dan") is None
    with app.app_context():
        db.engine.dispose()


def test_an_address_in_another_case_cannot_be_registered(any_url: str) -> None:
    app = make_app(any_url, RATELIMIT_ENABLED=False)
    with app.app_context():
        make_user("alice")  # alice@example.org
        client = app.test_client()
        taken = _signup(client, "mallory", "ALICE@Example.org")
        assert "already registered" in taken.get_data(as_text=True)
        assert accounts.by_name("mallory") is None
        with pytest.raises(accounts.AccountError, match="already registered"):
            accounts.create_user("mallory", password=PASSWORD, email="Alice@EXAMPLE.org")
        db.session.rollback()
        # and the database refuses it too, whatever the code path
        db.session.add(User(name="mallory", email_addr="aLiCe@example.org", api_key_hash="x" * 64))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
        db.engine.dispose()


def _at_0007(url: str) -> Flask:
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    with app.app_context():
        migrate.upgrade(db.engine, "0007_helping_files")
    return app


def _insert_user(conn: sa.Connection, name: str, email: str | None, key: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO users (name, fullname, email_addr, password_hash, api_key, admin,"
            " enabled, locale, created) VALUES (:name, :name, :email, NULL, :key, :f, :t,"
            " 'en', :created)"
        ),
        {
            "name": name,
            "email": email,
            "key": key,
            "f": False,
            "t": True,
            "created": dt.datetime(2026, 1, 1),
        },
    )


def test_the_migration_refuses_addresses_that_differ_only_in_case(any_url: str) -> None:
    app = _at_0007(any_url)
    with app.app_context():
        with db.engine.begin() as conn:
            _insert_user(conn, "alice", "alice@example.org", "a" * 40)
            _insert_user(conn, "mallory", "Alice@Example.ORG", "m" * 40)
            _insert_user(conn, "bob", "bob@example.org", "b" * 40)
        with pytest.raises(RuntimeError) as refused:
            migrate.upgrade(db.engine)
        assert "alice@example.org: alice, mallory" in str(refused.value)
        assert "bob" not in str(refused.value)
        # nothing was written: still at 0007, keys as they were
        assert migrate.current_revision(db.engine) == "0007_helping_files"
        with db.engine.connect() as conn:
            keys = set(conn.execute(sa.text("SELECT api_key FROM users")).scalars())
        assert keys == {"a" * 40, "m" * 40, "b" * 40}
        db.engine.dispose()


def test_the_migration_hashes_existing_api_keys_and_they_keep_working(any_url: str) -> None:
    app = _at_0007(any_url)
    with app.app_context():
        with db.engine.begin() as conn:
            _insert_user(conn, "robot", None, "r" * 40)
        migrate.upgrade(db.engine)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT api_key FROM users")).scalar() == hash_api_key(
                "r" * 40
            )
        client = app.test_client()
        assert client.get("/api/task", headers={"Authorization": "r" * 40}).status_code == 200
        assert client.get("/api/task", query_string={"api_key": "r" * 40}).status_code == 200
        db.engine.dispose()
