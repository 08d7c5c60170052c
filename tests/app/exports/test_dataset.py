"""The labeled dataset export and stored consensus, on SQLite and PostgreSQL."""

from __future__ import annotations

import collections
import csv
import io
import json
import random

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.consensus.labels import split_of
from labelhive.consensus.models import AnnotatorQuality
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.exports import dataset
from labelhive.extensions import db
from labelhive.results import services
from labelhive.tasks.models import Task
from tests.common import crowd as crowds
from tests.conftest import make_app


def _stored_votes(project_id: int) -> dict[int, collections.Counter]:
    votes: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for task_id, info in db.session.execute(
        select(Answer.task_id, Answer.info).where(Answer.project_id == project_id)
    ):
        votes[task_id][info] += 1
    return votes


def _jsonl(project_id: int, **kw) -> list[dict]:
    data = b"".join(dataset.stream(db.engine, project_id, "jsonl", **kw))
    return [json.loads(line) for line in data.decode().splitlines()]


def test_recompute_stores_consensus_and_the_export_matches_the_answers(any_url: str) -> None:
    app = make_app(any_url)
    with app.app_context():
        crowd = crowds.fill()
        summary = services.recompute(crowd.project_id)
        n_tasks = len(crowd.truth)
        assert summary.n_items == n_tasks
        assert summary.n_answers == db.session.scalar(select(db.func.count()).select_from(Answer))
        run = services.run_for(crowd.project_id)
        assert run is not None and run.n_items == n_tasks
        assert not services.is_stale(crowd.project_id, run)
        assert sum(run.summary["class_counts"].values()) == n_tasks
        stored = {c.task_id: (c.label, c.gold) for c in db.session.scalars(select(Consensus))}
        for task_id, label in crowd.gold.items():
            assert stored[task_id] == (label, True)
        qualities = {q.user_id: q for q in db.session.scalars(select(AnnotatorQuality))}
        assert set(qualities) == set(crowd.annotators)
        # annotator 0 always answers "dog": its gold accuracy is the share of dog gold items
        always_dog = qualities[crowd.annotators[0]]
        if always_dog.gold_seen:
            assert always_dog.gold_correct == sum(
                1
                for (task_id,) in db.session.execute(
                    select(Answer.task_id).where(Answer.user_id == crowd.annotators[0])
                )
                if crowd.gold.get(task_id) == "dog"
            )

        # recomputing again replaces, never duplicates
        db.session.commit()
        services.recompute(crowd.project_id)
        assert db.session.scalar(select(db.func.count()).select_from(Consensus)) == n_tasks
        assert db.session.scalar(select(db.func.count()).select_from(ConsensusRun)) == 1

        # a new task answered after the recomputation: its row uses its current votes
        db.session.commit()
        fresh = Task(project_id=crowd.project_id, info={"url": "new.jpg"}, n_answers=3)
        db.session.add(fresh)
        db.session.commit()
        crowd.truth[fresh.id] = "bird"
        crowds.answer_all(crowd, random.Random(5), limit=2)
        db.session.expire_all()
        assert services.is_stale(crowd.project_id, services.run_for(crowd.project_id))

        votes = _stored_votes(crowd.project_id)
        rows = _jsonl(crowd.project_id, validation=0.25)
        ids = [row["item_id"] for row in rows]
        all_tasks = list(db.session.scalars(select(Task.id).order_by(Task.id)))
        assert ids == all_tasks  # every item exactly once, in id order
        for row in rows:
            counted = {k: v for k, v in row["votes"].items() if v}
            assert counted == dict(votes.get(row["item_id"], {}))
            assert row["n_answers"] == sum(row["votes"].values())
            assert row["split"] == split_of(row["item_id"], 0.25)
            assert row["gold"] == (row["item_id"] in crowd.gold)
            if row["n_answers"]:
                assert row["label"] in crowds.OPTIONS
                assert 0 < row["confidence"] <= 1
        by_id = {row["item_id"]: row for row in rows}
        assert by_id[fresh.id]["method"] == "majority_vote"
        assert by_id[fresh.id]["image"] == "new.jpg"
        unchanged = next(t for t in stored if t not in crowd.gold)
        assert by_id[unchanged]["label"] == stored[unchanged][0]
        assert by_id[unchanged]["method"] == "dawid_skene"

        # CSV and Parquet carry the same rows
        text = b"".join(dataset.stream(db.engine, crowd.project_id, "csv")).decode("utf-8-sig")
        table = list(csv.DictReader(io.StringIO(text)))
        assert [int(r["item_id"]) for r in table] == ids
        for r in table:
            counted = sum(int(r[f"votes_{o}"]) for o in crowds.OPTIONS)
            assert counted == int(r["n_answers"]) == by_id[int(r["item_id"])]["n_answers"]
            assert r["label"] == (by_id[int(r["item_id"])]["label"] or "")
        parquet = b"".join(dataset.stream(db.engine, crowd.project_id, "parquet", batch_size=7))
        frame = pq.read_table(io.BytesIO(parquet)).to_pylist()
        assert [r["item_id"] for r in frame] == ids
        assert pq.ParquetFile(io.BytesIO(parquet)).num_row_groups == -(-len(ids) // 7)
        for r in frame:
            assert sum(r[f"votes_{o}"] for o in crowds.OPTIONS) == r["n_answers"]
            assert r["label"] == by_id[r["item_id"]]["label"]
            assert r["gold"] == by_id[r["item_id"]]["gold"]
        db.session.remove()
        db.engine.dispose()


def test_empty_project_and_bad_arguments(app) -> None:
    from tests.common.web import make_project
    from tests.common.web import make_user

    project = make_project(make_user("alice"))
    assert _jsonl(project.id) == []
    parquet = b"".join(dataset.stream(db.engine, project.id, "parquet"))
    assert pq.read_table(io.BytesIO(parquet)).num_rows == 0
    summary = services.recompute(project.id)
    assert summary.n_items == 0 and summary.n_answers == 0
    with pytest.raises(ValueError, match="Unknown dataset format"):
        dataset.stream(db.engine, project.id, "xlsx")
    with pytest.raises(ValueError, match="between 0 and 1"):
        dataset.validation_fraction("1.5")
    assert dataset.validation_fraction(None) == 0.2
    with pytest.raises(services.ConsensusError):
        services.recompute(999)
