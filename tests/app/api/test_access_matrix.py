"""Who may read and write what: anonymous, contributor, owner, another owner, admin."""

from __future__ import annotations

import pytest

from tests.app.api.conftest import Api

CALLERS = ("anonymous", "contributor", "owner", "other", "admin")


@pytest.fixture
def world(api: Api) -> tuple[Api, dict[str, str]]:
    """A published project with a completed task (answer + result), an open task, a draft."""
    project = api.project(api.owner, "pets")
    draft = api.project(api.owner, "draft", published=False)
    done = api.task(api.owner, project["id"], n_answers=1)
    open_task = api.task(api.owner, project["id"])
    run = api.ok(api.post("/api/taskrun", api.contributor, {"task_id": done["id"], "info": "cat"}))
    [result] = api.ok(api.get("/api/result", api.owner))
    paths = {
        "project": f"/api/project/{project['id']}",
        "draft": f"/api/project/{draft['id']}",
        "task": f"/api/task/{done['id']}",
        "open_task": f"/api/task/{open_task['id']}",
        "taskrun": f"/api/taskrun/{run['id']}",
        "result": f"/api/result/{result['id']}",
    }
    return api, paths


def _who(api: Api, name: str):  # noqa: ANN202
    return None if name == "anonymous" else getattr(api, name)


# status of GET <path> for each caller (anonymous, contributor, owner, other, admin)
READS = {
    "project": (200, 200, 200, 200, 200),
    "draft": (401, 403, 200, 403, 200),
    # the contributor answered this task, so may read it (without its gold answer)
    "task": (401, 200, 200, 403, 200),
    "open_task": (401, 403, 200, 403, 200),
    "taskrun": (401, 200, 200, 403, 200),
    "result": (401, 403, 200, 403, 200),
}


@pytest.mark.parametrize("resource", sorted(READS))
def test_reads(world, resource):
    api, paths = world
    got = tuple(api.get(paths[resource], _who(api, c)).status_code for c in CALLERS)
    assert got == READS[resource]


# status of a write for each caller; each is tried on a fresh world, the manager's last
WRITES = {
    ("PUT", "project", '{"description": "d"}'): (401, 403, 200, 403, 200),
    ("PUT", "open_task", '{"priority_0": 1}'): (401, 403, 200, 403, 200),
    ("PUT", "result", '{"info": {"a": 1}}'): (401, 403, 200, 403, 200),
    ("DELETE", "open_task", ""): (401, 403, 204, 403, 204),
    ("DELETE", "draft", ""): (401, 403, 204, 403, 204),
}


@pytest.mark.parametrize(("method", "resource", "body"), sorted(WRITES))
@pytest.mark.parametrize("index", range(len(CALLERS)))
def test_writes(world, method, resource, body, index):
    api, paths = world
    caller = CALLERS[index]
    response = api.call(
        method,
        paths[resource],
        _who(api, caller),
        raw=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == WRITES[(method, resource, body)][index], response.get_json()


@pytest.mark.parametrize(
    ("caller", "lists"),
    [
        ("anonymous", {"project": 1, "task": 401, "taskrun": 401, "result": 401}),
        ("contributor", {"project": 1, "task": 0, "taskrun": 1, "result": 0}),
        ("owner", {"project": 2, "task": 2, "taskrun": 1, "result": 1}),
        ("other", {"project": 1, "task": 0, "taskrun": 0, "result": 0}),
        ("admin", {"project": 2, "task": 2, "taskrun": 1, "result": 1}),
    ],
)
def test_lists_with_all(world, caller, lists):
    """With all=1 (no owner context): how many rows each caller may list, or the status."""
    api, _ = world
    for resource, expected in lists.items():
        response = api.get(f"/api/{resource}", _who(api, caller), all="1")
        if expected == 401:
            assert response.status_code == 401, resource
        else:
            assert len(api.ok(response)) == expected, resource
