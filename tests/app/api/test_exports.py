"""``GET /api/project/<id>/export/<what>.<fmt>``: streamed downloads for managers."""

from __future__ import annotations

import json

from labelhive.api.exports import attachment_name
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def test_export_answers_and_tasks(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=1)
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    response = api.get(f"/api/project/{project['id']}/export/answers.jsonl", api.owner)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="pets-answers.jsonl"'
    assert response.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [(r["task_id"], r["info"]) for r in rows] == [(task["id"], "cat")]
    csv = api.get(f"/api/project/{project['id']}/export/tasks.csv", api.admin)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.headers["Content-Disposition"] == 'attachment; filename="pets-tasks.csv"'
    assert "x.png" in csv.get_data(as_text=True)


def test_export_refusals(api: Api):
    project = api.project(api.owner, "pets")
    base = f"/api/project/{project['id']}/export"
    envelope(api.get(f"{base}/answers.csv", api.contributor), 403, "Forbidden", "project")
    envelope(api.get(f"{base}/answers.csv"), 401, "Unauthorized", "project")
    envelope(api.get(f"{base}/secrets.csv", api.owner), 404, "NotFound", "project")
    envelope(api.get(f"{base}/answers.xls", api.owner), 404, "NotFound", "project")
    envelope(api.get("/api/project/99/export/answers.csv", api.owner), 404, "NotFound", "project")


def test_attachment_name_is_safe():
    assert attachment_name('a"b\r\n/c', "tasks", "csv") == "a_b___c-tasks.csv"
