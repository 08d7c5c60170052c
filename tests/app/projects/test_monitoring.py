"""The per-project gauges of ``/metrics`` (what the operator's alerts read), on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy import update

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def web(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _gauges(app: Flask) -> dict[tuple[str, str], float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        (s.name, s.labels.get("project", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("labelhive_project_", "labelhive_consensus_"))
    }


def test_published_projects_report_open_tasks_and_their_last_answer(web: Flask) -> None:
    alice = make_user("alice")
    pets = make_project(alice, n_tasks=3)
    make_project(alice, short_name="draft", n_tasks=2, published=False)
    long_ago = dt.datetime(2020, 1, 1)
    db.session.execute(update(Project).values(updated=long_ago))
    task = db.session.scalars(select(Task).where(Task.project_id == pets.id)).first()
    answered = dt.datetime(2021, 6, 1, 12, 0)
    db.session.add(
        Answer(
            project_id=pets.id, task_id=task.id, user_id=alice.id, info="cat", finish_time=answered
        )
    )
    db.session.commit()
    got = _gauges(web)
    assert got[("labelhive_project_open_tasks", "pets")] == 3
    assert got[("labelhive_project_last_answer_timestamp_seconds", "pets")] == (
        answered.replace(tzinfo=dt.UTC).timestamp()
    )
    # drafts are nobody's concern yet; no consensus was computed
    assert {p for _, p in got} == {"pets"}
    assert ("labelhive_consensus_computed_timestamp_seconds", "pets") not in got


def test_a_project_without_answers_counts_from_its_last_change(web: Flask) -> None:
    alice = make_user("alice")
    make_project(alice, n_tasks=1)
    published = dt.datetime(2022, 3, 4, 5, 6, 7)
    db.session.execute(update(Project).values(updated=published))
    db.session.commit()
    got = _gauges(web)
    assert got[("labelhive_project_last_answer_timestamp_seconds", "pets")] == (
        published.replace(tzinfo=dt.UTC).timestamp()
    )
