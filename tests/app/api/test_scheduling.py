"""``newtask``, ``userprogress`` and the lease endpoints."""

from __future__ import annotations

import datetime as dt

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def test_newtask(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets", gold_rate=1)
    gold = api.task(api.owner, project["id"], gold_answer="cat")
    path = f"/api/project/{project['id']}/newtask"
    handed = api.ok(api.get(path, api.contributor))
    assert handed["id"] == gold["id"] and "gold_answer" not in handed
    # one lease per user per project: asking again gives the same task
    assert api.ok(api.get(path, api.contributor))["id"] == gold["id"]
    assert api.ok(api.get("/api/project/pets/newtask", api.contributor, limit="5")) == [handed]
    assert api.ok(api.get(path, api.contributor, offset="1"))["id"] == gold["id"]


def test_newtask_refusals(api: Api):
    project = api.project(api.owner, "pets")
    draft = api.project(api.owner, "draft", published=False)
    path = f"/api/project/{project['id']}/newtask"
    assert api.ok(api.get(path, api.contributor)) == {}
    assert api.ok(api.get(path, api.contributor, limit="2")) == []
    envelope(api.get(path), 401, "Unauthorized", "project")
    envelope(api.get("/api/project/999/newtask", api.contributor), 404, "NotFound", "project")
    envelope(api.get("/api/project/nope/newtask", api.contributor), 404, "NotFound", "project")
    envelope(
        api.get(f"/api/project/{draft['id']}/newtask", api.contributor), 403, "Forbidden", "project"
    )
    assert api.ok(api.get(f"/api/project/{draft['id']}/newtask", api.owner)) == {}


def test_userprogress(api: Api):
    project = api.project(api.owner, "pets")
    for _ in range(3):
        api.task(api.owner, project["id"])
    api.task(api.owner, project["id"], gold_answer="dog")
    # gold counts like any task (tests/security/test_gold_progress.py)
    assert api.ok(api.get("/api/project/pets/userprogress", api.contributor)) == {
        "done": 0,
        "total": 4,
    }
    task = api.ok(api.get(f"/api/project/{project['id']}/newtask", api.contributor))
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    progress = api.ok(api.get(f"/api/project/{project['id']}/userprogress", api.contributor))
    assert progress == {"done": 1, "total": 4}
    envelope(api.get("/api/project/pets/userprogress"), 401, "Unauthorized", "project")


def test_lease_renew_and_release(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets", lease_ttl=60)
    first = api.task(api.owner, project["id"], priority_0=1)
    second = api.task(api.owner, project["id"])
    newtask = f"/api/project/{project['id']}/newtask"
    assert api.ok(api.get(newtask, api.contributor))["id"] == first["id"]
    renewed = api.ok(api.post(f"/api/task/{first['id']}/lease/renew", api.contributor))
    expires = dt.datetime.fromisoformat(renewed["expires_at"])
    assert renewed["task_id"] == first["id"]
    assert dt.timedelta(seconds=50) < expires - dt.datetime.now(dt.UTC).replace(tzinfo=None)
    envelope(
        api.post(f"/api/task/{second['id']}/lease/renew", api.contributor), 404, "NotFound", "task"
    )
    envelope(api.post(f"/api/task/{first['id']}/lease/renew", None), 401, "Unauthorized", "task")
    # skip: the lease goes, and the next claim offers the other task
    response = api.delete(f"/api/task/{first['id']}/lease", api.contributor, skip="1")
    assert response.status_code == 204 and response.data == b""
    assert api.ok(api.get(newtask, api.contributor))["id"] == second["id"]
    assert api.delete(f"/api/task/{second['id']}/lease", api.contributor).status_code == 204
    assert api.delete(f"/api/task/{second['id']}/lease", api.contributor).status_code == 204
    stats = api.ok(api.get(f"/api/project/{project['id']}/stats", api.owner))
    assert stats["n_live_leases"] == 0
    envelope(api.delete("/api/task/999/lease", api.contributor), 404, "NotFound", "task")
