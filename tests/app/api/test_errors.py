"""Unknown routes and methods answer with the JSON envelope, never the HTML page."""

from __future__ import annotations

import pytest

from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


@pytest.mark.parametrize(
    ("method", "path", "status", "cls", "target"),
    [
        ("GET", "/api/nothing", 404, "NotFound", "nothing"),
        ("GET", "/api/task/abc", 404, "NotFound", "task"),
        ("GET", "/api/task/", 404, "NotFound", "task"),
        ("GET", "/api/", 404, "NotFound", "api"),
        ("PATCH", "/api/task/1", 405, "MethodNotAllowed", "task"),
        ("POST", "/api/user", 405, "MethodNotAllowed", "user"),
        ("DELETE", "/api/user/1", 405, "MethodNotAllowed", "user"),
        ("PUT", "/api/project", 405, "MethodNotAllowed", "project"),
        ("GET", "/api/task/99", 404, "NotFound", "task"),
        ("GET", "/api/result/99", 404, "NotFound", "result"),
        ("GET", "/api/taskrun/99", 404, "NotFound", "taskrun"),
    ],
)
def test_envelopes(api: Api, method, path, status, cls, target):
    response = api.call(method, path, api.admin)
    assert response.mimetype == "application/json"
    envelope(response, status, cls, target)


def test_405_names_the_allowed_methods(api: Api):
    error = envelope(
        api.call("PATCH", "/api/project/1", api.owner), 405, "MethodNotAllowed", "project"
    )
    assert "GET, PUT, DELETE" in error["exception_msg"]


def test_file_uploads_and_non_objects_are_415(api: Api):
    envelope(
        api.post(
            "/api/taskrun",
            api.owner,
            raw=b"--x--",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        ),
        415,
        "ValueError",
        "taskrun",
    )
    envelope(api.post("/api/project", api.owner, [1, 2]), 415, "TypeError", "project")
