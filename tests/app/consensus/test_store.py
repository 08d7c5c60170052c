"""Storing consensus in batches: whole, identical to the aggregation, all or nothing, reviewers'
decisions kept (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labelhive.consensus import answer_arrays
from labelhive.consensus import consensus
from labelhive.consensus import store
from labelhive.consensus.consensus import ItemTable
from labelhive.consensus.models import AnnotatorQuality
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.results import services
from labelhive.review import services as review
from tests.app.review import world as worlds
from tests.common import crowd as crowds
from tests.conftest import make_app

ITEM_FIELDS = ("task_id", "label", "confidence", "method", "votes", "n_answers", "agreement",
               "mv_label", "posterior")  # fmt: skip


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def aggregated(project_id: int) -> consensus.Aggregation:
    """The project's aggregation, as :func:`services.recompute` computes it."""
    project = db.session.get(Project, project_id)
    db.session.rollback()
    return consensus.aggregate_arrays(
        answer_arrays.read(db.engine, project_id, 2**31 - 1),
        gold=crowd_gold(project_id),
        options=list(project.info["answers"]),
        method=project.consensus_method
        if project.consensus_method in consensus.METHODS
        else consensus.DAWID_SKENE,
        use_gold=project.consensus_use_gold,
    )


def crowd_gold(project_id: int) -> dict[int, str]:
    from labelhive.tasks.models import Task

    rows = db.session.execute(
        select(Task.id, Task.gold_answer).where(
            Task.project_id == project_id, Task.gold_answer.is_not(None)
        )
    )
    return {task_id: answer for task_id, answer in rows}


def snapshot(project_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of the project's consensus, annotator quality and run, ids included."""
    db.session.rollback()
    tables = {"consensus": Consensus, "quality": AnnotatorQuality, "run": ConsensusRun}
    found = {}
    for name, model in tables.items():
        columns = model.__table__.columns
        rows = db.session.execute(
            select(*columns).where(model.project_id == project_id).order_by(model.id)
        ).all()
        found[name] = [tuple(row) for row in rows]
    return found


def test_a_store_of_many_batches_lands_whole_and_identical_to_the_items(db_app, monkeypatch):
    crowd = crowds.fill(n_tasks=40, n_gold=4)
    expected = aggregated(crowd.project_id)
    assert isinstance(expected.items, ItemTable) and len(expected.items) == 44
    # batches of 7: the last one partial; every row is made from the arrays, not from Items
    monkeypatch.setattr(store, "BATCH", 7)
    summary = services.recompute(crowd.project_id)
    assert summary.n_items == 44
    db.session.rollback()
    rows = db.session.scalars(
        select(Consensus)
        .where(Consensus.project_id == crowd.project_id)
        .order_by(Consensus.task_id)
    ).all()
    assert [r.task_id for r in rows] == [item.task_id for item in expected.items]
    for row, item in zip(rows, expected.items, strict=True):
        assert {f: getattr(row, f) for f in ITEM_FIELDS} == {
            f: getattr(item, f) for f in ITEM_FIELDS
        }
        assert row.gold == (item.gold_answer is not None)
    assert any(r.method == "gold" for r in rows) and any(r.posterior for r in rows)
    run = db.session.scalar(select(ConsensusRun).where(ConsensusRun.project_id == crowd.project_id))
    assert (run.n_items, run.n_answers) == (44, expected.n_answers)
    quality = db.session.scalars(
        select(AnnotatorQuality.user_id).where(AnnotatorQuality.project_id == crowd.project_id)
    ).all()
    assert sorted(quality) == sorted(a.worker for a in expected.annotators)
    # one batch or many: the same rows
    batched = snapshot(crowd.project_id)["consensus"]
    monkeypatch.setattr(store, "BATCH", 10_000)
    services.recompute(crowd.project_id)
    whole = snapshot(crowd.project_id)["consensus"]
    columns = [c.name for c in Consensus.__table__.columns]
    varying = {columns.index("id"), columns.index("computed_at")}

    def same(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(v for i, v in enumerate(r) if i not in varying) for r in rows]

    assert same(batched) == same(whole)


def test_a_failure_in_the_second_batch_leaves_the_previous_results(db_app):
    crowd = crowds.fill(n_tasks=20, n_gold=2)
    services.recompute(crowd.project_id)
    before = snapshot(crowd.project_id)
    assert len(before["consensus"]) == 22 and before["run"]
    result = aggregated(crowd.project_id)
    items = list(result.items)
    # the second batch repeats the first item's task: the unique task_id constraint fails
    items[6] = dataclasses.replace(items[6], task_id=items[0].task_id)
    broken = dataclasses.replace(result, items=items)
    with pytest.raises(IntegrityError):
        store.store(db.engine, crowd.project_id, broken, 10**9, time.perf_counter(),
                    summary=services.summary_of(broken), batch=5)  # fmt: skip
    assert snapshot(crowd.project_id) == before


def test_items_of_deleted_tasks_are_left_out_batch_by_batch(db_app):
    from labelhive.tasks.models import Task

    crowd = crowds.fill(n_tasks=12, n_gold=0)
    result = aggregated(crowd.project_id)
    gone = [result.items[1].task_id, result.items[9].task_id]
    for task_id in gone:
        db.session.delete(db.session.get(Task, task_id))
    db.session.commit()
    stored = store.store(db.engine, crowd.project_id, result, 10**9, time.perf_counter(),
                         summary=services.summary_of(result), batch=4)  # fmt: skip
    assert stored == 10
    kept = snapshot(crowd.project_id)
    columns = [c.name for c in Consensus.__table__.columns]
    task_ids = [row[columns.index("task_id")] for row in kept["consensus"]]
    assert sorted(task_ids) == sorted(set(result.items.task_ids.tolist()) - set(gone))
    assert kept["run"][0][[c.name for c in ConsensusRun.__table__.columns].index("n_items")] == 10


def test_a_reviewed_label_in_a_later_batch_survives_the_recompute(db_app, monkeypatch):
    # the old rows are deleted before the first batch is written: the reviewers' decisions
    # must have been read before, for every batch
    world = worlds.build()
    project = db.session.get(Project, world.project)
    tie = world.items["tie"]
    review.decide(db.engine, project, tie, "bird", world.reviewer.id)
    monkeypatch.setattr(store, "BATCH", 1)
    services.recompute(world.project)
    worlds.answer(world, "open", world.annotators[1], "dog")
    services.recompute(world.project)
    db.session.rollback()
    rows = db.session.scalars(
        select(Consensus)
        .where(Consensus.project_id == world.project)
        .execution_options(populate_existing=True)
    ).all()
    assert len(rows) == len(world.items)
    row = next(r for r in rows if r.task_id == tie)
    assert (row.label, row.method, row.review_state) == ("bird", "reviewed", "reviewed")
    assert row.reviewed_by == world.reviewer.id and row.votes == {"cat": 1, "dog": 1}
