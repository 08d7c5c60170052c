"""An API world: a migrated app, four users with API keys, and a client that speaks JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from labelhive.accounts.models import User
from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.conftest import make_app

PASSWORD = "correct horse battery"


@dataclasses.dataclass(frozen=True)
class Caller:
    id: int
    name: str
    key: str


class Api:
    """The Flask test client with callers: ``admin`` (the first user), two project owners
    (``owner``, ``other``) and a plain ``contributor``. No app context is held between
    requests, so each request gets a fresh session, as in production."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        with app.app_context():
            users = [
                # no passwords: hashing one takes a tenth of a second (see set_password)
                create_user(name, email=f"{name}@example.org")
                for name in ("admin", "owner", "other", "contributor")
            ]
            db.session.commit()
            callers = [Caller(u.id, u.name, u.api_key) for u in users]
        self.admin, self.owner, self.other, self.contributor = callers

    def call(
        self, method: str, path: str, who: Caller | None = None, body: Any = None, **kw: Any
    ) -> TestResponse:
        """One request; ``who`` authenticates by ``api_key`` parameter, ``body`` is sent as
        JSON (``raw=`` sends bytes instead), other keywords become query arguments."""
        headers = kw.pop("headers", {})
        raw = kw.pop("raw", None)
        params = dict(kw)
        if who is not None:
            params["api_key"] = who.key
        data = raw
        if body is not None:
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        return self.client.open(
            path, method=method, query_string=params, data=data, headers=headers
        )

    def set_password(self, who: Caller) -> None:
        with self.app.app_context():
            user = db.session.get(User, who.id)
            user.set_password(PASSWORD)
            db.session.commit()

    def get(self, path: str, who: Caller | None = None, **kw: Any) -> TestResponse:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: Caller | None, body: Any = None, **kw: Any) -> TestResponse:
        return self.call("POST", path, who, body, **kw)

    def put(self, path: str, who: Caller | None, body: Any = None, **kw: Any) -> TestResponse:
        return self.call("PUT", path, who, body, **kw)

    def delete(self, path: str, who: Caller | None = None, **kw: Any) -> TestResponse:
        return self.call("DELETE", path, who, **kw)

    def ok(self, response: TestResponse, status: int = 200) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json() if response.data else None

    def project(self, who: Caller, short_name: str, **values: Any) -> dict[str, Any]:
        """Create a project through the API (published, answers cat/dog unless told)."""
        body = {
            "name": short_name.title(),
            "short_name": short_name,
            "description": f"About {short_name}",
            "info": {"question": "Which animal?", "answers": ["cat", "dog"]},
            "published": True,
            **values,
        }
        return self.ok(self.post("/api/project", who, body))

    def task(self, who: Caller, project_id: int, **values: Any) -> dict[str, Any]:
        body = {"project_id": project_id, "info": {"url": "x.png"}, "n_answers": 2, **values}
        return self.ok(self.post("/api/task", who, body))

    def bulk_tasks(self, project_id: int, count: int, n_answers: int = 1) -> None:
        """Insert tasks directly (the API is tested elsewhere; this is setup)."""
        with self.app.app_context():
            db.session.add_all(
                Task(project_id=project_id, info={"i": i}, n_answers=n_answers)
                for i in range(count)
            )
            db.session.commit()


def envelope(response: TestResponse, status: int, cls: str, target: str) -> dict[str, Any]:
    """Assert the PYBOSSA error envelope; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "failed"
    assert body["status_code"] == status
    assert body["exception_cls"] == cls
    assert body["target"] == target
    assert body["action"] == response.request.method
    assert isinstance(body["exception_msg"], str) and body["exception_msg"]
    return body


def _api(url: str) -> Iterator[Api]:
    app = make_app(url)
    yield Api(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    """On embedded SQLite (most tests: the API logic is the same on both databases)."""
    yield from _api(sqlite_url)


@pytest.fixture
def any_api(any_url: str) -> Iterator[Api]:
    """On SQLite and on PostgreSQL, where the database matters."""
    yield from _api(any_url)
