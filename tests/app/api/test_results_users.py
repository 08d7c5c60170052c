"""``/api/result`` (managers; written by the engine) and ``/api/user`` (read-mostly)."""

from __future__ import annotations

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def test_results(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=1)
    run = api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    [result] = api.ok(api.get("/api/result", api.owner))
    assert result["task_id"] == task["id"] and result["task_run_ids"] == [run["id"]]
    assert result["last_version"] is True and result["info"] is None
    assert len(result["links"]) == 2
    path = f"/api/result/{result['id']}"
    envelope(api.get(path, api.contributor), 403, "Forbidden", "result")
    envelope(api.get(path), 401, "Unauthorized", "result")
    assert api.ok(api.get("/api/result", api.contributor, all="1")) == []
    # pbclient.update_result sends info plus link/links
    echo = {"info": {"label": "cat"}, "link": result["link"], "links": result["links"]}
    assert api.ok(api.put(path, api.owner, echo))["info"] == {"label": "cat"}
    assert api.ok(api.get(path, api.admin))["info"] == {"label": "cat"}
    error = envelope(api.put(path, api.owner, {"task_id": 1}), 400, "BadRequest", "result")
    assert error["exception_msg"] == "Reserved keys in payload: task_id"
    envelope(api.put(path, api.other, {"info": {}}), 403, "Forbidden", "result")
    envelope(
        api.post("/api/result", api.owner, {"task_id": task["id"]}), 403, "Forbidden", "result"
    )
    envelope(api.post("/api/result", None, {"task_id": task["id"]}), 401, "Unauthorized", "result")
    envelope(api.delete(path, api.owner), 403, "Forbidden", "result")
    # raising then lowering redundancy writes a second version; lists show the last one
    api.ok(api.put(f"/api/task/{task['id']}", api.owner, {"n_answers": 2}))
    api.ok(api.put(f"/api/task/{task['id']}", api.owner, {"n_answers": 1}))
    [latest] = api.ok(api.get("/api/result", api.owner))
    assert latest["id"] != result["id"] and latest["task_id"] == task["id"]
    old = api.ok(api.get("/api/result", api.owner, last_version="false"))
    assert [r["id"] for r in old] == [result["id"]]


def test_users(api: Api):
    me = api.ok(api.get(f"/api/user/{api.contributor.id}", api.contributor))
    assert me["email_addr"] == "contributor@example.org" and me["name"] == "contributor"
    assert "api_key" not in me and "admin" not in me
    other = api.ok(api.get(f"/api/user/{api.owner.id}", api.contributor))
    assert set(other) == {"id", "name", "locale", "link", "links"}
    assert (
        api.ok(api.get(f"/api/user/{api.owner.id}", api.admin))["email_addr"] == "owner@example.org"
    )
    listed = api.ok(api.get("/api/user", api.contributor))
    assert [u["name"] for u in listed] == ["admin", "owner", "other", "contributor"]
    assert all("api_key" not in u for u in listed)
    assert [u["name"] for u in api.ok(api.get("/api/user", api.owner, name="other"))] == ["other"]
    envelope(api.get("/api/user"), 401, "Unauthorized", "user")
    envelope(api.get("/api/user", api.owner, email_addr="x"), 415, "AttributeError", "user")
    path = f"/api/user/{api.contributor.id}"
    echo = {k: v for k, v in me.items() if k not in ("id", "created")}
    changed = api.ok(api.put(path, api.contributor, {**echo, "fullname": "C. Ontributor"}))
    assert changed["fullname"] == "C. Ontributor"
    envelope(api.put(path, api.contributor, {"admin": True}), 400, "BadRequest", "user")
    envelope(api.put(path, api.contributor, {"api_key": "x" * 30}), 400, "BadRequest", "user")
    envelope(api.put(path, api.other, {"fullname": "X"}), 403, "Forbidden", "user")
    envelope(
        api.put(path, api.contributor, {"email_addr": "owner@example.org"}),
        415,
        "DBIntegrityError",
        "user",
    )
    assert api.ok(api.put(path, api.admin, {"locale": "fr"}))["locale"] == "fr"
