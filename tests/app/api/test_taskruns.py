"""``/api/taskrun``: submits through the engine (409 when full), reads, changes, deletes."""

from __future__ import annotations

import re

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


def test_newtask_taskrun_then_409_when_full(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    api.task(api.owner, project["id"], n_answers=1)
    task = api.ok(api.get(f"/api/project/{project['id']}/newtask", api.contributor))
    body = {"project_id": project["id"], "task_id": task["id"], "info": "cat"}
    run = api.ok(api.post("/api/taskrun", api.contributor, body))
    assert run["task_id"] == task["id"] and run["project_id"] == project["id"]
    assert run["user_id"] == api.contributor.id and run["info"] == "cat"
    assert run["user_ip"] is None and run["external_uid"] is None
    assert run["media_url"] is None and run["calibration"] is None
    assert ISO.match(run["created"]) and ISO.match(run["finish_time"])
    assert run["link"].endswith(f"/api/taskrun/{run['id']}'/>")
    assert len(run["links"]) == 2
    # nothing left to hand out, and a direct submit beyond the redundancy is refused
    assert api.ok(api.get(f"/api/project/{project['id']}/newtask", api.other)) == {}
    body["info"] = "dog"
    error = envelope(api.post("/api/taskrun", api.other, body), 409, "Conflict", "taskrun")
    assert "already has all the answers it needs" in error["exception_msg"]
    assert len(api.ok(api.get("/api/taskrun", api.owner))) == 1
    assert api.ok(api.get(f"/api/task/{task['id']}", api.owner))["state"] == "completed"


def test_submit_refusals(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    draft = api.project(api.owner, "draft", published=False)
    task = api.task(api.owner, project["id"], n_answers=3)
    hidden = api.task(api.owner, draft["id"])
    path = "/api/taskrun"
    body = {"project_id": project["id"], "task_id": task["id"], "info": "cat"}
    first = api.ok(api.post(path, api.contributor, body))
    # the same answer again is the same answer (a retried request), not a second one
    assert api.ok(api.post(path, api.contributor, body))["id"] == first["id"]
    error = envelope(
        api.post(path, api.contributor, {**body, "info": "dog"}), 409, "Conflict", "taskrun"
    )
    assert "already answered this task" in error["exception_msg"]
    error = envelope(
        api.post(path, api.other, {**body, "info": "cow"}), 400, "BadRequest", "taskrun"
    )
    assert "one of the project's options" in error["exception_msg"]
    error = envelope(
        api.post(path, api.other, {**body, "task_id": 9999}), 403, "Forbidden", "taskrun"
    )
    assert "Invalid task_id" in error["exception_msg"]
    error = envelope(
        api.post(path, api.other, {**body, "project_id": draft["id"]}), 403, "Forbidden", "taskrun"
    )
    assert "Invalid project_id" in error["exception_msg"]
    envelope(
        api.post(path, api.other, {**body, "task_id": hidden["id"]}), 403, "Forbidden", "taskrun"
    )
    envelope(api.post(path, None, body), 401, "Unauthorized", "taskrun")
    envelope(api.post(path, api.other, {**body, "id": 1}), 400, "BadRequest", "taskrun")
    envelope(api.post(path, api.other, {**body, "color": 1}), 415, "TypeError", "taskrun")
    envelope(api.post(path, api.other, {"info": "cat"}), 400, "BadRequest", "taskrun")
    # the server sets the author: a user_id in the body is ignored
    run = api.ok(api.post(path, api.other, {**body, "user_id": api.owner.id, "timeout": 5}))
    assert run["user_id"] == api.other.id
    assert [r["id"] for r in api.ok(api.get(path, api.owner))] == [first["id"], run["id"]]


def test_reads(api: Api):
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=3)
    mine = api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    theirs = api.ok(api.post("/api/taskrun", api.other, {"task_id": task["id"], "info": "dog"}))
    assert api.ok(api.get(f"/api/taskrun/{mine['id']}", api.contributor)) == mine
    envelope(api.get(f"/api/taskrun/{theirs['id']}", api.contributor), 403, "Forbidden", "taskrun")
    envelope(api.get(f"/api/taskrun/{mine['id']}"), 401, "Unauthorized", "taskrun")
    assert api.ok(api.get(f"/api/taskrun/{theirs['id']}", api.owner)) == theirs
    # owner context hides answers in projects the caller does not own; all=1 shows their own
    assert api.ok(api.get("/api/taskrun", api.contributor)) == []
    assert api.ok(api.get("/api/taskrun", api.contributor, all="1")) == [mine]
    assert len(api.ok(api.get("/api/taskrun", api.owner, task_id=str(task["id"])))) == 2
    assert api.ok(api.get("/api/taskrun", api.owner, user_id=str(api.other.id))) == [theirs]
    envelope(api.get("/api/taskrun"), 401, "Unauthorized", "taskrun")


def test_put_replaces_the_answer_and_delete_frees_the_slot(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=2)
    run = api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    path = f"/api/taskrun/{run['id']}"
    envelope(api.put(path, api.owner, {"info": "dog"}), 403, "Forbidden", "taskrun")
    envelope(api.put(path, api.contributor, {"info": "cow"}), 400, "BadRequest", "taskrun")
    envelope(
        api.put(path, api.contributor, {"task_id": 77, "info": "dog"}), 400, "BadRequest", "taskrun"
    )
    echo = {k: v for k, v in run.items() if k not in ("id", "created", "finish_time")}
    changed = api.ok(api.put(path, api.contributor, {**echo, "info": "dog"}))
    assert changed["info"] == "dog" and changed["task_id"] == task["id"]
    runs = api.ok(api.get("/api/taskrun", api.owner))
    assert [r["info"] for r in runs] == ["dog"]
    # a manager deletes the answer: its slot is free again (task n_answers 2: two others fit)
    response = api.delete(f"/api/taskrun/{changed['id']}", api.owner)
    assert response.status_code == 204 and response.data == b""
    assert api.ok(api.get("/api/taskrun", api.owner)) == []
    stats = api.ok(api.get(f"/api/project/{project['id']}/stats", api.owner))
    assert stats["n_live_leases"] == 0 and stats["n_answers"] == 0
    for who, info in ((api.other, "cat"), (api.admin, "dog")):
        api.ok(api.post("/api/taskrun", who, {"task_id": task["id"], "info": info}))
    # the task is complete: its answers can no longer change
    done = api.ok(api.get("/api/taskrun", api.owner))[0]
    envelope(api.delete(f"/api/taskrun/{done['id']}", api.other), 403, "Forbidden", "taskrun")
    envelope(
        api.put(f"/api/taskrun/{done['id']}", api.other, {"info": "dog"}),
        403,
        "Forbidden",
        "taskrun",
    )
    envelope(api.delete(f"/api/taskrun/{done['id']}", api.contributor), 403, "Forbidden", "taskrun")
