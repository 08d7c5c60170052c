"""Background jobs through the API: start imports and exports, follow them, download."""

from __future__ import annotations

import json
import time
from typing import Any

from labelhive.api.openapi import document
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def wait(api: Api, job: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """Poll ``GET /api/job/<id>`` (bounded) until the job ends; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = api.ok(api.get(f"/api/job/{job['id']}", api.owner))
        if current["status"] in ("finished", "failed"):
            return current
        time.sleep(0.05)
    raise TimeoutError(f"job {job['id']} did not end in {timeout} s")


def test_import_rows_as_a_job_then_list_and_retry_with_the_same_key(api: Api):
    project = api.project(api.owner, "pets")
    rows = [{"url": f"https://img.example/{i}.jpg", "n_answers": 1} for i in range(4)]
    body = {"tasks": rows, "n_answers": 3, "key": "batch-1"}
    job = api.ok(api.post(f"/api/project/{project['id']}/import", api.owner, body), 202)
    assert job["kind"] == "import" and job["project_id"] == project["id"]
    done = wait(api, job)
    assert done["status"] == "finished", done["error"]
    assert (done["done"], done["total"], done["result"]["imported"]) == (4, 4, 4)
    assert done["download"] is None
    tasks = api.ok(api.get("/api/task", api.owner, project_id=project["id"]))
    assert sorted(t["info"]["url"] for t in tasks) == sorted(r["url"] for r in rows)
    assert {t["n_answers"] for t in tasks} == {3}
    # a retry with the same key is the same job: nothing imported twice
    again = api.ok(api.post(f"/api/project/{project['id']}/import", api.owner, body), 202)
    assert again["id"] == job["id"]
    assert len(api.ok(api.get("/api/task", api.owner, project_id=project["id"]))) == 4
    listed = api.ok(api.get(f"/api/project/{project['id']}/jobs", api.admin))
    assert [j["id"] for j in listed] == [job["id"]]


def test_import_refusals(api: Api):
    project = api.project(api.owner, "pets")
    path = f"/api/project/{project['id']}/import"
    bad_row = {"tasks": [{"url": "https://img.example/1.jpg"}, {"url": "javascript:alert(1)"}]}
    message = envelope(api.post(path, api.owner, bad_row), 400, "BadRequest", "project")
    assert message["exception_msg"].startswith("Item 2: ")
    envelope(api.post(path, api.owner, {}), 400, "BadRequest", "project")
    envelope(api.post(path, api.owner, {"tasks": []}), 400, "BadRequest", "project")
    envelope(
        api.post(path, api.owner, {"s3": {"bucket": "Not A Bucket"}}), 400, "BadRequest", "project"
    )
    envelope(
        api.post(path, api.owner, {"tasks": [{"url": "x.png"}], "n_answers": "3"}),
        400,
        "BadRequest",
        "project",
    )
    rows = {"tasks": [{"url": "https://img.example/1.jpg"}]}
    envelope(api.post(path, api.contributor, rows), 403, "Forbidden", "project")
    envelope(api.post(path, api.other, rows), 403, "Forbidden", "project")
    envelope(api.post(path, None, rows), 401, "Unauthorized", "project")
    envelope(api.post("/api/project/999/import", api.owner, rows), 404, "NotFound", "project")
    assert api.ok(api.get(f"/api/project/{project['id']}/jobs", api.owner)) == []


def test_export_jobs_download_and_who_may_see_a_job(api: Api):
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=1)
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    path = f"/api/project/{project['id']}/export"
    job = api.ok(api.post(path, api.owner, {"what": "answers", "format": "csv"}), 202)
    done = wait(api, job)
    assert done["status"] == "finished" and done["result"]["rows"] == 1
    assert done["download"] == f"/api/job/{job['id']}/download"
    response = api.get(done["download"], api.owner)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "cat" in response.get_data(as_text=True)
    response.close()
    dataset = api.ok(api.post(path, api.admin, {"what": "dataset", "format": "jsonl"}), 202)
    finished = wait(api, dataset)
    assert finished["result"]["download_name"] == "pets-dataset.jsonl"
    file = api.get(finished["download"], api.admin)
    (item,) = [json.loads(line) for line in file.get_data(as_text=True).splitlines()]
    file.close()
    assert item["item_id"] == task["id"] and item["label"] == "cat"
    # only the project's managers see its jobs
    job_path = f"/api/job/{job['id']}"
    envelope(api.get(job_path, api.contributor), 403, "Forbidden", "job")
    envelope(api.get(job_path, api.other), 403, "Forbidden", "job")
    envelope(api.get(job_path + "/download", api.other), 403, "Forbidden", "job")
    envelope(api.get(job_path), 401, "Unauthorized", "job")
    envelope(api.get("/api/job/export-1-nope", api.owner), 404, "NotFound", "job")
    envelope(api.get(f"/api/project/{project['id']}/jobs", api.other), 403, "Forbidden", "project")
    envelope(
        api.post(path, api.owner, {"what": "secrets", "format": "csv"}),
        400,
        "BadRequest",
        "project",
    )
    envelope(
        api.post(path, api.owner, {"what": "dataset", "format": "json"}),
        400,
        "BadRequest",
        "project",
    )
    envelope(
        api.post(path, api.contributor, {"what": "tasks", "format": "csv"}),
        403,
        "Forbidden",
        "project",
    )


def test_job_endpoints_are_in_the_openapi_document():
    paths = document()["paths"]
    assert set(paths["/job/{job_id}"]) == {"get"}
    assert set(paths["/project/{project_id}/import"]) == {"post"}
    assert set(paths["/project/{project_id}/export"]) == {"post"}
    assert "202" in paths["/project/{project_id}/export"]["post"]["responses"]
    assert "/project/{project_id}/jobs" in paths and "/job/{job_id}/download" in paths
