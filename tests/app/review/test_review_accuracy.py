"""A reviewer who settles the flagged items makes the labeled dataset more accurate, and every
settled item says so (method ``reviewed``): a synthetic crowd whose truth is known, answered
through the engine, consensus computed, reviewed through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.extensions import db
from labelhive.results import services as consensus
from tests.app.review import synthetic
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_review_raises_the_dataset_accuracy_on_a_synthetic_crowd(db_app, capsys):
    crowd = synthetic.build()
    consensus.recompute(crowd.project_id)
    client = db_app.test_client()
    before_rows = synthetic.dataset(client, crowd)
    before = synthetic.accuracy(before_rows, crowd)

    decided = synthetic.review_all(client, crowd)
    assert decided, "the crowd must leave items for review"
    wrong_flagged = [t for t in decided if before_rows[t]["label"] != crowd.truth[t]]
    assert wrong_flagged, "some flagged item must have been labeled wrong by consensus"

    after_rows = synthetic.dataset(client, crowd)
    after = synthetic.accuracy(after_rows, crowd)
    with capsys.disabled():
        print(
            f"\nsynthetic crowd: {len(crowd.truth)} items, {len(decided)} reviewed;"
            f" dataset accuracy {before:.3f} before review, {after:.3f} after"
        )
    assert after >= before
    # each wrong label the reviewer fixed is one more right item (gold items are not counted)
    fixed = [t for t in wrong_flagged if t not in crowd.gold]
    items = len(crowd.truth) - len(crowd.gold)
    assert after == pytest.approx(before + len(fixed) / items)
    for task_id in decided:
        row = after_rows[task_id]
        assert (row["method"], row["review_state"]) == ("reviewed", "reviewed"), task_id
        assert row["label"] == crowd.truth[task_id]
    # the queue is empty, and a later recomputation keeps every decision
    queue = client.get(
        f"/api/project/{crowd.project_id}/review", headers={"Authorization": crowd.owner_key}
    )
    assert queue.json == []
    consensus.recompute(crowd.project_id)
    assert synthetic.dataset(client, crowd) == after_rows
