"""The results page's background exports: a job builds the file, its page links the download."""

from __future__ import annotations

import json

from labelhive.extensions import db
from tests.app.jobs.conftest import settle
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def start(client, **data: str) -> str:  # noqa: ANN001
    response = client.post("/project/pets/results/export", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/project/pets/jobs/export-")
    return location.rsplit("/", 1)[1]


def test_answers_and_dataset_exports_run_as_jobs_with_a_download(client, app):
    alice = make_user("alice")
    project = make_project(alice, n_tasks=3, n_answers=1)
    claim = engine.claim(db.engine, project.id, alice.id)
    engine.submit(db.engine, claim.task["id"], alice.id, "bird")
    db.session.commit()
    sign_in(client, "alice")
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert 'action="/project/pets/results/export"' in page
    assert '<option value="dataset.parquet">' in page
    # the direct streamed downloads stay, for small projects
    assert "/project/pets/download/answers.csv" in page

    job_id = start(client, file="answers.jsonl")
    record = settle(job_id)
    assert record.status == "finished", record.error
    job_page = client.get(f"/project/pets/jobs/{job_id}").get_data(as_text=True)
    link = f"/project/pets/jobs/{job_id}/download"
    assert f'href="{link}"' in job_page and "pets-answers.jsonl" in job_page
    download = client.get(link)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == "attachment; filename=pets-answers.jsonl"
    (row,) = [json.loads(line) for line in download.get_data(as_text=True).splitlines()]
    assert (row["task_id"], row["info"]) == (claim.task["id"], "bird")
    download.close()

    dataset_id = start(client, file="dataset.jsonl", validation="0")
    assert settle(dataset_id).status == "finished"
    body = client.get(f"/project/pets/jobs/{dataset_id}/download")
    items = [json.loads(line) for line in body.get_data(as_text=True).splitlines()]
    body.close()
    assert len(items) == 3 and {item["split"] for item in items} == {"train"}
    assert [i["label"] for i in items if i["item_id"] == claim.task["id"]] == ["bird"]
    # both are listed on the results page, newest first
    listed = client.get("/project/pets/results").get_data(as_text=True)
    assert listed.index(dataset_id) < listed.index(job_id)


def test_a_bad_export_choice_starts_nothing(client):
    alice = make_user("alice")
    make_project(alice)
    sign_in(client, "alice")
    response = client.post(
        "/project/pets/results/export", data={"file": "secrets.csv"}, follow_redirects=True
    )
    assert "Could not start the export" in response.get_data(as_text=True)
    assert "/project/pets/jobs/" not in response.get_data(as_text=True)
    make_user("bob")
    client.post("/account/signout")
    sign_in(client, "bob")
    assert (
        client.post("/project/pets/results/export", data={"file": "tasks.csv"}).status_code == 403
    )
