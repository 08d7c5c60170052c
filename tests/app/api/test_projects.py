"""``/api/project``: fields, visibility, owner context, validation, PUT echo, delete."""

from __future__ import annotations

import re

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope

# what pbclient.update_project strips before PUT
PBCLIENT_RESERVED = (
    "id",
    "created",
    "updated",
    "completed",
    "contacted",
    "published",
    "secret_key",
)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


def test_create_returns_every_field_to_the_owner(any_api: Api):
    project = any_api.project(any_api.owner, "pets", webhook="http://hook")
    assert project["owner_id"] == any_api.owner.id
    assert project["owners_ids"] == [any_api.owner.id]
    assert project["published"] is True
    assert project["default_n_answers"] == 3 and project["lease_ttl"] == 600
    assert project["info"]["answers"] == ["cat", "dog"]
    assert project["secret_key"] and project["webhook"] == "http://hook"
    assert ISO.match(project["created"]) and ISO.match(project["updated"])
    assert project["link"] == (
        f"<link rel='self' title='project' href='http://localhost/api/project/{project['id']}'/>"
    )
    assert project["links"] == []
    got = any_api.ok(any_api.get(f"/api/project/{project['id']}", any_api.owner))
    assert got == project


def test_non_managers_see_public_fields_only(api: Api):
    project = api.project(
        api.owner, "pets", info={"question": "Q?", "answers": ["a"], "secret_note": "x"}
    )
    for who in (api.contributor, None):
        got = api.ok(api.get(f"/api/project/{project['id']}", who))
        assert "secret_key" not in got and "webhook" not in got and "gold_rate" not in got
        assert got["info"] == {"question": "Q?", "answers": ["a"]}
        assert got["short_name"] == "pets"
    admin = api.ok(api.get(f"/api/project/{project['id']}", api.admin))
    assert admin["info"]["secret_note"] == "x" and admin["secret_key"] == project["secret_key"]


def test_drafts_are_hidden_from_non_managers(api: Api):
    draft = api.project(api.owner, "draft", published=False)
    path = f"/api/project/{draft['id']}"
    envelope(api.get(path, api.contributor), 403, "Forbidden", "project")
    envelope(api.get(path), 401, "Unauthorized", "project")
    envelope(api.get("/api/project/999", api.owner), 404, "NotFound", "project")
    assert api.ok(api.get(path, api.admin))["published"] is False
    assert api.ok(api.get("/api/project", api.contributor, all="1")) == []
    assert api.ok(api.get("/api/project")) == []
    assert [p["id"] for p in api.ok(api.get("/api/project", api.admin, all="1"))] == [draft["id"]]


def test_owner_context(any_api: Api):
    api = any_api
    mine = api.project(api.owner, "mine")
    theirs = api.project(api.other, "theirs")
    draft = api.project(api.other, "theirdraft", published=False)

    def ids(who, **kw):  # noqa: ANN001, ANN003, ANN202
        return [p["id"] for p in api.ok(api.get("/api/project", who, **kw))]

    assert ids(api.owner) == [mine["id"]]
    assert ids(api.owner, all="1") == [mine["id"], theirs["id"]]
    assert ids(api.owner, all="true") == [mine["id"]]  # only the exact "1" counts, as in PYBOSSA
    assert ids(api.contributor) == []
    assert ids(api.contributor, all="1") == [mine["id"], theirs["id"]]
    assert ids(None) == [mine["id"], theirs["id"]]  # anonymous: no context, published only
    assert ids(api.admin) == []  # admins are in the context too
    assert ids(api.admin, all="1") == [mine["id"], theirs["id"], draft["id"]]
    assert ids(api.other, short_name="mine", all="1") == [mine["id"]]  # pbs's find


def test_duplicates_are_db_integrity_errors(any_api: Api):
    any_api.project(any_api.owner, "pets")
    body = {"name": "Other", "short_name": "pets"}
    error = envelope(
        any_api.post("/api/project", any_api.other, body), 415, "DBIntegrityError", "project"
    )
    assert "short_name 'pets' already exists" in error["exception_msg"]
    body = {"name": "Pets", "short_name": "pets2"}
    error = envelope(
        any_api.post("/api/project", any_api.other, body), 415, "DBIntegrityError", "project"
    )
    assert "name 'Pets' already exists" in error["exception_msg"]


def test_create_refusals(api: Api):
    def refused(body, status, cls, text, who=api.owner):  # noqa: ANN001, ANN202
        error = envelope(api.post("/api/project", who, body), status, cls, "project")
        assert text in error["exception_msg"]

    base = {"name": "P", "short_name": "p"}
    refused(
        {**base, "id": 3, "created": "x"},
        400,
        "BadRequest",
        "Reserved keys in payload: created, id",
    )
    refused(
        {**base, "foo": 1}, 415, "TypeError", "'foo' is an invalid keyword argument for Project"
    )
    refused({**base, "default_n_answers": 0}, 400, "BadRequest", "redundancy must be between 1")
    refused({**base, "default_n_answers": "lots"}, 400, "BadRequest", "whole number")
    refused({**base, "info": {"answers": "cat"}}, 400, "BadRequest", "info.answers must be a list")
    refused({**base, "owner_id": api.other.id}, 400, "BadRequest", "owner_id is read-only")
    refused({"name": "P"}, 400, "BadRequest", "short_name is required")
    refused(base, 401, "Unauthorized", "API key", who=None)
    error = envelope(
        api.post(
            "/api/project",
            api.owner,
            raw=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        415,
        "ValueError",
        "project",
    )
    assert "not valid JSON" in error["exception_msg"]
    assert api.ok(api.get("/api/project", api.owner)) == []


def test_put_accepts_the_echoed_object(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    echo = {k: v for k, v in project.items() if k not in PBCLIENT_RESERVED}
    echo["long_description"] = "Longer"
    echo["info"] = {**echo["info"], "task_presenter": "<p/>"}
    updated = api.ok(api.put(f"/api/project/{project['id']}", api.owner, echo))
    assert updated["long_description"] == "Longer"
    assert updated["info"]["task_presenter"] == "<p/>"
    got = api.ok(api.get(f"/api/project/{project['id']}", api.owner, stats="1"))
    assert got["long_description"] == "Longer"
    # an object read with ?stats=1 can be echoed too
    stats_echo = {k: v for k, v in got.items() if k not in PBCLIENT_RESERVED}
    api.ok(api.put(f"/api/project/{project['id']}", api.owner, stats_echo))
    # the raw GET object carries reserved keys: refused, as PYBOSSA does
    error = envelope(
        api.put(f"/api/project/{project['id']}", api.owner, project), 400, "BadRequest", "project"
    )
    assert error["exception_msg"].startswith("Reserved keys in payload: contacted, created, id")


def test_put_publishes_and_checks_rights(api: Api):
    project = api.project(api.owner, "pets", published=False)
    path = f"/api/project/{project['id']}"
    envelope(api.put(path, api.contributor, {"published": True}), 403, "Forbidden", "project")
    envelope(api.put(path, api.other, {"published": True}), 403, "Forbidden", "project")
    envelope(api.put(path, None, {"published": True}), 401, "Unauthorized", "project")
    assert api.ok(api.put(path, api.owner, {"published": True}))["published"] is True
    assert api.ok(api.get(path, api.contributor))["published"] is True
    envelope(api.put(path, api.owner, {"ordering": "sideways"}), 400, "BadRequest", "project")
    api.project(api.other, "taken")
    error = envelope(
        api.put(path, api.owner, {"short_name": "taken"}), 415, "DBIntegrityError", "project"
    )
    assert "short_name" in error["exception_msg"]
    assert (
        api.ok(api.put(path, api.admin, {"description": "by admin"}))["description"] == "by admin"
    )


def test_stats(api: Api):
    project = api.project(api.owner, "pets")
    api.task(api.owner, project["id"], n_answers=1)
    api.ok(api.get(f"/api/project/{project['id']}/newtask", api.contributor))
    stats = api.ok(api.get(f"/api/project/{project['id']}/stats", api.contributor))
    assert stats["n_tasks"] == 1 and stats["n_live_leases"] == 1 and stats["n_answers"] == 0
    got = api.ok(api.get(f"/api/project/{project['id']}", api.owner, stats="1"))
    # the gold count, and the counts a gold task moves differently (completed, ongoing), are
    # for managers only; the contributor's task total counts gold tasks too (none here)
    assert set(stats) == {"n_tasks", "n_answers", "n_live_leases", "n_annotators"}
    assert got["stats"] == {
        **stats,
        "n_gold_tasks": 0,
        "n_completed_tasks": 0,
        "n_ongoing_tasks": 1,
    }
    listed = api.ok(api.get("/api/project", api.owner, stats="1"))
    assert listed[0]["stats"]["n_tasks"] == 1
    assert "stats" not in api.ok(api.get(f"/api/project/{project['id']}", api.owner))
    envelope(api.get(f"/api/project/{project['id']}/stats"), 401, "Unauthorized", "project")


def test_delete(any_api: Api):
    api = any_api
    project = api.project(api.owner, "pets")
    task = api.task(api.owner, project["id"], n_answers=1)
    path = f"/api/project/{project['id']}"
    envelope(api.delete(path, api.other), 403, "Forbidden", "project")
    envelope(api.delete(path), 401, "Unauthorized", "project")
    api.ok(api.post("/api/taskrun", api.contributor, {"task_id": task["id"], "info": "cat"}))
    error = envelope(api.delete(path, api.owner), 403, "Forbidden", "project")
    assert "results" in error["exception_msg"]
    response = api.delete(path, api.admin)
    assert response.status_code == 204 and response.data == b""
    envelope(api.get(path, api.admin), 404, "NotFound", "project")
    envelope(api.get(f"/api/task/{task['id']}", api.admin), 404, "NotFound", "task")
    empty = api.project(api.owner, "empty")
    assert api.delete(f"/api/project/{empty['id']}", api.owner).status_code == 204


def test_info_filters_only_on_keys_the_caller_may_read(api: Api):
    info = {"question": "Q?", "answers": ["a"], "secret_note": "x"}
    project = api.project(api.owner, "pets", info=info)
    own = api.ok(api.get("/api/project", api.owner, info="secret_note::x"))
    assert [p["id"] for p in own] == [project["id"]]
    public = api.ok(api.get("/api/project", None, info="question::Q?", published="1"))
    assert [p["id"] for p in public] == [project["id"]]
    error = envelope(
        api.get("/api/project", api.contributor, all="1", info="secret_note::x"),
        403,
        "Forbidden",
        "project",
    )
    assert "secret_note" in error["exception_msg"]
    envelope(api.get("/api/project", None, info="secret_note::y"), 403, "Forbidden", "project")


def test_consensus_settings_round_trip_for_managers_only(api: Api):
    project = api.project(api.owner, "pets")
    path = f"/api/project/{project['id']}"
    body = {
        "consensus_method": "gold_weighted",
        "adaptive_redundancy": True,
        "adaptive_threshold": 0.75,
        "adaptive_max_answers": 6,
    }
    updated = api.ok(api.put(path, api.owner, body))
    for key, value in body.items():
        assert updated[key] == value
    got = api.ok(api.get(path, api.owner))
    assert {k: got[k] for k in body} == body
    public = api.ok(api.get(path, api.contributor))
    assert not set(body) & set(public)
    envelope(api.put(path, api.owner, {"adaptive_threshold": 1.5}), 400, "BadRequest", "project")
