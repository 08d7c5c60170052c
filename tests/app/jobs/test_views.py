"""The job page, its JSON status and the export download, through the web UI."""

from __future__ import annotations

import io
import re

from labelhive import starters
from labelhive.extensions import db
from tests.app.jobs.conftest import settle
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def upload_and_confirm(client, rows: int) -> str:  # noqa: ANN001
    body = "url,name\n" + "".join(f"http://example.org/{i}.png,item {i}\n" for i in range(rows))
    preview = client.post(
        "/project/pets/import",
        data={"file": (io.BytesIO(body.encode()), "tasks.csv")},
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    done = client.post("/project/pets/import/confirm")
    assert done.status_code == 302
    return done.headers["Location"].rsplit("/", 1)[1]


def test_a_confirmed_upload_is_imported_by_a_job_whose_page_links_the_tasks(client):
    alice = make_user("alice")
    make_project(alice)
    sign_in(client, "alice")
    job_id = upload_and_confirm(client, 7)
    record = settle(job_id)
    assert record.status == "finished", record.error
    assert record.user_id == alice.id and record.kind == "import"
    page = client.get(f"/project/pets/jobs/{job_id}").get_data(as_text=True)
    assert '<strong id="job-status" role="status" aria-live="polite">finished</strong>' in page
    assert "7 of 7 rows done" in page
    assert "Imported 7 tasks" in page and 'href="/project/pets/progress"' in page
    # an ended job is not polled any more
    assert "data-status-url" not in page
    status = client.get(f"/project/pets/jobs/{job_id}/status")
    assert status.headers["Cache-Control"] == "no-store"
    body = status.get_json()
    assert (body["status"], body["done"], body["total"], body["ended"]) == ("finished", 7, 7, True)
    assert body["tasks_url"] == "/project/pets/progress" and body["download_url"] is None
    # the import page lists it
    assert f'/project/pets/jobs/{job_id}"' in client.get("/project/pets/import").get_data(
        as_text=True
    )


def test_an_unfinished_job_page_polls_its_status_with_a_static_script(client):
    alice = make_user("alice")
    project = make_project(alice)
    record = starters.start_import(project, alice, b"url\nhttp://example.org/1.png\n", "csv")
    job_id = record.id
    db.session.info.clear()  # keep it queued: nothing runs it
    db.session.commit()
    sign_in(client, "alice")
    page = client.get(f"/project/pets/jobs/{job_id}").get_data(as_text=True)
    assert f'data-status-url="/project/pets/jobs/{job_id}/status"' in page
    assert '<script src="/static/job.js" defer></script>' in page
    # no inline script: every <script> loads a file
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
    body = client.get(f"/project/pets/jobs/{job_id}/status").get_json()
    assert (body["status"], body["done"], body["ended"]) == ("queued", 0, False)
    script = client.get("/static/job.js")
    assert script.status_code == 200 and b"data-status-url" in script.data
    script.close()


def test_a_failed_import_shows_the_parsers_sentence(client):
    alice = make_user("alice")
    project = make_project(alice)
    record = starters.start_import(project, alice, b"url\njavascript:alert(1)\n", "csv")
    db.session.commit()
    assert settle(record.id).status == "failed"
    sign_in(client, "alice")
    page = client.get(f"/project/pets/jobs/{record.id}").get_data(as_text=True)
    assert 'class="flash flash-error" id="job-error"' in page and "Row 1" in page
    assert client.get(f"/project/pets/jobs/{record.id}/status").get_json()["ended"] is True


def test_job_pages_are_for_the_projects_managers_only(client):
    alice = make_user("alice")
    pets = make_project(alice)
    make_project(alice, short_name="birds")
    make_user("bob")
    record = starters.start_export(pets, alice, "tasks", "csv")
    job_id = record.id
    db.session.commit()
    assert settle(job_id).status == "finished"
    paths = [f"/project/pets/jobs/{job_id}{tail}" for tail in ("", "/status", "/download")]
    # anonymous: sent to sign in
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302 and "/account/signin" in response.headers["Location"]
    sign_in(client, "bob")
    for path in paths:
        assert client.get(path).status_code == 403, path
    client.post("/account/signout")
    sign_in(client, "alice")
    assert client.get(paths[2]).status_code == 200
    # a job is only found under its own project, and unknown ids are 404
    assert client.get(f"/project/birds/jobs/{job_id}").status_code == 404
    assert client.get(f"/project/birds/jobs/{job_id}/download").status_code == 404
    assert client.get("/project/pets/jobs/import-1-nope/status").status_code == 404


def test_the_status_poll_is_not_cut_off_by_the_sites_default_rate_limit(client):
    alice = make_user("alice")
    project = make_project(alice)
    record = starters.start_import(project, alice, b"url\nhttp://example.org/1.png\n", "csv")
    job_id = record.id
    db.session.info.clear()  # keep it queued: nothing runs it
    db.session.commit()
    sign_in(client, "alice")
    # the job page itself has the site's default limit per route (RATELIMIT_DEFAULT, 300/15 min)
    allowed = 0
    while client.get(f"/project/pets/jobs/{job_id}").status_code == 200:
        allowed += 1
        assert allowed <= 300, "the default rate limit is not on"
    polls = {
        client.get(f"/project/pets/jobs/{job_id}/status").status_code for _ in range(allowed + 1)
    }
    assert polls == {200}
