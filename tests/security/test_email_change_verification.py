"""Changing the e-mail address keeps to the e-mail domain restriction (issue 22).

Under the ``domains`` sign-up policy, ``PUT /api/user/<id>`` by the user themselves refuses a
new address outside the domains (400 with a sentence, nothing changed), and a new address inside
them must be confirmed again: the account is pending (its API key stops working) until the
link mailed over real SMTP (a local aiosmtpd sink) is opened. Admins change addresses freely.
Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.accounts import services as accounts
from labelhive.extensions import db
from labelhive.settings import services as settings
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
    """Sign-up restricted to lab.example; dan's account is confirmed at dan@lab.example."""
    app = make_app(
        any_url,
        RATELIMIT_ENABLED=False,
        WTF_CSRF_ENABLED=False,
        SERVER_NAME="labelhive.test",
        **sink.config,
    )
    with app.app_context():
        make_user("admin", admin=True)
        dan = make_user("dan")
        dan.email_addr = "dan@lab.example"
        settings.set_signup_policy("domains", ("lab.example",))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def _key(app: Flask, name: str) -> str:
    with app.app_context():
        key = accounts.regenerate_api_key(accounts.by_name(name))
        db.session.commit()
        return key


def _state(app: Flask, name: str) -> tuple[str | None, bool]:
    with app.app_context():
        user = accounts.by_name(name)
        return user.email_addr, user.verification_pending


def test_a_new_address_outside_the_domains_is_refused(restricted: Flask, sink: MailSink) -> None:
    key = _key(restricted, "dan")
    client = restricted.test_client()
    refused = client.put(
        "/api/user/2", headers={"Authorization": key}, json={"email_addr": "dan@elsewhere.example"}
    )
    assert refused.status_code == 400
    assert "must be at: lab.example" in refused.get_json()["exception_msg"]
    assert _state(restricted, "dan") == ("dan@lab.example", False)
    assert sink.messages == []


def test_a_new_address_inside_the_domains_must_be_confirmed_again(
    restricted: Flask, sink: MailSink
) -> None:
    key = _key(restricted, "dan")
    client = restricted.test_client()
    auth = {"Authorization": key}
    changed = client.put("/api/user/2", headers=auth, json={"email_addr": "dan2@lab.example"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert _state(restricted, "dan") == ("dan2@lab.example", True)
    # pending: the key does nothing until the link sent to the new address is opened
    assert client.get("/api/user/2", headers=auth).status_code == 401
    link = sink.link("dan2@lab.example")
    assert client.post(link).status_code == 302
    assert _state(restricted, "dan") == ("dan2@lab.example", False)
    assert client.get("/api/user/2", headers=auth).status_code == 200


def test_other_fields_and_the_same_address_need_no_confirming(
    restricted: Flask, sink: MailSink
) -> None:
    key = _key(restricted, "dan")
    changed = restricted.test_client().put(
        "/api/user/2",
        headers={"Authorization": key},
        json={"email_addr": "DAN@lab.example", "fullname": "Dan D."},
    )
    assert changed.status_code == 200
    assert _state(restricted, "dan") == ("DAN@lab.example", False)
    assert sink.messages == []


def test_an_admin_changes_an_address_freely(restricted: Flask, sink: MailSink) -> None:
    key = _key(restricted, "admin")
    changed = restricted.test_client().put(
        "/api/user/2", headers={"Authorization": key}, json={"email_addr": "dan@elsewhere.example"}
    )
    assert changed.status_code == 200
    assert _state(restricted, "dan") == ("dan@elsewhere.example", False)
    assert sink.messages == []
