"""``/api/helpingmaterial`` uploads and ``/api/category`` rules, in process."""

from __future__ import annotations

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope
from tests.app.helping.conftest import browser
from tests.app.helping.conftest import path_of
from tests.app.helping.conftest import stored_counts
from tests.app.helping.conftest import upload


def test_uploads_are_checked_stored_in_the_database_and_served_to_members_only(api: Api) -> None:
    api.app.config.update(MAX_HELPING_MATERIAL_BYTES=100)
    project = api.project(api.owner, "birds")
    made = api.ok(upload(api, api.owner, project["id"], "../../etc/beak.png", b"png bytes"))
    assert made["info"]["file_name"] == "etc_beak.png"  # no path survives
    assert made["media_url"].startswith(f"http://localhost/helping/{project['id']}/")
    assert stored_counts(api.app) == (1, 1)

    # script-capable types, nameless files and big files are refused, and nothing is kept
    for name, data in (("page.html", b"<script>"), ("pic.svg", b"<svg/>"), ("noext", b"x")):
        envelope(
            upload(api, api.owner, project["id"], name, data), 400, "BadRequest", "helpingmaterial"
        )
    envelope(
        upload(api, api.owner, project["id"], "big.png", b"x" * 101),
        400,
        "BadRequest",
        "helpingmaterial",
    )
    # a multipart request without its file part
    missing = api.client.post(
        "/api/helpingmaterial",
        query_string={"api_key": api.owner.key},
        data={"project_id": str(project["id"])},
        content_type="multipart/form-data",
    )
    envelope(missing, 400, "BadRequest", "helpingmaterial")
    assert stored_counts(api.app) == (1, 1)
    # only the project's managers may add material
    envelope(
        upload(api, api.other, project["id"], "a.png", b"x"), 403, "Forbidden", "helpingmaterial"
    )

    path = path_of(made)
    assert api.client.get(path).status_code == 404  # anonymous
    api.set_password(api.contributor)
    with browser(api.app, "contributor") as client:
        served = client.get(path)
        assert served.status_code == 200
        assert served.data == b"png bytes"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Security-Policy"].startswith("sandbox")
        # a drafted project's material is for its managers only
        api.ok(api.put(f"/api/project/{project['id']}", api.owner, {"published": False}))
        assert client.get(path).status_code == 404

    # the echoed object is accepted; a changed media_url of an upload is not
    echoed = {k: v for k, v in made.items() if k not in ("id", "created")}
    api.ok(api.put(f"/api/helpingmaterial/{made['id']}", api.owner, echoed))
    changed = {**echoed, "media_url": "https://elsewhere.example/x.png"}
    envelope(
        api.put(f"/api/helpingmaterial/{made['id']}", api.owner, changed),
        400,
        "BadRequest",
        "helpingmaterial",
    )
    assert api.delete(f"/api/helpingmaterial/{made['id']}", api.owner).status_code == 204
    assert stored_counts(api.app) == (0, 0)


def test_categories_are_admin_written_and_projects_check_them(api: Api) -> None:
    body = {"name": "Birds", "short_name": "birds", "description": "feathers"}
    envelope(api.post("/api/category", None, body), 401, "Unauthorized", "category")
    envelope(api.post("/api/category", api.owner, body), 403, "Forbidden", "category")
    category = api.ok(api.post("/api/category", api.admin, body))
    envelope(api.post("/api/category", api.admin, body), 415, "DBIntegrityError", "category")
    envelope(
        api.put(f"/api/category/{category['id']}", api.admin, {"id": 1, "name": "x"}),
        400,
        "BadRequest",
        "category",
    )
    assert api.ok(api.get("/api/category"))[0]["id"] == category["id"]
    project = api.project(api.owner, "cats")
    assert project["category_id"] == category["id"]
    envelope(
        api.put(f"/api/project/{project['id']}", api.owner, {"category_id": 999}),
        400,
        "BadRequest",
        "project",
    )
    assert api.delete(f"/api/category/{category['id']}", api.admin).status_code == 204
    assert api.ok(api.get(f"/api/project/{project['id']}", api.owner))["category_id"] is None
