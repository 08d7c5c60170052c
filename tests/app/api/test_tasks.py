"""``/api/task``: managers only, validation, redundancy through the engine, paging."""

from __future__ import annotations

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope

PBCLIENT_RESERVED = ("id", "created", "state", "fav_user_ids")


def test_create_and_read(api: Api):
    project = api.project(api.owner, "pets", default_n_answers=4)
    task = api.task(api.owner, project["id"], gold_answer="cat", priority_0=0.5)
    assert task["n_answers"] == 2 and task["state"] == "ongoing" and task["priority_0"] == 0.5
    assert task["gold_answer"] == "cat" and task["fav_user_ids"] == []
    assert task["links"] == [
        f"<link rel='parent' title='project' href='http://localhost/api/project/{project['id']}'/>"
    ]
    assert api.ok(api.get(f"/api/task/{task['id']}", api.owner)) == task
    body = {"project_id": project["id"], "info": {"x": 1}}
    assert api.ok(api.post("/api/task", api.owner, body))["n_answers"] == 4  # project default
    assert api.ok(api.post("/api/task", api.owner, {**body, "n_answers": "5"}))["n_answers"] == 5


def test_create_refusals(api: Api):
    project = api.project(api.owner, "pets")
    base = {"project_id": project["id"], "info": {}}

    def refused(body, status, cls, text, who=api.owner):  # noqa: ANN001, ANN202
        error = envelope(api.post("/api/task", who, body), status, cls, "task")
        assert text in error["exception_msg"], error

    refused({**base, "n_answers": 0}, 400, "BadRequest", "n_answers must be between 1")
    refused({**base, "n_answers": -2}, 400, "BadRequest", "n_answers must be between 1")
    refused({**base, "n_answers": "many"}, 400, "BadRequest", "whole number")
    refused({**base, "priority_0": True}, 400, "BadRequest", "priority_0 must be a finite number")
    refused({**base, "gold_answer": "cow"}, 400, "BadRequest", "one of the project's options")
    refused({**base, "info": ["not", "an", "object"]}, 400, "BadRequest", "info must be a JSON")
    refused({**base, "state": "completed"}, 400, "BadRequest", "Reserved keys in payload: state")
    refused(
        {**base, "bogus": 1}, 415, "TypeError", "'bogus' is an invalid keyword argument for Task"
    )
    refused({"info": {}}, 400, "BadRequest", "project_id must be a whole number")
    refused({**base, "project_id": 999}, 404, "NotFound", "Project 999 does not exist")
    refused(base, 403, "Forbidden", "owners and admins", who=api.contributor)
    refused(base, 403, "Forbidden", "owners and admins", who=api.other)
    refused(base, 401, "Unauthorized", "API key", who=None)
    assert api.ok(api.get("/api/task", api.owner)) == []


def test_reads_are_for_managers(api: Api):
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], gold_answer="dog")
    api.task(api.owner, project["id"])
    path = f"/api/task/{task['id']}"
    envelope(api.get("/api/task"), 401, "Unauthorized", "task")
    envelope(api.get(path), 401, "Unauthorized", "task")
    envelope(api.get(path, api.contributor), 403, "Forbidden", "task")
    envelope(api.get(path, api.other), 403, "Forbidden", "task")
    assert api.ok(api.get("/api/task", api.contributor, all="1")) == []
    assert api.ok(api.get("/api/task", api.other, all="1")) == []
    assert len(api.ok(api.get("/api/task", api.owner))) == 2
    assert api.ok(api.get("/api/task", api.admin)) == []  # owner context
    assert len(api.ok(api.get("/api/task", api.admin, all="1"))) == 2
    assert api.ok(api.get(path, api.admin))["gold_answer"] == "dog"


def test_a_contributor_reads_the_task_they_were_handed(api: Api):
    project = api.project(api.owner, "pets")
    api.task(api.owner, project["id"])
    handed = api.ok(api.get(f"/api/project/{project['id']}/newtask", api.contributor))
    got = api.ok(api.get(f"/api/task/{handed['id']}", api.contributor))
    assert got["id"] == handed["id"] and "gold_answer" not in got


def test_put_accepts_the_echo_and_changes_redundancy_through_the_engine(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=2)
    path = f"/api/task/{task['id']}"
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    echo = {k: v for k, v in task.items() if k not in PBCLIENT_RESERVED}
    echo["n_answers"] = 1
    echo["info"] = {"url": "y.png"}
    updated = api.ok(api.put(path, api.owner, echo))
    assert updated["state"] == "completed" and updated["n_answers"] == 1
    assert updated["info"] == {"url": "y.png"}
    results = api.ok(api.get("/api/result", api.owner))
    assert [r["task_id"] for r in results] == [task["id"]]
    reopened = api.ok(api.put(path, api.owner, {"n_answers": 3}))
    assert reopened["state"] == "ongoing" and reopened["n_answers"] == 3
    envelope(api.put(path, api.owner, {"n_answers": 0}), 400, "BadRequest", "task")
    envelope(api.put(path, api.owner, {"project_id": 999}), 400, "BadRequest", "task")
    envelope(api.put(path, api.owner, task), 400, "BadRequest", "task")  # raw GET: reserved id
    envelope(api.put(path, api.contributor, {"n_answers": 5}), 403, "Forbidden", "task")
    assert api.ok(api.get(path, api.owner))["n_answers"] == 3


def test_delete(api: Api):
    project = api.project(api.owner, "pets")
    done = api.task(api.owner, project["id"], n_answers=1)
    fresh = api.task(api.owner, project["id"])
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": done["id"], "info": "dog"}))
    envelope(api.delete(f"/api/task/{fresh['id']}", api.contributor), 403, "Forbidden", "task")
    envelope(api.delete(f"/api/task/{done['id']}", api.owner), 403, "Forbidden", "task")
    assert api.delete(f"/api/task/{fresh['id']}", api.owner).status_code == 204
    response = api.delete(f"/api/task/{done['id']}", api.admin)
    assert response.status_code == 204 and response.data == b""
    assert api.ok(api.get("/api/task", api.owner)) == []
    assert api.ok(api.get("/api/taskrun", api.owner)) == []
    envelope(api.delete(f"/api/task/{done['id']}", api.admin), 404, "NotFound", "task")


def test_paging_with_last_id_over_more_than_100_rows(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    other = api.project(api.other, "others")
    api.bulk_tasks(project["id"], 150)
    api.bulk_tasks(other["id"], 3)
    assert len(api.ok(api.get("/api/task", api.owner))) == 20
    assert len(api.ok(api.get("/api/task", api.owner, limit="500"))) == 100
    seen: list[int] = []
    last_id = 0
    while True:
        page = api.ok(
            api.get("/api/task", api.owner, limit="100", last_id=str(last_id), offset="5")
        )
        if not page:
            break
        seen += [t["id"] for t in page]
        last_id = page[-1]["id"]
    assert len(seen) == 150 and seen == sorted(set(seen))
    offset_page = api.ok(api.get("/api/task", api.owner, limit="10", offset="145"))
    assert [t["id"] for t in offset_page] == seen[145:]
    newest = api.ok(api.get("/api/task", api.owner, limit="3", orderby="id", desc="true"))
    assert [t["id"] for t in newest] == seen[::-1][:3]
    everything = api.ok(
        api.get("/api/task", api.admin, all="1", limit="100", last_id=str(seen[-1]))
    )
    assert len(everything) == 3 and {t["project_id"] for t in everything} == {other["id"]}


def test_list_filters(any_api: Api):
    api = any_api
    first = api.project(api.owner, "first")
    second = api.project(api.owner, "second")
    a = api.task(api.owner, first["id"], info={"kind": "a"})
    b = api.task(api.owner, second["id"], info={"kind": "b"}, priority_0=1)

    def ids(**kw):  # noqa: ANN003, ANN202
        return [t["id"] for t in api.ok(api.get("/api/task", api.owner, **kw))]

    assert ids(project_id=f"{first['id']},{second['id']}") == [a["id"], b["id"]]
    assert ids(project_id=str(second["id"])) == [b["id"]]
    assert ids(id=str(a["id"])) == [a["id"]]
    assert ids(info="kind::b") == [b["id"]]
    assert ids(orderby="priority_0", desc="1") == [b["id"], a["id"]]
    assert ids(state="completed") == []
    assert ids(created=a["created"][:10]) == [a["id"], b["id"]]
    envelope(api.get("/api/task", api.owner, foo="1"), 415, "AttributeError", "task")
    envelope(api.get("/api/task", api.owner, orderby="nope"), 415, "AttributeError", "task")
    envelope(api.get("/api/task", api.owner, desc="maybe"), 415, "ValueError", "task")
    envelope(api.get("/api/task", api.owner, id="x"), 415, "ValueError", "task")
