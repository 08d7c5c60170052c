"""SQL statements per answer: the labeling page's annotation work costs no more than the API's.

Every statement the app sends is counted at the driver: a SQLAlchemy pool ``connect`` event
gives each new psycopg connection a cursor class that counts its executions, so the executor's
driver-level statements (which bypass SQLAlchemy's execute events) are counted too. ``BEGIN``
and ``COMMIT`` are left out: psycopg sends them itself on SQLAlchemy's transactions, outside
any cursor, so counting the explicit ones would favour the path that uses them.

Reads of the request's own (the session's user, the project its URL names, the tasks the user
reported) are counted apart (``request``). The API authenticates by a cached key and names the
project by id; the page resolves its session and project through per-process caches of the same
few seconds (``accounts.services.session_owner``, ``projects.refs``), and the claim itself
leaves out the tasks the user reported. So neither makes such a read per answer, and the page
costs what the API costs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from labelhive.extensions import db
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

ANSWERS = 6
_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


# a request's own reads: the session's user, the project by name, the reported tasks (none is
# made per answer any more: counted, so none can come back)
_REQUEST = re.compile(r"SELECT [^()]*? FROM (users|project|task_report) WHERE ")


@dataclasses.dataclass
class Counter:
    statements: int = 0
    request: int = 0
    on: bool = False


def _counting_cursor(counter: Counter) -> type[psycopg.Cursor[Any]]:
    class CountingCursor(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            text = query.decode() if isinstance(query, bytes) else str(query)
            if counter.on and text.strip().upper() not in _CONTROL:
                counter.statements += 1
                counter.request += bool(_REQUEST.match(" ".join(text.split())))
            return super().execute(query, *args, **kwargs)

    return CountingCursor


@pytest.fixture
def counted(pg_url: str) -> Iterator[tuple[Flask, Counter]]:
    app = make_app(pg_url, WTF_CSRF_ENABLED=False)
    counter = Counter()
    cursor = _counting_cursor(counter)
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _count(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.cursor_factory = cursor

        engine.dispose()  # connections made before the listener count nothing
    yield app, counter
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _world(app: Flask) -> tuple[int, str]:
    """Bob, and two projects of Alice's: ``by-api`` and ``by-page``, one per front-end."""
    with app.app_context():
        alice = make_user("alice")
        bob = make_user("bob")
        api = make_project(alice, short_name="by-api", n_tasks=ANSWERS + 4, n_answers=1)
        make_project(alice, short_name="by-page", n_tasks=ANSWERS + 4, n_answers=1)
        ids = api.id, bob.api_key
        db.session.remove()
        return ids


def _per_answer(counter: Counter, loop: Any) -> tuple[float, float]:
    """``(statements, of which the request's own reads)`` per answer."""
    loop()  # warm-up: first-use reads (caches, prepared plans) are not per answer
    counter.statements, counter.request, counter.on = 0, 0, True
    for _ in range(ANSWERS):
        loop()
    counter.on = False
    return counter.statements / ANSWERS, counter.request / ANSWERS


def api_statements(app: Flask, counter: Counter, project_id: int, key: str) -> tuple[float, float]:
    """``newtask`` then ``POST /api/taskrun``, by API key."""
    client = app.test_client()

    def loop() -> None:
        task = client.get(f"/api/project/{project_id}/newtask", query_string={"api_key": key})
        body = {"project_id": project_id, "task_id": task.get_json()["id"], "info": "cat"}
        posted = client.post("/api/taskrun", json=body, query_string={"api_key": key})
        assert posted.status_code == 200, posted.get_data(as_text=True)

    return _per_answer(counter, loop)


def page_statements(app: Flask, counter: Counter) -> tuple[float, float]:
    """The labeling page's answer endpoint, whose reply carries the next task (signed in)."""
    client: FlaskClient = app.test_client()
    sign_in(client, "bob")
    shown = client.post("/project/by-page/label/state", json={}).get_json()["tasks"]

    def loop() -> None:
        nonlocal shown
        body = {"task_id": shown[0]["id"], "answer": "cat"}
        answered = client.post("/project/by-page/label/answer", json=body)
        assert answered.status_code == 200, answered.get_data(as_text=True)
        shown = answered.get_json()["tasks"]

    return _per_answer(counter, loop)


def test_the_page_costs_no_more_annotation_statements_per_answer_than_the_api(counted):
    app, counter = counted
    project_id, key = _world(app)
    api, api_request = api_statements(app, counter, project_id, key)
    page, page_request = page_statements(app, counter)
    print(
        f"statements per answer: api={api:g} (request {api_request:g})"
        f" page={page:g} (request {page_request:g})"
    )
    assert api > 0 and api_request == 0
    # no ORM user, no project row per answer: 15 statements when the issue was filed, 8 with
    # those two reads
    assert page_request == 0
    assert page <= api
