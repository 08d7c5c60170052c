"""Project pages through the Flask test client: create, settings, publish, import, progress."""

from __future__ import annotations

import io

import pytest

from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import settle
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in

FORM = {
    "name": "Pets",
    "short_name": "pets",
    "description": "Cats and dogs",
    "question": "Which animal?",
    "answers": "cat\n dog \n\nbird\n",
    "default_n_answers": "3",
    "lease_ttl": "600",
    "ordering": "breadth_first",
    "instructions": "# Look closely\n\n<script>alert(1)</script> [x](javascript:alert(2))",
}


def project(short_name: str = "pets") -> Project:
    db.session.commit()  # a fresh snapshot: the requests share this session
    return db.session.scalar(db.select(Project).where(Project.short_name == short_name))


def tasks_of(project_id: int) -> list[Task]:
    db.session.commit()  # a fresh snapshot: the requests share this session
    return list(db.session.scalars(db.select(Task).where(Task.project_id == project_id)))


def test_create_project(client):
    make_user("alice")
    sign_in(client, "alice")
    assert client.get("/project/new").status_code == 200
    response = client.post("/project/new", data=FORM)
    assert response.status_code == 302
    assert response.headers["Location"] == "/project/pets/import"
    created = project()
    assert created.info["answers"] == ["cat", "dog", "bird"]
    assert created.info["question"] == "Which animal?"
    assert (created.default_n_answers, created.ordering) == (3, "breadth_first")
    assert not created.published
    listing = client.get("/").get_data(as_text=True)
    assert "Pets" in listing


def test_create_project_refuses_bad_values(client):
    make_user("alice")
    sign_in(client, "alice")
    one_option = client.post("/project/new", data={**FORM, "answers": "only"})
    assert "at least two answer options" in one_option.get_data(as_text=True)
    bad_short = client.post("/project/new", data={**FORM, "short_name": "Bad Name"})
    assert "short_name must be" in bad_short.get_data(as_text=True)
    assert project() is None
    client.post("/project/new", data=FORM)
    taken = client.post("/project/new", data=FORM)
    assert "name or short name exists" in taken.get_data(as_text=True)


def test_instructions_markdown_is_rendered_safely(client):
    make_user("alice")
    sign_in(client, "alice")
    client.post("/project/new", data=FORM)
    client.post("/project/pets/publish")
    for path in ("/project/pets/", "/project/pets/label"):
        page = client.get(path).get_data(as_text=True)
        assert "<h1>Look closely</h1>" in page
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="javascript:' not in page


def test_user_content_is_escaped_everywhere(client):
    alice = make_user("alice")
    payload = '<img src=x onerror="alert(1)">'
    make_project(alice, n_tasks=1, answers=(payload, "ok"))
    p = project()
    p.info = {**p.info, "question": payload}
    p.description = payload
    db.session.commit()
    sign_in(client, "alice")
    for path in ("/", "/project/pets/", "/project/pets/settings", "/project/pets/label"):
        page = client.get(path).get_data(as_text=True)
        assert payload not in page, path
        assert "&lt;img src=x onerror=" in page, path


def test_settings_edit_and_publish(client):
    alice = make_user("alice")
    make_project(alice, published=False)
    sign_in(client, "alice")
    page = client.get("/project/pets/settings").get_data(as_text=True)
    assert "cat\ndog\nbird" in page
    response = client.post(
        "/project/pets/settings", data={**FORM, "answers": "cat\ndog", "lease_ttl": "120"}
    )
    assert response.status_code == 302
    assert project().answer_options == ["cat", "dog"]
    assert project().lease_ttl == 120
    client.post("/project/pets/publish")
    assert project().published
    client.post("/project/pets/publish")
    assert not project().published


def test_redundancy_for_all_tasks(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=3, n_answers=3)
    bob = make_user("bob")
    claim = engine.claim(db.engine, p.id, bob.id)
    engine.submit(db.engine, claim.task["id"], bob.id, "cat")
    db.session.commit()  # end the test's read snapshot: the requests share its session
    sign_in(client, "alice")
    client.post("/project/pets/redundancy", data={"n_answers": "1"})
    assert sorted(t.n_answers for t in tasks_of(p.id)) == [1, 1, 1]
    assert sorted(t.state for t in tasks_of(p.id)) == ["completed", "ongoing", "ongoing"]
    assert project().default_n_answers == 1
    bad = client.post("/project/pets/redundancy", data={"n_answers": "0"}, follow_redirects=True)
    assert "at least 1" in bad.get_data(as_text=True)


def upload(client, body: bytes, filename: str):  # noqa: ANN001, ANN201
    return client.post(
        "/project/pets/import",
        data={"file": (io.BytesIO(body), filename)},
        content_type="multipart/form-data",
    )


def test_import_preview_then_confirm(client):
    alice = make_user("alice")
    p = make_project(alice)
    sign_in(client, "alice")
    rows = "".join(f"http://example.org/{i}.png,item {i}\n" for i in range(12))
    preview = upload(client, ("url,name\n" + rows).encode(), "tasks.csv")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "<strong>12 tasks</strong> will be imported" in page
    assert "http://example.org/4.png" in page
    assert "http://example.org/5.png" not in page  # the preview shows the first five
    assert tasks_of(p.id) == []  # nothing before the confirm
    done = client.post("/project/pets/import/confirm")
    assert done.status_code == 302
    # the import runs as a background job (in-process here), shown on its own page
    job_id = done.headers["Location"].rsplit("/", 1)[1]
    assert done.headers["Location"] == f"/project/pets/jobs/{job_id}"
    assert settle(job_id).status == "finished"
    imported = tasks_of(p.id)
    assert len(imported) == 12
    assert {t.info["name"] for t in imported} == {f"item {i}" for i in range(12)}
    # the pending upload is gone: confirming again imports nothing more
    again = client.post("/project/pets/import/confirm", follow_redirects=True)
    assert "upload the file again" in again.get_data(as_text=True)
    assert len(tasks_of(p.id)) == 12


def test_import_jsonl_and_cancel(client):
    alice = make_user("alice")
    p = make_project(alice)
    sign_in(client, "alice")
    body = b'{"url": "http://example.org/a.png"}\n{"url": "https://example.org/b.png"}\n'
    assert "<strong>2 tasks</strong>" in upload(client, body, "t.jsonl").get_data(as_text=True)
    client.post("/project/pets/import/cancel")
    assert client.post("/project/pets/import/confirm").status_code == 302
    assert tasks_of(p.id) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"url\njavascript:alert(1)\n", "javascript"),
        (b"", "Cannot tell"),
        (b"[1, 2]", "object"),
    ],
)
def test_import_errors_are_shown_in_the_form(client, body, message):
    alice = make_user("alice")
    make_project(alice)
    sign_in(client, "alice")
    response = upload(client, body, "t.csv" if body.startswith(b"url") else "t.bin")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="errors"' in page
    assert message.lower() in page.lower()


def test_progress_page(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=3, n_answers=1)
    bob = make_user("bob")
    claim = engine.claim(db.engine, p.id, bob.id)
    engine.submit(db.engine, claim.task["id"], bob.id, "dog")
    engine.claim(db.engine, p.id, alice.id)
    db.session.commit()
    sign_in(client, "alice")
    page = client.get("/project/pets/progress").get_data(as_text=True)
    assert '<dd id="stat-done">1</dd>' in page
    assert '<dd id="stat-in-progress">1</dd>' in page
    assert '<dd id="stat-open">1</dd>' in page
    assert '<th scope="row">bob</th><td>1</td>' in page


MANAGER_PAGES = [
    ("get", "/project/pets/settings"),
    ("post", "/project/pets/settings"),
    ("post", "/project/pets/publish"),
    ("post", "/project/pets/redundancy"),
    ("get", "/project/pets/import"),
    ("post", "/project/pets/import/confirm"),
    ("post", "/project/pets/import/s3"),
    ("get", "/project/pets/progress"),
    ("get", "/project/pets/results"),
    ("get", "/project/pets/download/answers.csv"),
]


def test_annotators_cannot_manage_other_projects(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=1)
    make_user("bob")
    sign_in(client, "bob")
    for method, path in MANAGER_PAGES:
        assert getattr(client, method)(path).status_code == 403, path
    # a published project is theirs to label
    assert client.get("/project/pets/label").status_code == 200
    assert client.get("/project/pets/").status_code == 200
    assert project().published  # unchanged by bob's attempts


def test_unpublished_projects_are_hidden_from_others(client):
    alice = make_user("alice")
    make_project(alice, published=False)
    make_user("bob")
    sign_in(client, "bob")
    for path in ("/project/pets/", "/project/pets/label", "/project/pets/settings"):
        assert client.get(path).status_code == 404, path
    assert "Pets" not in client.get("/").get_data(as_text=True)


def test_admins_manage_every_project(client):
    make_user("admin")
    bob = make_user("bob")
    make_project(bob, published=False)
    sign_in(client, "admin")
    for method, path in MANAGER_PAGES:
        if method == "get":
            assert client.get(path).status_code == 200, path


def test_anonymous_users_are_redirected_to_sign_in(client):
    alice = make_user("alice")
    make_project(alice)
    for method, path in [*MANAGER_PAGES, ("get", "/project/pets/label"), ("get", "/project/pets/")]:
        response = getattr(client, method)(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/account/signin?next=/project/pets"), path
