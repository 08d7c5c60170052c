"""Answers read from the database as arrays: the same answers ``label_of`` sees, on both
databases, in chunks (PostgreSQL's binary COPY split mid-row), and a recomputation on them."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.consensus import answer_arrays
from labelhive.consensus import consensus
from labelhive.consensus.labels import label_of
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.results import services
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app

# every shape an answer's info takes: only strings, and objects' string answer or label, count
INFOS = [
    "cat",
    {"answer": "dog"},
    {"label": "bird"},
    {"answer": 5},
    {"answer": None, "label": "ignored: answer wins"},
    {"x": 1},
    3,
    ["cat"],
    {"answer": 'o\'neil "quoted"'},
    {"answer": "café ☕"},
    {"label": ["not", "a", "string"]},
    # labels are inlined as SQL literals by the dialect: shapes that would break out of one
    "x' OR '1'='1",
    {"answer": "back\\slash\\' ); DROP TABLE answer; --"},
    {"answer": "$$ dollar $$ E'\\x41'"},
]


def _fill(seed: int = 4) -> tuple[int, list[tuple[int, int, str]]]:
    rng = random.Random(seed)
    owner = make_user("owner")
    users = [make_user(f"u{i}") for i in range(7)]
    project = make_project(owner, n_tasks=40, n_answers=5)
    other = make_project(owner, short_name="other", n_tasks=3)
    tasks = db.session.scalars(select(Task.id).where(Task.project_id == project.id)).all()
    for task_id in tasks:
        for user in rng.sample(users, rng.randint(0, 5)):
            info = rng.choice(INFOS + ["cat", "dog", {"answer": "bird"}] * 3)
            db.session.add(
                Answer(project_id=project.id, task_id=task_id, user_id=user.id, info=info)
            )
    # another project's answers stay out
    for task_id in db.session.scalars(select(Task.id).where(Task.project_id == other.id)):
        db.session.add(Answer(project_id=other.id, task_id=task_id, user_id=owner.id, info="x"))
    db.session.commit()
    rows = [
        (a.task_id, a.user_id, label_of(a.info))
        for a in db.session.scalars(select(Answer).where(Answer.project_id == project.id))
    ]
    return project.id, [r for r in rows if r[2] is not None]


def _decoded(arrays: consensus.AnswerArrays) -> set[tuple[int, int, str]]:
    return {
        (int(arrays.task_ids[t]), int(arrays.worker_ids[w]), arrays.labels[c])
        for t, w, c in zip(arrays.task, arrays.worker, arrays.label, strict=True)
    }


def test_read_gives_label_of_answers_in_chunks(any_url: str, monkeypatch) -> None:  # noqa: ANN001
    # tiny chunks: many numpy chunks, and COPY's blocks cut inside rows
    monkeypatch.setattr(answer_arrays, "CHUNK_ROWS", 3)
    app = make_app(any_url)
    with app.app_context():
        project_id, rows = _fill()
        ceiling = db.session.scalar(select(db.func.max(Answer.id)))
        arrays = answer_arrays.read(db.engine, project_id, ceiling)
        assert _decoded(arrays) == set(rows) and len(arrays) == len(rows)
        assert 'o\'neil "quoted"' in arrays.labels and "café ☕" in arrays.labels
        assert (arrays.task.dtype, arrays.worker.dtype, arrays.label.dtype) == (
            np.int32,
            np.int32,
            np.int16,
        )
        # every task of the project, answered or not; workers in id order
        assert len(arrays.task_ids) == 40
        assert list(arrays.worker_ids) == sorted(arrays.worker_ids)
        # the ceiling: answers after it are left for the next run
        below = answer_arrays.read(db.engine, project_id, ceiling - 10)
        assert len(below) < len(arrays)
        assert _decoded(below) <= _decoded(arrays)
        # nothing to read
        empty = answer_arrays.read(db.engine, project_id, 0)
        assert len(empty) == 0 and len(empty.task_ids) == 40
        db.session.remove()
        db.engine.dispose()


def test_recompute_stores_what_aggregate_computes_on_the_rows(any_url: str) -> None:
    app = make_app(any_url)
    with app.app_context():
        project_id, rows = _fill(seed=9)
        summary = services.recompute(project_id)
        db.session.commit()  # the session's read began before the recomputation wrote
        task_ids = db.session.scalars(select(Task.id).where(Task.project_id == project_id)).all()
        expected = consensus.aggregate(rows, options=["cat", "dog", "bird"], item_ids=task_ids)
        stored = {
            c.task_id: c for c in db.session.scalars(select(Consensus).order_by(Consensus.task_id))
        }
        assert summary.n_answers == len(rows) and summary.n_items == len(task_ids)
        for item in expected.items:
            got = stored[item.task_id]
            assert (got.label, got.mv_label, got.votes) == (item.label, item.mv_label, item.votes)
            assert got.confidence == pytest.approx(item.confidence, abs=1e-12)
        db.session.remove()
        db.engine.dispose()
