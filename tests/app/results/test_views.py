"""The results page and streamed downloads."""

from __future__ import annotations

import json

from labelhive.extensions import db
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def test_results_page_and_downloads(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=2, n_answers=1)
    claim = engine.claim(db.engine, p.id, alice.id)
    engine.submit(db.engine, claim.task["id"], alice.id, "bird")
    db.session.commit()
    sign_in(client, "alice")
    page = client.get("/project/pets/results").get_data(as_text=True)
    for what in ("tasks", "answers", "results"):
        for fmt in ("csv", "json", "jsonl"):
            assert f"/project/pets/download/{what}.{fmt}" in page
    response = client.get("/project/pets/download/answers.json")
    assert response.status_code == 200
    assert response.is_streamed
    assert 'filename="pets-answers.json"' in response.headers["Content-Disposition"]
    (row,) = json.loads(response.get_data())
    assert row["info"] == "bird" and row["task_id"] == claim.task["id"]
    csv = client.get("/project/pets/download/tasks.csv")
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).count("img") >= 2
    lines = client.get("/project/pets/download/results.jsonl").get_data(as_text=True).splitlines()
    assert len(lines) == 1
    assert client.get("/project/pets/download/secrets.csv").status_code == 404
    assert client.get("/project/pets/download/tasks.xml").status_code == 404
