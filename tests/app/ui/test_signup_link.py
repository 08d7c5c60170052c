"""The pages link to the sign-up form only where someone could sign up: not under the
"identity provider only" or the "closed" sign-up policy, except while no account exists (the
first one can always be made). On SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from labelhive.extensions import db
from labelhive.settings import services as settings
from tests.common.web import make_user
from tests.conftest import make_app

LINK = 'href="/account/signup"'


def links_to_signup(client, path: str) -> bool:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 200
    return LINK in response.get_data(as_text=True)


@pytest.mark.parametrize("mode", ["identity", "closed"])
def test_no_sign_up_link_where_sign_up_is_refused(any_url: str, mode: str) -> None:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        client = app.test_client()
        settings.set_signup_policy(mode)
        db.session.commit()
        # no account yet: the first one may still be made, so the way there stays
        assert links_to_signup(client, "/account/signin")
        make_user("admin")
        for path in ("/account/signin", "/no/such/page"):
            response = client.get(path)
            assert LINK not in response.get_data(as_text=True), path
        # the form itself still says why (a bookmarked link)
        assert "Sign up" in client.get("/account/signup").get_data(as_text=True)
        settings.set_signup_policy("open")
        db.session.commit()
        assert links_to_signup(client, "/account/signin")
        settings.set_signup_policy("domains", ("example.org",))
        db.session.commit()
        assert links_to_signup(client, "/account/signin")
        db.session.remove()
        db.engine.dispose()
