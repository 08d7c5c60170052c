"""The results page's consensus section: stored figures, SVG charts, escaping, downloads."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from labelhive.results import services
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in

EVIL = '<script>alert("x")</script>'


def test_results_page_shows_consensus_charts_with_escaped_labels(client) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    project = make_project(alice, n_tasks=2, n_answers=2, answers=("cat", EVIL))
    for user in (alice, bob):
        for _ in range(2):
            claim = engine.claim(db.engine, project.id, user.id)
            engine.submit(db.engine, claim.task["id"], user.id, EVIL if user is bob else "cat")
    db.session.commit()
    sign_in(client, "alice")
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert "Consensus has not been computed yet" in page

    # the fixture's app context shares one session with the requests: end its snapshot
    project_id = project.id
    db.session.commit()
    services.recompute(project_id)
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert EVIL not in page
    assert "&lt;script&gt;" in page
    assert page.count("<svg") >= 3
    assert 'aria-label="Confusion matrix of answers against consensus"' in page
    assert "Krippendorff" in page and "bob" in page
    assert "/project/pets/dataset.parquet" in page

    rows = client.get("/project/pets/dataset.jsonl").get_data(as_text=True).splitlines()
    assert [json.loads(r)["n_answers"] for r in rows] == [2, 2]
    assert client.get("/project/pets/dataset.xlsx").status_code == 404

    response = client.post("/project/pets/results/recompute")
    assert response.status_code == 302
    # the job runs on the in-process thread: wait for it, so it ends with the test
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.commit()
        status = db.session.scalar(select(JobRecord.status).where(JobRecord.kind == "consensus"))
        if status in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert status == "finished"
    sign_in(client, "bob")
    assert client.get("/project/pets/results").status_code in (403, 404)
    assert client.get("/project/pets/dataset.csv").status_code in (403, 404)
