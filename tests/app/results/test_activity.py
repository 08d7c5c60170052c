"""Progress at a glance: answers per hour, the time left, items needing review (the results and
progress pages, the home cards), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy import update

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.results import activity
from labelhive.results import charts
from tests.app.review import world as worlds
from tests.conftest import make_app

NOW = dt.datetime(2026, 3, 4, 10, 30)


def test_hours_are_filled_and_the_time_left_follows_the_last_day():
    first = activity.hour_of(dt.datetime(2026, 3, 4, 8, 59))
    assert activity.hour_of(dt.datetime(2026, 3, 4, 8, 0)) == first
    assert activity.fill({first: 3, first + 2: 1}, first, first + 3) == [3, 0, 1, 0]
    assert activity.estimate(0, 0) == 0.0
    assert activity.estimate(10, 0) is None
    assert activity.estimate(10, 48) == 5.0  # 2 answers an hour


def test_the_tallest_hour_fills_the_chart_and_midnights_are_marked():
    start = dt.datetime(2026, 3, 3, 22, 0)
    columns, ticks = charts.hourly([1, 4, 0, 2], start)
    assert [c.count for c in columns] == [1, 4, 0, 2]
    assert columns[1].height == charts.HOURS_HEIGHT and columns[1].y == 0
    assert columns[2].height == 0
    assert columns[0].height == charts.HOURS_HEIGHT / 4
    assert [c.x for c in columns] == sorted(c.x for c in columns)
    assert [t.text for t in ticks] == ["Mar 04"] and ticks[0].x == columns[2].x
    # no midnight in the window: the start is marked instead
    assert [t.text for t in charts.hourly([1], start)[1]] == ["Mar 03 22:00"]
    assert charts.hourly([], None) == ([], [])


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def world(db_app: Flask) -> worlds.World:
    """The review world (7 answers; the tie and the missed gold need review), its answers
    moved to known hours: 3 at 08:xx, 1 at 09:xx, 3 at 10:xx on NOW's day."""
    with db_app.app_context():
        built = worlds.build()
        ids = db.session.scalars(
            db.select(Answer.id).where(Answer.project_id == built.project).order_by(Answer.id)
        ).all()
        minutes = [
            8 * 60 + 1,
            8 * 60 + 30,
            8 * 60 + 59,
            9 * 60 + 10,
            10 * 60,
            10 * 60 + 5,
            10 * 60 + 29,
        ]
        for answer_id, minute in zip(ids, minutes, strict=True):
            at = NOW.replace(hour=0, minute=0) + dt.timedelta(minutes=minute)
            db.session.execute(update(Answer).where(Answer.id == answer_id).values(finish_time=at))
        db.session.commit()
        db.session.remove()
    return built


def test_answers_per_hour_come_from_the_project_s_own_answers(db_app, world):
    with db_app.app_context():
        found = activity.of(world.project, 14, now=NOW)
        assert found.start == dt.datetime(2026, 3, 4, 8, 0)
        assert found.per_hour == [3, 1, 3] and found.total == 7
        assert found.last_day == 7
        assert found.hours_left == pytest.approx(14 / (7 / 24))
        # 23 hours later the window still ends now (quiet hours are zeros), and the last day
        # holds only the 10:xx answers
        later = activity.of(world.project, 14, now=NOW + dt.timedelta(hours=23))
        assert later.per_hour[:3] == [3, 1, 3] and set(later.per_hour[3:]) == {0}
        assert len(later.per_hour) == 3 + 23 and later.last_day == 3
        # a week later, the chart shows the last active hours instead of an empty window
        quiet = activity.of(world.project, 14, now=NOW + dt.timedelta(days=7))
        assert quiet.per_hour == [3, 1, 3] and quiet.last_day == 0 and quiet.hours_left is None
        assert activity.of(world.project + 1000, 5, now=NOW).per_hour == []


def signed_in(app: Flask, user_id: int) -> FlaskClient:
    client = app.test_client()
    with app.app_context():
        session_id = db.session.get(User, user_id).get_id()
        db.session.remove()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def test_the_pages_and_the_home_cards_show_the_pace_and_the_items_needing_review(db_app, world):
    owner = signed_in(db_app, world.owner.id)
    for url in ("/project/pets/results", "/project/pets/progress"):
        html = owner.get(url).get_data(as_text=True)
        assert 'id="answers-per-hour"' in html, url
        assert "2 items need review" in html and 'href="/project/pets/review"' in html
        # one column per hour, titled with its count: 08:00, 09:00, 10:00 on the answers' day
        assert "2026-03-04 08:00 UTC: 3 answers" in html
        assert "2026-03-04 09:00 UTC: 1 answer<" in html
    cards = owner.get("/").get_data(as_text=True)
    card = cards[cards.index('data-project="pets"') :]
    assert "2 items need review" in card[: card.index("</li>")]
    # an annotator's card of the same project says nothing of the review queue
    annotator = signed_in(db_app, world.annotators[0])
    assert "need review" not in annotator.get("/").get_data(as_text=True)
    assert annotator.get("/project/pets/progress").status_code == 403


def test_the_pace_queries_read_the_project_s_answers_through_its_index(pg_app):
    """On PostgreSQL, every query of :func:`activity.of` can be served by the answer table's
    ``(project_id, finish_time)`` index (sequential scans off: the plan names the index)."""
    built = worlds.build()
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "FROM answer" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        activity.of(built.project, 5, now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert len(statements) == 3  # the newest, the oldest, the grouped count
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        for statement, parameters in statements:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "ix_answer_project_id_finish_time" in plan, plan
    finally:
        raw.close()
