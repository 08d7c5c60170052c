"""Hostile input: oversized bodies, archives, broken CSV, deep JSON, confusable names, path
traversal, server-side requests and open redirects. Each is refused clearly (a 4xx with a
sentence), never a 500, and never acted on."""

from __future__ import annotations

import ast
import io
import json
import os
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.projects.models import Project
from labelhive.storage import s3
from labelhive.storage.scope import S3Scope
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

LIMIT = 64 * 1024
APP_ROOT = Path(__file__).resolve().parents[2] / "app" / "labelhive"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, User, Project]]:
    """An app with a small upload limit, an owner and a published project, shared by the
    module (each test's requests stand alone; set-up costs a migration and a password hash).
    Every test runs on SQLite and on PostgreSQL, which refuses more (32-bit integers, no NUL in
    text, no lone surrogates through psycopg): what it refuses must be a 4xx there too."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'labelhive.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"hostile_{os.getpid()}")
    # many sign-ins below from one address: the sign-in limit is tested in test_sessions.py
    app = make_app(
        url, WTF_CSRF_ENABLED=False, MAX_CONTENT_LENGTH=LIMIT, RATELIMIT_SIGNIN="1000 per minute"
    )
    with app.app_context():
        owner = make_user("owner")
        project = make_project(owner, n_tasks=1)
        yield app, owner, project
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def owner_client(world: tuple[Flask, User, Project]) -> FlaskClient:
    app, _, _ = world
    client = app.test_client()
    sign_in(client, "owner")
    return client


def _upload(client: FlaskClient, name: str, data: bytes, content_type: str = "text/csv"):  # noqa: ANN202
    return client.post(
        "/project/pets/import",
        data={"file": (io.BytesIO(data), name, content_type)},
        content_type="multipart/form-data",
    )


# --- huge uploads -------------------------------------------------------------------------


def test_upload_beyond_the_limit_is_413_with_a_message(owner_client: FlaskClient) -> None:
    response = _upload(owner_client, "tasks.csv", b"url\n" + b"x" * (LIMIT + 1))
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "too large" in text.lower()
    assert "64 KiB" in text  # says what the limit is


def test_api_body_beyond_the_limit_is_413_envelope(world, owner_client) -> None:  # noqa: ANN001
    _, owner, project = world
    body = json.dumps({"project_id": project.id, "info": {"pad": "x" * (LIMIT + 1)}})
    response = owner_client.post(
        "/api/task",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": owner.api_key},
    )
    assert response.status_code == 413
    envelope = response.get_json()
    assert envelope["exception_cls"] == "RequestEntityTooLarge"
    assert "too large" in envelope["exception_msg"].lower()


# --- archives: no upload accepts them --------------------------------------------------------


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # 20 MB of zeros deflate to about 20 KB: under the upload limit
        archive.writestr("tasks.csv", b"url\n" + b"0" * 20_000_000)
    return buffer.getvalue()


def test_zip_upload_is_refused_clearly(owner_client: FlaskClient) -> None:
    bomb = _zip_bomb()
    assert len(bomb) < LIMIT
    for name, content_type in (("tasks.zip", "application/zip"), ("tasks.csv", "text/csv")):
        response = _upload(owner_client, name, bomb, content_type)
        text = response.get_data(as_text=True)
        # the form again, with the reason; no preview, so nothing was unpacked or imported
        assert response.status_code == 200
        assert 'id="file-errors"' in text
        assert "Cannot tell the file" in text or "NUL byte" in text
        assert "/import/confirm" not in text


def test_archive_helping_material_is_refused(world, owner_client) -> None:  # noqa: ANN001
    _, owner, project = world
    response = owner_client.post(
        "/api/helpingmaterial",
        data={"project_id": str(project.id), "file": (io.BytesIO(_zip_bomb()), "help.zip")},
        headers={"Authorization": owner.api_key},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "zip" in response.get_json()["exception_msg"].lower()


# --- CSV with NUL bytes and mixed encodings -------------------------------------------------


def test_csv_with_nul_bytes_is_refused(owner_client: FlaskClient) -> None:
    response = _upload(owner_client, "tasks.csv", b"url,name\nhttps://x.test/a.png,a\x00b\n")
    text = response.get_data(as_text=True)
    assert 'id="file-errors"' in text and "NUL byte" in text


@pytest.mark.parametrize(
    "data",
    [
        "url,name\nhttps://x.test/a.png,café\n".encode("latin-1"),
        b"url,name\n" + "https://x.test/a.png,café\n".encode("utf-16"),
        "url,name\nhttps://x.test/a.png,é\n".encode() + "https://x.test/b.png,é\n".encode("cp1252"),
    ],
)
def test_csv_in_mixed_or_wrong_encodings_is_refused(owner_client, data) -> None:  # noqa: ANN001
    response = _upload(owner_client, "tasks.csv", data)
    text = response.get_data(as_text=True)
    assert 'id="file-errors"' in text and "UTF-8" in text
    assert "/import/confirm" not in text


def test_utf8_bom_and_unicode_are_accepted() -> None:
    [spec] = importers.parse_tasks(
        io.BytesIO("\ufeffurl,name\nhttps://x.test/a.png,café\n".encode()), "csv"
    )
    assert spec.info["name"] == "café"


# --- deeply nested JSON ----------------------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [40, 10_000])
def test_deep_task_info_is_400(world, owner_client, depth) -> None:  # noqa: ANN001
    _, owner, project = world
    body = f'{{"project_id": {project.id}, "info": {_nested(depth)}}}'
    response = owner_client.post(
        "/api/task",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": owner.api_key},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "nested" in response.get_json()["exception_msg"]


def test_moderately_nested_task_info_is_accepted(world, owner_client) -> None:  # noqa: ANN001
    _, owner, project = world
    info = json.loads(_nested(10))
    info["url"] = "https://x.test/a.png"
    response = owner_client.post(
        "/api/task",
        json={"project_id": project.id, "info": info},
        headers={"Authorization": owner.api_key},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("depth", [40, 10_000])
def test_deep_answer_is_400(world, owner_client, depth) -> None:  # noqa: ANN001
    _, owner, project = world
    task_id = project.tasks[0].id if hasattr(project, "tasks") else 1
    api = owner_client.post(
        "/api/taskrun",
        data=f'{{"task_id": {task_id}, "info": {_nested(depth)}}}',
        headers={"Content-Type": "application/json", "Authorization": owner.api_key},
    )
    assert api.status_code == 400, api.get_data(as_text=True)
    web = owner_client.post(
        "/project/pets/label/answer",
        data=f'{{"task_id": {task_id}, "answer": {_nested(depth)}}}',
        headers={"Content-Type": "application/json"},
    )
    assert web.status_code == 400, web.get_data(as_text=True)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_deep_json_import_is_refused(fmt: str) -> None:
    row = '{"url": "https://x.test/a.png", "deep": ' + _nested(100_000) + "}"
    data = (f"[{row}]" if fmt == "json" else row + "\n").encode()
    with pytest.raises(importers.ImportFormatError, match="nested"):
        importers.parse_tasks(io.BytesIO(data), fmt)


# --- unicode confusables in short names ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ｃａｔｓ", "cats"),
        ("Cats", None),
        ("ca\u200bts", None),
        ("саts", None),
        ("cats\u0301", None),
    ],
)
def test_short_names_are_nfkc_ascii(world, owner_client, given, stored) -> None:  # noqa: ANN001
    _, owner, _ = world
    response = owner_client.post(
        "/api/project",
        json={"name": f"Cats {given}", "short_name": given, "info": {"answers": ["a", "b"]}},
        headers={"Authorization": owner.api_key},
    )
    if stored is None:
        assert response.status_code == 400, response.get_data(as_text=True)
        assert "short_name" in response.get_json()["exception_msg"]
    else:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["short_name"] == stored


def test_confusable_short_name_cannot_shadow_another(world, owner_client) -> None:  # noqa: ANN001
    _, owner, _ = world
    response = owner_client.post(
        "/api/project",
        json={"name": "Other pets", "short_name": "ｐｅｔｓ", "info": {"answers": ["a", "b"]}},
        headers={"Authorization": owner.api_key},
    )
    # NFKC makes it "pets", which exists
    assert response.status_code == 415
    assert response.get_json()["exception_cls"] == "DBIntegrityError"


# --- path traversal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "..%2Fanswers.csv",
        "%2e%2e%2fanswers.csv",
        "answers.csv%00.json",
        "....//answers.csv",
    ],
)
def test_export_names_cannot_traverse(world, owner_client, name) -> None:  # noqa: ANN001
    _, owner, project = world
    api = owner_client.get(
        f"/api/project/{project.id}/export/{name}", headers={"Authorization": owner.api_key}
    )
    # a NUL is refused before routing (400), the rest find no file (404)
    assert api.status_code == (400 if "%00" in name else 404)
    web = owner_client.get(f"/project/pets/download/{name}")
    assert web.status_code == 404
    helping = owner_client.get(f"/helping/{project.id}/{name}")
    assert helping.status_code == 404


def test_export_attachment_name_is_a_plain_file_name() -> None:
    from labelhive.api.exports import attachment_name

    name = attachment_name('../x"\r\n', "answers", "csv")
    assert name == ".._x___-answers.csv"
    assert not set(name) & set('/\\"\r\n')


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/../other/key.png",
        "s3://bucket/a/../../api/user",
        "s3://bucket/./key.png",
        "s3://bucket/a/%2e%2e/b.png",
        "s3://../key.png",
    ],
)
def test_s3_keys_cannot_traverse(url: str) -> None:
    # no proxied URL is made for it (returns before presigning: no S3 needed)
    # (even for a project whose storage is the whole bucket)
    assert s3.image_url(url, S3Scope(("bucket",))) is None
    with pytest.raises(importers.ImportFormatError):
        importers.parse_tasks(io.BytesIO(f"url\n{url}\n".encode()), "csv")


# --- server-side requests (SSRF) --------------------------------------------------------------

# the only modules that may open network connections, and what to
ALLOWED_NETWORK = {
    "storage/s3.py": "boto3 to the configured S3_ENDPOINT_URL only",
    "imports/s3_prefix.py": "lists the configured S3 bucket through storage/s3.py",
    "jobs/connection.py": "Redis / Sentinel from REDIS_* settings",
    "cli.py": "binds a listening socket to check the serve port; connects nowhere",
    "server.py": "binds a socket to check that the serve port is free; connects nowhere",
    "accounts/identity/oidc.py": (
        "catches the errors of Authlib's requests client, which talks only to the configured "
        "OIDC_ISSUER (discovery) and the endpoints its discovery document names"
    ),
}
NETWORK_MODULES = {
    "requests",
    "httpx",
    "aiohttp",
    "urllib.request",
    "urllib3",
    "http.client",
    "socket",
    "pycurl",
}


def test_no_server_side_fetch_outside_the_allow_list() -> None:
    offenders = []
    for path in APP_ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name in NETWORK_MODULES or name.split(".")[0] in {"requests", "httpx"}:
                    relative = path.relative_to(APP_ROOT).as_posix()
                    if relative not in ALLOWED_NETWORK:
                        offenders.append(f"{relative}: {name}")
    assert not offenders, offenders


class Listener:
    """A loopback socket that counts connections (an attacker's internal target)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.sock.close()


def test_image_urls_are_never_fetched_by_the_server(world, owner_client) -> None:  # noqa: ANN001
    _, owner, project = world
    listener = Listener()
    try:
        target = f"http://127.0.0.1:{listener.port}/latest/meta-data/x.png"
        headers = {"Authorization": owner.api_key}
        task = owner_client.post(
            "/api/task",
            json={"project_id": project.id, "info": {"url": target}},
            headers=headers,
        )
        assert task.status_code == 200
        csv_rows = f"url\n{target}?csv\n".encode()
        assert _upload(owner_client, "tasks.csv", csv_rows).status_code == 200
        owner_client.post("/project/pets/import/confirm", data={})
        # the labeling page, the API hand-out, exports and results: the URL is only echoed
        page = owner_client.get("/project/pets/label")
        assert page.status_code == 200
        state = owner_client.post("/project/pets/label/state", json={})
        assert state.status_code == 200
        for what in ("tasks", "answers", "results"):
            assert owner_client.get(f"/project/pets/download/{what}.csv").status_code == 200
        assert (
            owner_client.get(f"/api/project/{project.id}/newtask", headers=headers).status_code
            == 200
        )
    finally:
        listener.close()
    assert listener.connections == 0


# --- open redirects after sign-in ---------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\\/evil.com",
        "http:evil.com",
        "///evil.com",
        " //evil.com",
        "\t//evil.com",
        "javascript:alert(1)",
    ],
)
def test_next_after_sign_in_stays_on_site(world, target) -> None:  # noqa: ANN001
    app, _, _ = world
    client = app.test_client()
    response = client.post(
        "/account/signin",
        data={"login": "owner", "password": "correct horse battery", "next": target},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_to_a_local_page_is_kept(world) -> None:  # noqa: ANN001
    app, _, _ = world
    client = app.test_client()
    response = client.post(
        "/account/signin",
        data={"login": "owner", "password": "correct horse battery", "next": "/project/pets/"},
    )
    assert response.headers["Location"] == "/project/pets/"


# --- hostile identifiers and values: 4xx on both databases -------------------------------------

BIG = [2**31, 2**49, 2**63, 2**64]


def _api(client: FlaskClient, owner: User, method: str, path: str, data: str | None = None):  # noqa: ANN202
    headers = {"Authorization": owner.api_key, "Content-Type": "application/json"}
    return client.open(path, method=method, data=data, headers=headers)


def _is_4xx(response) -> bool:  # noqa: ANN001
    return 400 <= response.status_code < 500 and bool(response.get_json()["exception_msg"])


@pytest.mark.parametrize("number", BIG)
def test_ids_beyond_the_integer_columns_are_4xx(world, owner_client, number) -> None:  # noqa: ANN001
    _, owner, project = world
    for path in (
        f"/api/task/{number}",
        f"/api/project/{number}",
        f"/api/project/{number}/newtask",
        f"/api/project/{number}/userprogress",
        f"/api/task?id={number}",
        f"/api/task?last_id={number}",
        f"/api/taskrun?task_id={number}",
        f"/api/project?all=1&owner_id={number}",
    ):
        response = _api(owner_client, owner, "GET", path)
        assert _is_4xx(response), (path, response.status_code, response.get_data(as_text=True))
    for body in (
        {"project_id": number, "info": {"url": "https://x.test/a.png"}},
        {"project_id": str(number), "info": {"url": "https://x.test/a.png"}},
    ):
        response = _api(owner_client, owner, "POST", "/api/task", json.dumps(body))
        assert response.status_code == 400, response.get_data(as_text=True)
        assert "project_id" in response.get_json()["exception_msg"]
    response = _api(
        owner_client, owner, "POST", "/api/taskrun", json.dumps({"task_id": number, "info": "x"})
    )
    assert _is_4xx(response), response.get_data(as_text=True)


@pytest.mark.parametrize("digits", ["³", "٣", "１", "²³"])
def test_non_ascii_digits_are_not_ids(world, owner_client, digits) -> None:  # noqa: ANN001
    _, owner, project = world
    for path in (
        f"/api/project/{digits}/newtask",
        f"/api/project/{digits}/userprogress",
        f"/api/task?id={digits}",
        f"/api/task?last_id={digits}",
        f"/api/project/{project.id}/jobs?limit={digits}",
    ):
        response = _api(owner_client, owner, "GET", path)
        assert _is_4xx(response), (path, response.status_code, response.get_data(as_text=True))
    body = json.dumps({"project_id": digits, "info": {"url": "https://x.test/a.png"}})
    response = _api(owner_client, owner, "POST", "/api/task", body)
    assert response.status_code == 400 and "whole number" in response.get_json()["exception_msg"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/project?name=a%00b",
        "/api/project?created=2026%00",
        "/api/task?info=url::a%00",
        "/api/project/pe%00ts/newtask",
        "/api/user?name=%00",
        "/api/project?all=1&x%00=1",
    ],
)
def test_nul_in_the_url_is_400(world, owner_client, path) -> None:  # noqa: ANN001
    _, owner, _ = world
    response = _api(owner_client, owner, "GET", path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "NUL" in response.get_json()["exception_msg"]


def _project_body(**values: object) -> dict:
    return {"name": "Nul", "short_name": "nul", "info": {"answers": ["a", "b"]}, **values}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps(_project_body(name="a\u0000b")), "NUL"),
        (json.dumps(_project_body(description="x\u0000")), "NUL"),
        (json.dumps(_project_body(info={"answers": ["a", "b"], "k\u0000": 1})), "NUL"),
        ('{"name": "\\ud800", "short_name": "s1", "info": {"answers": ["a", "b"]}}', "surrogate"),
        ('{"name": "x", "short_name": "s2", "info": {"answers": ["\\udfff", "b"]}}', "surrogate"),
        ('{"name": "x", "short_name": "s3", "info": {"answers": ["a", "b"], "w": NaN}}', "NaN"),
        (
            '{"name": "x", "short_name": "s4", "info": {"w": Infinity, "answers": ["a"]}}',
            "Infinity",
        ),
        (
            '{"name": "x", "short_name": "s5", "info": {"w": -Infinity, "answers": ["a"]}}',
            "Infinity",
        ),
        (json.dumps(_project_body(short_name={})), "short_name must be a string"),
        (json.dumps(_project_body(short_name=["pets"])), "short_name must be a string"),
        (json.dumps(_project_body(name={"a": 1})), "name must be a string"),
        (json.dumps(_project_body(description=5)), "description must be a string"),
    ],
)
def test_hostile_project_bodies_are_400(world, owner_client, body, reason) -> None:  # noqa: ANN001
    _, owner, project = world
    for method, path in (("POST", "/api/project"), ("PUT", f"/api/project/{project.id}")):
        response = _api(owner_client, owner, method, path, body)
        assert response.status_code == 400, (method, response.get_data(as_text=True))
        assert reason in response.get_json()["exception_msg"]


@pytest.mark.parametrize(
    "info", ['{"url": "https://x.test/a.png", "n": NaN}', '{"url": "a\\u0000.png"}', '"\\ud800"']
)
def test_hostile_task_and_answer_bodies_are_400(world, owner_client, info) -> None:  # noqa: ANN001
    _, owner, project = world
    task = _api(
        owner_client, owner, "POST", "/api/task", f'{{"project_id": {project.id}, "info": {info}}}'
    )
    assert task.status_code == 400, task.get_data(as_text=True)
    answer = _api(owner_client, owner, "POST", "/api/taskrun", f'{{"task_id": 1, "info": {info}}}')
    assert answer.status_code == 400, answer.get_data(as_text=True)
    # the labeling page's own JSON endpoint reads bodies with request.get_json(): refused too
    web = owner_client.post(
        "/project/pets/label/answer",
        data=f'{{"task_id": 1, "answer": {info}}}',
        headers={"Content-Type": "application/json"},
    )
    assert web.status_code == 400, web.get_data(as_text=True)


def test_a_very_wide_csv_is_refused_at_preview(owner_client: FlaskClient) -> None:
    header = ",".join(["url"] + [f"c{i}" for i in range(2_000)])
    data = f"{header}\nhttps://x.test/a.png{',1' * 2_000}\n".encode()
    assert len(data) < LIMIT
    text = _upload(owner_client, "tasks.csv", data).get_data(as_text=True)
    assert 'id="file-errors"' in text and "2,001 columns; at most 1,000" in text
    assert "/import/confirm" not in text
