"""Sign-in reveals no accounts by its cost and is limited per address across logins (issue 22,
finding 3).

- An unknown login (or an account without a password) costs one password hash check, as a
  known one does: counted with the real ``check_password_hash``, not timed.
- Besides the limit per address and login, one address trying one password on many logins
  (password spraying) is stopped by a limit per address over every login.

Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.accounts import services as accounts
from labelhive.extensions import db
from tests.common.web import PASSWORD
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def app_(any_url: str) -> Iterator[Flask]:
    app = make_app(
        any_url,
        WTF_CSRF_ENABLED=False,
        RATELIMIT_SIGNIN="100 per hour",
        RATELIMIT_SIGNIN_ADDRESS="5 per hour",
    )
    with app.app_context():
        make_user("alice")
        accounts.create_user("robot")  # API-only: no password
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_every_failed_sign_in_checks_one_password_hash(
    app_: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = accounts.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    monkeypatch.setattr("labelhive.accounts.models.check_password_hash", counting)
    with app_.app_context():
        for login in ("alice", "nobody", "nobody@example.org", "robot"):
            checked.clear()
            assert accounts.authenticate(login, "wrong password") is None
            # one check, of a hash made the way real ones are (same method, same cost)
            assert len(checked) == 1, login
            assert checked[0] == accounts.by_name("alice").password_hash.split("$", 1)[0]


def test_one_address_spraying_many_logins_is_stopped(app_: Flask) -> None:
    client = app_.test_client()
    logins = [f"user{i}" for i in range(5)] + ["alice"]
    statuses = [
        client.post("/account/signin", data={"login": login, "password": "Summer2026!"}).status_code
        for login in logins
    ]
    assert statuses == [200] * 5 + [429]
    # the right password from that address waits too; another address is not affected
    right = {"login": "alice", "password": PASSWORD}
    assert client.post("/account/signin", data=right).status_code == 429
    other = app_.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert other.post("/account/signin", data=right).status_code == 302
    # showing the form is not limited
    assert client.get("/account/signin").status_code == 200
