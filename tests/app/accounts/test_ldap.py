"""Sign-in through LDAP (search, then bind) against Debian's slapd on loopback
(tests/common/ldap.py), over StartTLS and over LDAPS, on SQLite and PostgreSQL.

slapd refuses a simple bind without TLS, so every successful sign-in here also proves the
connection was encrypted; a CA that does not sign the server's certificate must refuse.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from ldap3 import MODIFY_ADD
from ldap3 import MODIFY_DELETE
from ldap3 import Connection
from ldap3 import Server
from ldap3 import Tls
from sqlalchemy import func
from sqlalchemy import select

from labelhive import cli
from labelhive.accounts import services as accounts
from labelhive.accounts.identity.models import UserIdentity
from labelhive.accounts.models import User
from labelhive.accounts.models import new_api_key
from labelhive.extensions import db
from tests.common.ldap import ADMIN_DN
from tests.common.ldap import ADMIN_PASSWORD
from tests.common.ldap import READER_PASSWORD
from tests.common.ldap import SUFFIX
from tests.common.ldap import Directory
from tests.common.ldap import slapd

PEOPLE = {
    "ann": ("ann-password", ["labelers"]),
    "olga": ("olga-password", ["labelhive-owners"]),
    "adam": ("adam-password", ["labelhive-admins"]),
    "sam": ("sam-password", ["sales"]),
}
GROUPS = ["labelhive-admins", "labelhive-owners", "labelers", "sales"]
# by cn, and by DN (a DN holds commas: entries are separated by ';')
BY_CN = "labelhive-admins=admin; labelhive-owners=creator; labelers=annotator"
BY_DN = ";".join(
    f"cn={cn},ou=groups,{SUFFIX}={role}"
    for cn, role in [
        ("labelhive-admins", "admin"),
        ("labelhive-owners", "creator"),
        ("labelers", "annotator"),
    ]
)


@pytest.fixture(scope="module")
def directory() -> Iterator[Directory]:
    with slapd(PEOPLE, GROUPS) as running:
        yield running


@contextlib.contextmanager
def reading(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.commit()
        db.session.remove()


@pytest.fixture(params=["starttls", "ldaps"])
def ldap_app(request, any_url: str, directory: Directory) -> Iterator[Flask]:  # noqa: ANN001
    starttls = request.param == "starttls"
    url = directory.ldap_url if starttls else directory.ldaps_url
    app = _app(any_url, directory.config(url, LDAP_GROUP_ROLES=BY_CN if starttls else BY_DN))
    yield app
    with app.app_context():
        db.engine.dispose()


def _app(url: str, config: dict[str, str]) -> Flask:
    from tests.conftest import make_app

    return make_app(url, WTF_CSRF_ENABLED=False, API_KEY_CACHE_SECONDS=0, **config)


def sign_in(client: FlaskClient, login: str, password: str):  # noqa: ANN201
    return client.post("/account/signin/ldap", data={"login": login, "password": password})


def refused(response, status: int) -> str:  # noqa: ANN001
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert 'class="flash flash-error" id="refused-message">' in page
    return html.unescape(page.split('id="refused-message">', 1)[1].split("</p>", 1)[0])


def move(
    directory: Directory, uid: str, add: str | None, remove: str | None, check: bool = True
) -> None:
    """Change someone's groups in the directory, as its administrator."""
    server = Server(
        "127.0.0.1",
        port=int(directory.ldap_url.rsplit(":", 1)[1]),
        tls=Tls(ca_certs_file=directory.ca_file),
    )
    conn = Connection(server, ADMIN_DN, ADMIN_PASSWORD)
    conn.open()
    conn.start_tls()
    assert conn.bind()
    member = f"uid={uid},ou=people,{SUFFIX}"
    if add:
        done = conn.modify(f"cn={add},ou=groups,{SUFFIX}", {"member": [(MODIFY_ADD, [member])]})
        assert done or not check
    if remove:
        assert conn.modify(
            f"cn={remove},ou=groups,{SUFFIX}", {"member": [(MODIFY_DELETE, [member])]}
        )
    conn.unbind()


def test_search_then_bind_creates_the_account_from_the_directory(ldap_app):
    client = ldap_app.test_client()
    assert client.get("/account/signin").get_data(as_text=True).count('id="signin-ldap"') == 1
    response = sign_in(client, "olga", "olga-password")
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    assert client.get("/account/").status_code == 200
    with reading(ldap_app):
        user = accounts.by_name("olga")
        assert (user.email_addr, user.fullname) == ("olga@example.org", "Olga Example")
        assert (user.admin, user.can_create_projects, user.password_hash) == (False, True, None)
        identity = db.session.scalar(select(UserIdentity))
        # the entry's entryUUID, which survives a rename, not its DN
        assert identity.user_id == user.id and len(identity.subject) == 36
    sign_in(ldap_app.test_client(), "olga", "olga-password")
    with reading(ldap_app):
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("login", "password"),
    [("ann", "wrong-password"), ("nobody", "ann-password"), ("*", "ann-password"), ("ann", "")],
)
def test_wrong_credentials_get_one_answer(ldap_app, login, password):
    response = sign_in(ldap_app.test_client(), login, password)
    # one answer whoever the login names (an escaped "*" matches nobody); no password: 400
    assert response.status_code == (401 if password else 400)
    if password:
        assert "Wrong user name or password." in response.get_data(as_text=True)
    with reading(ldap_app):
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_someone_outside_the_allowed_groups_is_refused(ldap_app):
    assert "not in a group that may use LabelHive" in refused(
        sign_in(ldap_app.test_client(), "sam", "sam-password"), 403
    )


def test_the_ca_may_be_given_as_pem_text(sqlite_url, directory):
    pem = Path(directory.ca_file).read_text()
    config = directory.config(directory.ldaps_url, LDAP_CA_FILE="", LDAP_CA_CERT=pem)
    app = _app(sqlite_url, {**config, "LDAP_GROUP_ROLES": BY_CN})
    assert sign_in(app.test_client(), "ann", "ann-password").status_code == 302
    with app.app_context():
        db.engine.dispose()


def test_a_certificate_from_an_unknown_ca_is_refused(any_url, directory):
    app = _app(
        any_url, directory.config(directory.ldaps_url, LDAP_CA_FILE="", LDAP_GROUP_ROLES=BY_CN)
    )
    message = refused(sign_in(app.test_client(), "ann", "ann-password"), 502)
    assert "cannot be reached" in message
    with app.app_context():
        db.engine.dispose()


def test_leaving_a_group_takes_the_role_away_at_the_next_sign_in(any_url, directory):
    app = _app(any_url, directory.config(directory.ldap_url, LDAP_GROUP_ROLES=BY_CN))
    laptop, phone = app.test_client(), app.test_client()
    try:
        assert sign_in(laptop, "adam", "adam-password").status_code == 302
        assert sign_in(phone, "adam", "adam-password").status_code == 302
        assert phone.get("/admin/users").status_code == 200
        move(directory, "adam", add="labelers", remove="labelhive-admins")
        assert laptop.post("/account/signout").status_code == 302
        assert sign_in(laptop, "adam", "adam-password").status_code == 302
        with reading(app):
            adam = accounts.by_name("adam")
            assert (adam.admin, adam.can_create_projects) == (False, False)
        assert phone.get("/admin/users").status_code == 302  # that session ended
        move(directory, "adam", add=None, remove="labelers")
        assert laptop.post("/account/signout").status_code == 302
        refused(sign_in(laptop, "adam", "adam-password"), 403)
        with reading(app):
            assert accounts.by_name("adam").enabled is False
    finally:
        move(directory, "adam", add="labelhive-admins", remove=None, check=False)
        with app.app_context():
            db.engine.dispose()


def test_no_password_is_logged(ldap_app, caplog):
    caplog.set_level(logging.DEBUG)
    assert sign_in(ldap_app.test_client(), "ann", "ann-password").status_code == 302
    assert sign_in(ldap_app.test_client(), "ann", "wrong-password").status_code == 401
    for secret in ("ann-password", "wrong-password", READER_PASSWORD):
        assert secret not in caplog.text


def test_the_recheck_disables_a_leaver_without_waiting_for_a_sign_in(any_url, directory):
    config = directory.config(directory.ldap_url, LDAP_GROUP_ROLES=BY_CN)
    app = _app(any_url, config)
    olga, ann = app.test_client(), app.test_client()
    try:
        assert sign_in(olga, "olga", "olga-password").status_code == 302
        assert sign_in(ann, "ann", "ann-password").status_code == 302
        with reading(app):
            key = accounts.by_name("olga").set_api_key(new_api_key())
        move(directory, "olga", add=None, remove="labelhive-owners")
        env = {"DATABASE_URL": any_url, "SECRET_KEY": "test-secret-key", **config}
        result = CliRunner().invoke(cli.main, ["users", "ldap-recheck"], env=env)
        assert result.exit_code == 0, result.output
        assert "checked 2, disabled 1, roles removed 0" in result.output
        with reading(app):
            assert accounts.by_name("olga").enabled is False
            assert accounts.by_name("ann").enabled is True
            assert accounts.api_key_owner(key) is None
        assert olga.get("/account/").status_code == 302  # her session is over
        assert ann.get("/account/").status_code == 200
    finally:
        move(directory, "olga", add="labelhive-owners", remove=None, check=False)
        with app.app_context():
            db.engine.dispose()


def test_the_recheck_says_when_ldap_is_not_configured(sqlite_url):
    result = CliRunner().invoke(
        cli.main, ["users", "ldap-recheck"], env={"DATABASE_URL": sqlite_url, "LDAP_URL": ""}
    )
    assert result.exit_code == 1
    assert "LDAP sign-in is not configured" in result.output
