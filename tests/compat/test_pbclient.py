"""``pbclient`` 3.0.0's public functions against LabelHive (contract §2.2 and §2.6)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import Compat


def envelope_of(result: dict) -> dict:
    """The error envelope a pbclient call returned (pbclient hands non-2xx bodies back)."""
    body = result["ok"]
    assert isinstance(body, dict) and body.get("status") == "failed", result
    return body


def test_projects_create_find_page_update_delete(compat: Compat) -> None:
    names = [f"pbc-project-{i}" for i in range(3)]
    created = compat.ok(
        "owner",
        [{"call": "create_project", "args": [f"PBC {n}", n, f"about {n}"], "as": n} for n in names],
    )
    ids = [c["data"]["id"] for c in created]
    assert all(c["class"] == "Project" for c in created)

    steps = [
        # find_project as pbs calls it: short_name, and all=None (dropped by requests)
        {"call": "find_project", "kwargs": {"short_name": names[0], "all": None}},
        {"call": "get_project", "args": [ids[1]]},
        # keyset paging through the caller's projects, two at a time
        {"call": "get_projects", "kwargs": {"limit": 2}},
        {"call": "get_projects", "kwargs": {"limit": 2, "last_id": ids[1]}},
        {"call": "get_projects", "kwargs": {"limit": 2, "offset": 2}},
    ]
    found, one, page1, page2, by_offset = compat.ok("owner", steps)
    assert [p["data"]["id"] for p in found] == [ids[0]]
    fields = set(found[0]["data"])
    # DomainObject.__setattr__ refuses keys a GET did not return (§2.6)
    assert {"id", "name", "short_name", "description", "long_description", "info"} <= fields
    assert isinstance(found[0]["data"]["info"], dict)
    assert one["data"]["short_name"] == names[1]
    assert [p["data"]["id"] for p in page1] == ids[:2]
    assert [p["data"]["id"] for p in page2] == ids[2:]
    assert [p["data"]["id"] for p in by_offset] == ids[2:]

    # update_project sends the echoed object (minus its reserved keys, plus link/links)
    updated, reread = compat.ok(
        "owner",
        [
            {"call": "get_project", "args": [ids[0]], "as": "p"},
            {"set": ["p", "description", "changed by pbclient"]},
            {"set": ["p", "long_description", "# Long\n\ntext"]},
            {"set": ["p", "info", {"question": "Cat?", "answers": ["yes", "no"]}]},
            {"call": "update_project", "args": [{"$ref": "p"}]},
            {"call": "get_project", "args": [ids[0]]},
        ],
    )[4:]
    assert updated["data"]["id"] == ids[0]
    assert reread["data"]["description"] == "changed by pbclient"
    assert reread["data"]["info"] == {"question": "Cat?", "answers": ["yes", "no"]}

    deleted, gone = compat.ok(
        "owner",
        [{"call": "delete_project", "args": [ids[2]]}, {"call": "get_project", "args": [ids[2]]}],
    )
    assert deleted is True
    assert envelope_of({"ok": gone})["status_code"] == 404


def test_error_envelopes_the_clients_map(compat: Compat) -> None:
    compat.ok("owner", [{"call": "create_project", "args": ["Dup", "pbc-dup", "first"]}])
    duplicate, missing, unknown_task = compat.pbclient(
        "owner",
        [
            {"call": "create_project", "args": ["Dup 2", "pbc-dup", "second"]},
            {"call": "get_project", "args": [999999]},
            {"call": "get_tasks", "args": [999999]},
        ],
    )
    body = envelope_of(duplicate)
    # pbs: DBIntegrityError + 'project' in target -> ProjectAlreadyExists
    assert body["exception_cls"] == "DBIntegrityError"
    assert body["target"] == "project"
    assert body["status_code"] == 415
    assert set(body) >= {"action", "status", "status_code", "target", "exception_msg"}
    body = envelope_of(missing)
    assert (body["status_code"], body["exception_cls"], body["target"]) == (
        404,
        "NotFound",
        "project",
    )
    # an unknown project's tasks: an empty list in the owner context, as PYBOSSA
    assert unknown_task == {"ok": []}


def test_owner_context_and_all(compat: Compat) -> None:
    (project,) = compat.ok("owner", [{"call": "create_project", "args": ["Ctx", "pbc-ctx", "x"]}])
    pid = project["data"]["id"]
    publish = compat.api("owner", "PUT", f"/api/project/{pid}", json={"published": True})
    assert publish.status_code == 200
    own, everyone, other_all_true = compat.ok(
        "other",
        [
            {"call": "find_project", "kwargs": {"short_name": "pbc-ctx"}},
            {"call": "find_project", "kwargs": {"short_name": "pbc-ctx", "all": 1}},
            {"call": "find_project", "kwargs": {"short_name": "pbc-ctx", "all": "true"}},
        ],
    )
    assert own == []  # not the caller's project: outside the owner context
    assert [p["data"]["id"] for p in everyone] == [pid]
    assert other_all_true == []  # only the exact string "1" leaves the context
    # another user's view carries no secrets
    assert "secret_key" not in everyone[0]["data"]


def test_tasks_answers_results(compat: Compat) -> None:
    (project,) = compat.ok("owner", [{"call": "create_project", "args": ["TAR", "pbc-tar", "x"]}])
    pid = project["data"]["id"]
    settings = {"published": True, "info": {"question": "Cat?", "answers": ["cat", "dog"]}}
    assert compat.api("owner", "PUT", f"/api/project/{pid}", json=settings).status_code == 200

    created = compat.ok(
        "owner",
        [
            {
                "call": "create_task",
                "args": [pid, {"url": f"https://img.example/{i}.png"}],
                "kwargs": {"n_answers": 1, "priority_0": 0},
            }
            for i in range(5)
        ],
    )
    task_ids = [t["data"]["id"] for t in created]
    assert all(t["class"] == "Task" and t["data"]["n_answers"] == 1 for t in created)

    page1, page2, found = compat.ok(
        "owner",
        [
            {"call": "get_tasks", "args": [pid], "kwargs": {"limit": 3}},
            {"call": "get_tasks", "args": [pid], "kwargs": {"limit": 3, "last_id": task_ids[2]}},
            {"call": "find_tasks", "args": [pid], "kwargs": {"id": task_ids[4]}},
        ],
    )
    assert [t["data"]["id"] for t in page1] == task_ids[:3]
    assert [t["data"]["id"] for t in page2] == task_ids[3:]
    assert [t["data"]["id"] for t in found] == [task_ids[4]]
    assert {"id", "n_answers"} <= set(found[0]["data"])

    # update_task with the echoed task (project_id, quorum, calibration, priority_0, link...)
    results = compat.ok(
        "owner",
        [
            {
                "call": "find_tasks",
                "args": [pid],
                "kwargs": {"id": task_ids[0]},
                "as": "t",
                "first": True,
            },
            {"set": ["t", "n_answers", 2]},
            {"set": ["t", "priority_0", 0.5]},
            {"call": "update_task", "args": [{"$ref": "t"}]},
        ],
    )
    assert results[-1]["data"]["n_answers"] == 2
    assert results[-1]["data"]["priority_0"] == 0.5

    # the browser library's calls, as another user: newtask, taskrun, userprogress
    answered = []
    for _ in range(3):
        task = compat.api("other", "GET", f"/api/project/{pid}/newtask").json()
        assert isinstance(task, dict) and task["id"] in task_ids
        assert "gold_answer" not in task
        run = compat.api(
            "other",
            "POST",
            "/api/taskrun",
            json={"project_id": pid, "task_id": task["id"], "info": "cat"},
        )
        assert run.status_code == 200, run.text
        answered.append(run.json())
    progress = compat.api("other", "GET", "/api/project/pbc-tar/userprogress").json()
    assert progress == {"done": 3, "total": 5}
    as_list = compat.api("other", "GET", f"/api/project/{pid}/newtask", params={"limit": 2})
    assert isinstance(as_list.json(), list) and len(as_list.json()) <= 1
    # exact redundancy: a second answer to a complete task is refused, not collected
    complete = next(a["task_id"] for a in answered if a["task_id"] != task_ids[0])
    refused = compat.api(
        "admin",
        "POST",
        "/api/taskrun",
        json={"project_id": pid, "task_id": complete, "info": "dog"},
    )
    assert refused.status_code == 409
    assert refused.json()["exception_cls"] == "Conflict"
    assert refused.json()["target"] == "taskrun"

    runs_page1, runs_page2, found_runs, results_list = compat.ok(
        "owner",
        [
            {"call": "get_taskruns", "args": [pid], "kwargs": {"limit": 2}},
            {
                "call": "get_taskruns",
                "args": [pid],
                "kwargs": {"limit": 2, "last_id": answered[1]["id"]},
            },
            {"call": "find_taskruns", "args": [pid], "kwargs": {"task_id": complete}},
            {"call": "get_results", "args": [pid], "kwargs": {"limit": 100}},
        ],
    )
    assert [r["data"]["id"] for r in runs_page1] == [a["id"] for a in answered[:2]]
    assert [r["data"]["id"] for r in runs_page2] == [answered[2]["id"]]
    assert [r["data"]["info"] for r in found_runs] == ["cat"]
    completed = {a["task_id"] for a in answered} - {task_ids[0]}
    assert {r["data"]["task_id"] for r in results_list} <= completed
    assert len(results_list) >= 2

    result_id = results_list[0]["data"]["id"]
    updated = compat.ok(
        "owner",
        [
            {
                "call": "find_results",
                "args": [pid],
                "kwargs": {"id": result_id},
                "as": "r",
                "first": True,
            },
            {"set": ["r", "info", {"label": "cat"}]},
            {"call": "update_result", "args": [{"$ref": "r"}]},
        ],
    )[-1]
    assert updated["data"]["info"] == {"label": "cat"}

    # deleting: a task without a result goes; one with a result is for admins (403, 'task')
    untouched = sorted(set(task_ids) - {a["task_id"] for a in answered})[0]
    with_result = results_list[0]["data"]["task_id"]
    deleted, refused_delete, _, admin_delete = compat.pbclient(
        "owner",
        [
            {"call": "delete_task", "args": [untouched]},
            {"call": "delete_task", "args": [with_result]},
            {"api_key": compat.keys["admin"]},
            {"call": "delete_task", "args": [with_result]},
        ],
    )
    assert deleted == {"ok": True}
    assert envelope_of(refused_delete)["status_code"] == 403
    assert envelope_of(refused_delete)["target"] == "task"
    assert admin_delete == {"ok": True}


def test_categories(compat: Compat) -> None:
    created, listed, found, update, _, other_create = compat.pbclient(
        "admin",
        [
            {"call": "create_category", "args": ["Birds Of Prey", "raptors"], "as": "c"},
            {"call": "get_categories", "kwargs": {"limit": 20}},
            {"call": "find_category", "kwargs": {"short_name": "birdsofprey"}},
            {"call": "update_category", "args": [{"$ref": "c"}]},
            {"api_key": compat.keys["other"]},
            {"call": "create_category", "args": ["Fish", "x"]},
        ],
    )
    assert "data" in created["ok"], created
    category = created["ok"]["data"]
    # pbclient derives short_name: name lower-cased without spaces
    assert category["short_name"] == "birdsofprey"
    assert category["id"] in [c["data"]["id"] for c in listed["ok"]]
    assert [c["data"]["id"] for c in found["ok"]] == [category["id"]]
    # §2.5 defect 5: update_category sends the reserved id and created; refused as PYBOSSA does
    body = envelope_of(update)
    assert (body["status_code"], body["exception_cls"]) == (400, "BadRequest")
    assert "Reserved keys in payload" in body["exception_msg"]
    assert body["target"] == "category"
    assert envelope_of(other_create)["status_code"] == 403
    cid = category["id"]
    (one,) = compat.ok("other", [{"call": "get_category", "args": [cid]}])
    assert one["data"]["description"] == "raptors"
    anonymous_list = compat.api(None, "GET", "/api/category")
    assert anonymous_list.status_code == 200
    assert cid in [c["id"] for c in anonymous_list.json()]
    # a new project is filed under the first category, as in PYBOSSA
    (project,) = compat.ok("owner", [{"call": "create_project", "args": ["Cat", "pbc-cat", "x"]}])
    assert project["data"]["category_id"] is not None

    (deleted,) = compat.ok("admin", [{"call": "delete_category", "args": [cid]}])
    assert deleted is True


def test_helping_materials(compat: Compat, tmp_path: Path) -> None:
    (project,) = compat.ok("owner", [{"call": "create_project", "args": ["HM", "pbc-hm", "x"]}])
    pid = project["data"]["id"]
    picture = tmp_path / "example.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\nnot really a picture")
    json_made, file_made, listed = compat.ok(
        "owner",
        [
            {"call": "create_helpingmaterial", "args": [pid, {"text": "Look at the beak"}]},
            {
                "call": "create_helpingmaterial",
                "args": [pid, {}],
                "kwargs": {"file_path": str(picture)},
                "as": "hm",
            },
            {"call": "get_helping_materials", "args": [pid]},
        ],
    )
    assert json_made["data"]["info"] == {"text": "Look at the beak"}
    uploaded = file_made["data"]
    assert uploaded["info"]["file_name"] == "example.png"
    assert uploaded["media_url"].startswith(compat.url + f"/helping/{pid}/")
    assert [m["data"]["id"] for m in listed] == [json_made["data"]["id"], uploaded["id"]]

    # pbs add_helpingmaterials merges its info into the uploaded object and PUTs it back
    (updated,) = compat.ok(
        "owner",
        [
            {
                "call": "find_helping_materials",
                "args": [pid],
                "kwargs": {"id": uploaded["id"]},
                "as": "hm",
                "first": True,
            },
            {"set": ["hm", "info", {**uploaded["info"], "caption": "an eagle"}]},
            {"call": "update_helping_material", "args": [{"$ref": "hm"}]},
        ],
    )[2:]
    assert updated["data"]["info"]["caption"] == "an eagle"
    # the file is served only to the project's members; an anonymous fetch finds nothing
    assert compat.api(None, "GET", uploaded["media_url"][len(compat.url) :]).status_code == 404
