"""The first-hour pages through the Flask test client, on SQLite and on PostgreSQL: error pages
(and the API's unchanged JSON), the icon, the lifecycle and task-list endpoints, the profile and
the admin's password reset, counts in words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.consensus.models import Result
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.common.web import PASSWORD
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def site(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        make_user("admin")  # the first user is the admin
        make_user("owner")
        make_user("annotator")
        yield app
        db.session.remove()
        db.engine.dispose()


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name)
    return client


def fresh(model, oid):  # noqa: ANN001, ANN201
    db.session.commit()  # a new snapshot: the requests ran in their own sessions
    return db.session.get(model, oid)


def owner() -> User:
    return db.session.scalar(db.select(User).where(User.name == "owner"))


def answer(project: Project, user: User, *, result: bool = False) -> None:
    """An answer of ``user`` to the first task of ``project``, stored as the engine stores it
    (the row and the task's counter), and the task's result when ``result``."""
    task = db.session.scalar(db.select(Task).where(Task.project_id == project.id).limit(1))
    db.session.add(Answer(project_id=project.id, task_id=task.id, user_id=user.id, info="cat"))
    task.n_done += 1
    if result:
        db.session.add(Result(project_id=project.id, task_id=task.id, info="cat"))
    db.session.commit()


def test_errors_outside_the_api_are_styled_pages_with_a_way_home(site: Flask) -> None:
    project = make_project(owner(), published=False)
    client = client_of(site, "annotator")
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    html = missing.get_data(as_text=True)
    assert "Page not found" in html and 'id="error-home"' in html
    assert "Werkzeug" not in html and "requested URL was not found" not in html
    # a draft the annotator may not see: 404 (its existence is not leaked), same page
    assert client.get(f"/project/{project.short_name}/results").status_code == 404
    make_project(owner(), short_name="open", published=True)
    forbidden = client.get("/project/open/results")
    assert forbidden.status_code == 403
    assert "Not allowed" in forbidden.get_data(as_text=True)
    assert "permission to access" not in forbidden.get_data(as_text=True)
    admin_only = client.get("/admin/users")
    assert admin_only.status_code == 403 and "error-home" in admin_only.get_data(as_text=True)


def test_a_missing_csrf_token_is_a_styled_400(any_url: str) -> None:
    app = make_app(any_url)  # CSRF on, as deployed
    with app.app_context():
        make_user("admin")
        client = app.test_client()
        response = client.post("/account/signin", data={"login": "admin", "password": PASSWORD})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "Bad request" in html and "CSRF" in html and 'id="error-home"' in html
        db.session.remove()
        db.engine.dispose()


def test_a_too_large_upload_and_a_500_are_styled_pages(any_url: str) -> None:
    app = make_app(
        any_url, WTF_CSRF_ENABLED=False, MAX_CONTENT_LENGTH=1024, PROPAGATE_EXCEPTIONS=False
    )

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    with app.app_context():
        make_user("admin")
        make_project(owner=db.session.scalar(db.select(User)), short_name="pets")
        client = client_of(app, "admin")
        big = client.post(
            "/project/pets/import", data={"file": (__import__("io").BytesIO(b"x" * 4096), "t.csv")}
        )
        assert big.status_code == 413
        assert "at most 1 KiB" in big.get_data(as_text=True)
        assert 'id="error-home"' in big.get_data(as_text=True)
        crash = client.get("/boom")
        assert crash.status_code == 500
        html = crash.get_data(as_text=True)
        assert "Something went wrong" in html and "secret detail" not in html
        db.session.remove()
        db.engine.dispose()


def test_the_api_keeps_its_json_errors(site: Flask) -> None:
    client = site.test_client()
    for path in ("/api/nothing-here", "/api/project/999999", "/api/task/999999"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_json()
        assert body["status"] == "failed" and body["status_code"] == 404, path
    created = client.post("/api/project", json={"name": "x"})
    assert created.status_code == 401 and created.get_json()["exception_cls"] == "Unauthorized"


def test_json_requests_get_json_errors(site: Flask) -> None:
    client = client_of(site, "annotator")
    response = client.post("/project/nothing/label/state", json={})
    assert response.status_code == 404
    assert response.get_json()["error"]


def test_the_favicon_is_served(site: Flask) -> None:
    client = site.test_client()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert b"<svg" in icon.data
    page = client.get("/account/signin").get_data(as_text=True)
    assert 'rel="icon"' in page and "favicon.svg" in page


def test_publish_archive_and_unarchive(site: Flask) -> None:
    project = make_project(owner(), published=False)
    client = client_of(site, "owner")
    overview = client.get("/project/pets/").get_data(as_text=True)
    assert 'data-state="draft"' in overview and 'id="publish"' in overview
    response = client.post("/project/pets/publish", data={"next": "/project/pets/"})
    assert response.status_code == 302 and response.headers["Location"] == "/project/pets/"
    assert fresh(Project, project.id).published
    client.post("/project/pets/archive", data={"archived": "1"})
    archived = fresh(Project, project.id)
    assert archived.archived and not archived.published
    home = client.get("/").get_data(as_text=True)
    assert 'data-state="archived"' in home and "<h2>Archived</h2>" in home
    # an archived project cannot be published before it is unarchived
    client.post("/project/pets/publish")
    assert not fresh(Project, project.id).published
    client.post("/project/pets/archive", data={"archived": "0"})
    back = fresh(Project, project.id)
    assert not back.archived and not back.published
    # an annotator may do none of it
    other = client_of(site, "annotator")
    assert other.post("/project/pets/archive", data={"archived": "1"}).status_code == 404


def test_home_cards_show_state_and_answers_collected(site: Flask) -> None:
    project = make_project(owner(), n_tasks=2, n_answers=2)
    annotator = db.session.scalar(db.select(User).where(User.name == "annotator"))
    answer(project, annotator)
    home = client_of(site, "owner").get("/").get_data(as_text=True)
    assert 'data-state="published"' in home
    assert "1 answer of 4 collected (25%)" in home
    theirs = client_of(site, "annotator").get("/").get_data(as_text=True)
    assert "You answered 1 of 2 tasks" in theirs
    assert 'data-state="' not in theirs  # the state badge is for managers


def test_delete_says_what_goes_and_needs_the_short_name(site: Flask) -> None:
    project = make_project(owner(), n_tasks=3)
    client = client_of(site, "owner")
    page = client.get("/project/pets/delete").get_data(as_text=True)
    assert "3 tasks" in page and "0 answers" in page
    wrong = client.post("/project/pets/delete", data={"confirm": "pet"})
    assert wrong.status_code == 400 and fresh(Project, project.id) is not None
    done = client.post("/project/pets/delete", data={"confirm": "pets"})
    assert done.status_code == 302
    assert fresh(Project, project.id) is None
    assert db.session.scalar(db.select(db.func.count()).select_from(Task)) == 0


def test_only_an_admin_deletes_a_project_with_results(site: Flask) -> None:
    project = make_project(owner(), n_tasks=1, n_answers=1)
    annotator = db.session.scalar(db.select(User).where(User.name == "annotator"))
    answer(project, annotator, result=True)
    client = client_of(site, "owner")
    assert "only an admin may delete it" in client.get("/project/pets/delete").get_data(
        as_text=True
    )
    refused = client.post("/project/pets/delete", data={"confirm": "pets"})
    assert refused.status_code == 400 and fresh(Project, project.id) is not None
    admin = client_of(site, "admin")
    assert admin.post("/project/pets/delete", data={"confirm": "pets"}).status_code == 302
    assert fresh(Project, project.id) is None
    assert db.session.scalar(db.select(db.func.count()).select_from(Answer)) == 0


def test_task_list_pages_edits_and_deletes(site: Flask) -> None:
    project = make_project(owner(), n_tasks=55, n_answers=2)
    ids = list(
        db.session.scalars(
            db.select(Task.id).where(Task.project_id == project.id).order_by(Task.id)
        )
    )
    client = client_of(site, "owner")
    first = client.get("/project/pets/tasks").get_data(as_text=True)
    assert "55 tasks, page 1 of 2" in first and f'id="task-{ids[49]}"' in first
    assert f'id="task-{ids[50]}"' not in first
    second = client.get("/project/pets/tasks?page=2").get_data(as_text=True)
    assert f'id="task-{ids[54]}"' in second and f'id="task-{ids[0]}"' not in second
    saved = client.post(
        f"/project/pets/tasks/{ids[0]}", data={"priority": "0.9", "n_answers": "1", "page": "2"}
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith(
        "/project/pets/tasks?page=2"
    )
    task = fresh(Task, ids[0])
    assert task.priority_0 == 0.9 and task.n_answers == 1
    bad = client.post(f"/project/pets/tasks/{ids[0]}", data={"priority": "nan", "n_answers": "1"})
    assert bad.status_code == 303 and fresh(Task, ids[0]).priority_0 == 0.9
    client.post(f"/project/pets/tasks/{ids[1]}/delete")
    assert fresh(Task, ids[1]) is None
    # another project's task is not reachable through this one
    other = make_project(owner(), short_name="other", n_tasks=1)
    foreign = db.session.scalar(db.select(Task.id).where(Task.project_id == other.id))
    client.post(f"/project/pets/tasks/{foreign}/delete")
    assert fresh(Task, foreign) is not None
    annotator = client_of(site, "annotator")
    assert annotator.get("/project/pets/tasks").status_code == 403
    assert annotator.post(f"/project/pets/tasks/{ids[2]}/delete").status_code == 403


def test_new_project_short_name_is_derived_when_left_empty(site: Flask) -> None:
    client = client_of(site, "owner")
    form = {
        "name": "Cats & Dogs",
        "short_name": "",
        "question": "Which?",
        "answers": "cat\ndog",
        "default_n_answers": "2",
        "lease_ttl": "600",
        "ordering": "depth_first",
        "consensus_method": "majority_vote",
    }
    assert client.post("/project/new", data=form).status_code == 302
    assert client.post("/project/new", data={**form, "name": "Cats + Dogs"}).status_code == 302
    db.session.commit()
    names = set(db.session.scalars(db.select(Project.short_name)))
    assert names == {"cats-dogs", "cats-dogs-2"}
    page = client.get("/project/new").get_data(as_text=True)
    assert '<details class="advanced" id="advanced">' in page


def test_the_s3_import_shows_only_when_s3_is_configured(any_url: str) -> None:
    for config, shown in (({}, False), ({"S3_BUCKET": "images"}, True)):
        app = make_app(any_url, WTF_CSRF_ENABLED=False, **config)
        with app.app_context():
            if not db.session.scalar(db.select(User)):
                make_user("admin")
                make_project(db.session.scalar(db.select(User)))
            page = client_of(app, "admin").get("/project/pets/import").get_data(as_text=True)
            assert ('id="import-s3"' in page) is shown
            db.session.remove()
            db.engine.dispose()


def test_profile_changes_name_and_address(site: Flask) -> None:
    client = client_of(site, "owner")
    response = client.post(
        "/account/profile", data={"fullname": "Olive Owner", "email": "olive@example.org"}
    )
    assert response.status_code == 302
    user = owner()
    db.session.refresh(user)
    assert (user.fullname, user.email_addr) == ("Olive Owner", "olive@example.org")
    taken = client.post("/account/profile", data={"fullname": "", "email": "ADMIN@example.org"})
    assert taken.status_code == 200
    assert "belongs to another account" in taken.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email_addr == "olive@example.org"


def test_admin_sets_a_new_password(site: Flask) -> None:
    victim = owner()
    client = client_of(site, "owner")  # a session that must end
    admin = client_of(site, "admin")

    def post(who: FlaskClient, password: str) -> int:
        # each request in a fresh app context: Flask-Login keeps the last user in g
        with site.app_context():
            url = f"/admin/users/{victim.id}/password"
            return who.post(url, data={"password": password}).status_code

    assert post(admin, "a new secret 42") == 302
    with site.app_context():
        assert client.get("/account/").status_code == 302  # signed out
        sign_in(site.test_client(), "owner", "a new secret 42")
    assert post(admin, "short") == 302  # refused with a message: the password stays
    with site.app_context():
        sign_in(site.test_client(), "owner", "a new secret 42")
    with site.app_context():
        annotator = client_of(site, "annotator")
    assert post(annotator, "x" * 12) == 403


def test_counts_in_flash_messages_use_the_plural_helper(site: Flask) -> None:
    make_project(owner(), n_tasks=1)
    client = client_of(site, "owner")
    response = client.post(
        "/project/pets/redundancy", data={"n_answers": "4"}, follow_redirects=True
    )
    assert "Redundancy set to 4 for 1 task." in response.get_data(as_text=True)


def test_counts_on_the_results_page_use_the_plural_helper(site: Flask) -> None:
    from labelhive.results import services as results

    project = make_project(owner(), n_tasks=1, n_answers=1)
    annotator = db.session.scalar(db.select(User).where(User.name == "annotator"))
    answer(project, annotator)
    results.recompute(project.id)
    db.session.commit()
    page = client_of(site, "owner").get("/project/pets/results").get_data(as_text=True)
    assert "1 item, 1 answer, method" in page and "1 items" not in page
    assert "The first row" in page and "The first 1 rows" not in page
