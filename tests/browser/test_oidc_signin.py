"""Signing in through an OpenID provider in headless Chromium.

A real LabelHive (werkzeug, threaded, SQLite file, CSRF on) and the test OpenID provider
(``oidc-provider`` on Node.js, tests/common/oidc.py) run on loopback. The browser clicks "Sign in
with ...", signs in at the provider's own page, and lands back in LabelHive signed in, with the
account made from the provider's claims; someone outside the allowed groups lands on the styled
refusal page instead. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from werkzeug.serving import make_server

from labelhive.accounts import services as accounts
from labelhive.extensions import db
from tests.browser.test_labeling_page import ARTIFACTS
from tests.browser.test_labeling_page import page  # noqa: F401 (the Chromium fixture)
from tests.browser.test_labeling_page import serve
from tests.common.oidc import OpenIDProvider
from tests.common.oidc import openid_provider
from tests.common.processes import free_port
from tests.conftest import make_app

PEOPLE = {
    "olga": {
        "email": "olga@example.org",
        "email_verified": True,
        "name": "Olga Owner",
        "preferred_username": "olga",
        "groups": ["lh-owners"],
    },
    "sam": {
        "email": "sam@example.org",
        "email_verified": True,
        "name": "Sam Sales",
        "preferred_username": "sam",
        "groups": ["sales"],
    },
}


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[str, object, OpenIDProvider]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with openid_provider([f"{base}/account/signin/oidc/callback"], PEOPLE) as provider:
        app = make_app(
            sqlite_url,
            OIDC_ISSUER=provider.issuer,
            OIDC_CLIENT_ID=provider.client_id,
            OIDC_CLIENT_SECRET=provider.client_secret,
            OIDC_SCOPES="openid email profile groups",
            OIDC_GROUP_ROLES="lh-admins=admin; lh-owners=creator",
            OIDC_PROVIDER_NAME="Example SSO",
        )
        for served in serve(make_server("127.0.0.1", port, app, threaded=True)):
            assert served == base
            yield base, app, provider
        with app.app_context():
            db.engine.dispose()


def sign_in_at_provider(tab: Page, base: str, login: str) -> None:
    tab.goto(f"{base}/account/signin")
    tab.click("#signin-oidc")
    tab.wait_for_selector('input[name="login"]')
    assert tab.url.startswith("http://127.0.0.1:") and not tab.url.startswith(base)
    tab.fill('input[name="login"]', login)
    tab.click('button[type="submit"]')


def test_sign_in_through_the_provider(site, page):  # noqa: F811 (the fixture)
    base, app, _provider = site
    sign_in_at_provider(page, base, "olga")
    page.wait_for_url(f"{base}/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-signed-in.png"))
    assert page.locator('a[href="/account/"]').inner_text() == "olga"
    with app.app_context():
        user = accounts.by_name("olga")
        assert (user.email_addr, user.fullname, user.admin) == (
            "olga@example.org",
            "Olga Owner",
            False,
        )
        assert user.can_create_projects is True
        db.session.remove()
    # the signed-in session works for pages that need it
    page.goto(f"{base}/account/")
    assert page.url == f"{base}/account/"


def test_someone_outside_the_groups_sees_the_refusal_page(site, page):  # noqa: F811
    base, app, _provider = site
    responses = []
    page.on("response", lambda r: responses.append(r) if "/oidc/callback" in r.url else None)
    sign_in_at_provider(page, base, "sam")
    page.wait_for_selector("#refused-message")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-refused.png"))
    assert "not in a group that may use LabelHive" in page.inner_text("#refused-message")
    assert [r.status for r in responses] == [403]
    with app.app_context():
        assert accounts.by_name("sam") is None
        db.session.remove()
