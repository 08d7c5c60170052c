"""A database that cannot be reached is a 503 (with ``Retry-After``), never a 500: in the web UI,
for JSON clients, and in the REST API's envelope; the app recovers by itself when it is back.

The database here is a SQLite file whose folder is moved away (the next connection fails with
``OperationalError: unable to open database file``); the PostgreSQL crash under load is in
``tests/reliability/test_faults.py``.
"""

from __future__ import annotations

from labelhive import outage
from labelhive.accounts.services import create_user
from labelhive.extensions import db
from tests.conftest import make_app

PASSWORD = "a-long-enough-password"


def test_database_outage_is_503_and_recovers(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    app = make_app(f"sqlite:///{folder / 'labelhive.db'}", WTF_CSRF_ENABLED=False)
    with app.app_context():
        key = create_user("olivia", password=PASSWORD).api_key
        db.session.commit()
        client = app.test_client()
        signin = client.post("/account/signin", data={"login": "olivia", "password": PASSWORD})
        assert signin.status_code == 302
        assert client.get("/").status_code == 200
        db.session.remove()
        db.engine.dispose()
        folder.rename(tmp_path / "away")

        page = client.get("/")
        assert page.status_code == 503
        assert "Temporarily unavailable" in page.get_data(as_text=True)
        # Flask-Limiter raises Retry-After to its own window's reset when that is later
        assert int(page.headers["Retry-After"]) >= outage.RETRY_AFTER_SECONDS
        as_json = client.get("/", headers={"Accept": "application/json"})
        assert as_json.status_code == 503
        assert as_json.get_json() == {"error": outage.MESSAGE}
        api = client.get("/api/project", query_string={"api_key": key})
        assert api.status_code == 503
        assert int(api.headers["Retry-After"]) >= outage.RETRY_AFTER_SECONDS
        body = api.get_json()
        assert body["exception_cls"] == "ServiceUnavailable"
        assert body["exception_msg"] == outage.MESSAGE
        assert body["status_code"] == 503 and body["target"] == "project"

        (tmp_path / "away").rename(folder)
        assert client.get("/").status_code == 200
        assert client.get("/api/project", query_string={"api_key": key}).status_code == 200
        db.session.remove()
        db.engine.dispose()
