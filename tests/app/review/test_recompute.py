"""Consensus recomputation marks ties and items needing review, and never overwrites a
reviewer's label (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.results import services as consensus
from labelhive.review import recompute as review_recompute
from labelhive.review import services as review
from tests.app.review import world as worlds
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def stored(task_id: int) -> Consensus:
    db.session.rollback()
    # the row is deleted and written again under the same id: read it afresh
    query = select(Consensus).where(Consensus.task_id == task_id)
    return db.session.scalar(query.execution_options(populate_existing=True))


@pytest.mark.parametrize("chunk", [1, 3, 5_000])
def test_ties_low_confidence_and_missed_gold_need_review(db_app, monkeypatch, chunk):
    # completeness is read a chunk of items at a time: any chunk size gives the same states
    monkeypatch.setattr(review_recompute, "CHUNK", chunk)
    world = worlds.build()
    tie, sure, gold, open_ = (stored(world.items[n]) for n in ("tie", "sure", "gold", "open"))
    # the tie keeps the label majority vote picked, and is marked, never silently resolved
    assert tie.tie is True and tie.review_state == "needs_review"
    assert tie.label in ("cat", "dog") and tie.confidence == 0.5
    assert (sure.tie, sure.review_state) == (False, "none")
    assert (gold.label, gold.method, gold.review_state) == ("bird", "gold", "needs_review")
    # still collecting answers: not for review yet, even at one answer
    assert open_.review_state == "none"
    queue = review.queue_page(world.project, 0, 10)
    assert [row.task_id for row in queue] == sorted([world.items["tie"], world.items["gold"]])


def test_the_project_threshold_flags_low_confidence(db_app):
    world = worlds.build()
    project = db.session.get(Project, world.project)
    project.review_threshold = 0.0
    db.session.commit()
    worlds.answer(world, "open", world.annotators[1], "cat")  # a second tie, now complete
    consensus.recompute(world.project)
    assert (
        stored(world.items["open"]).review_state == "needs_review"
    )  # a tie, whatever the threshold
    project = db.session.get(Project, world.project)
    project.review_threshold = 1.0
    db.session.commit()
    consensus.recompute(world.project)
    # unanimous, but majority vote's confidence 1 is not below 1
    assert stored(world.items["sure"]).review_state == "none"


def test_recomputing_never_overwrites_a_reviewed_label(db_app):
    world = worlds.build()
    project = db.session.get(Project, world.project)
    review.decide(db.engine, project, world.items["tie"], "bird", world.reviewer.id)
    row = stored(world.items["tie"])
    assert (row.label, row.method, row.confidence) == ("bird", "reviewed", 1.0)
    assert (row.review_state, row.reviewed_by) == ("reviewed", world.reviewer.id)
    decided_at = row.reviewed_at
    assert decided_at is not None
    # more answers arrive and consensus is recomputed twice: the decision stays
    worlds.answer(world, "open", world.annotators[1], "dog")
    consensus.recompute(world.project)
    consensus.recompute(world.project)
    row = stored(world.items["tie"])
    assert (row.label, row.method, row.review_state) == ("bird", "reviewed", "reviewed")
    assert (row.reviewed_by, row.reviewed_at) == (world.reviewer.id, decided_at)
    assert row.votes == {"cat": 1, "dog": 1}  # the evidence is still the answers'
    assert world.items["tie"] not in [r.task_id for r in review.queue_page(world.project, 0, 10)]


def test_a_sent_back_item_gets_one_more_answer_then_is_judged_again(db_app):
    world = worlds.build()
    project = db.session.get(Project, world.project)
    tie = world.items["tie"]
    assert review.send_back(db.engine, project, tie, world.reviewer.id) == 3
    row = stored(tie)
    assert row.review_state == "sent_back"
    from labelhive.tasks.models import Task

    task = db.session.get(Task, tie)
    assert (task.n_answers, task.state) == (3, "ongoing")
    consensus.recompute(world.project)
    assert stored(tie).review_state == "sent_back"  # still waiting for its answer
    # a second send-back of a task still collecting answers is refused
    with pytest.raises(review.ReviewError, match="still collecting"):
        review.send_back(db.engine, project, tie, world.reviewer.id)
    worlds.answer(world, "tie", world.annotators[2], "dog")
    consensus.recompute(world.project)
    row = stored(tie)
    assert (row.label, row.tie, row.review_state, row.n_answers) == ("dog", False, "none", 3)


def test_gold_items_are_labelled_not_sent_back(db_app):
    world = worlds.build()
    project = db.session.get(Project, world.project)
    with pytest.raises(review.ReviewError, match="gold"):
        review.send_back(db.engine, project, world.items["gold"], world.reviewer.id)
    with pytest.raises(ValueError, match="one of the project's options"):
        review.decide(db.engine, project, world.items["gold"], "fish", world.reviewer.id)
    with pytest.raises(review.ReviewError) as missing:
        review.decide(db.engine, project, 10_000, "cat", world.reviewer.id)
    assert missing.value.status == 404
