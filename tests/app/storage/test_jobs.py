"""S3 prefix imports as background jobs, started from the import page (LocalStack's S3)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import settle
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def start(client, **data: str) -> str:  # noqa: ANN001
    response = client.post("/project/pets/import/s3", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def test_s3_import_form_starts_a_job_and_a_rerun_adds_only_new_keys(client, s3_app, s3_env):
    # a bucket of its own: the S3 server is shared by the whole session
    bucket = f"jobs-{uuid.uuid4().hex[:12]}"
    s3_env.client().create_bucket(Bucket=bucket)
    s3_app.config["S3_BUCKETS"] += f",{bucket}"
    s3_env.client().put_object(Bucket=bucket, Key="cats/a b+%é.jpg", Body=b"meow")
    alice = make_user("alice")
    project = make_project(alice)
    sign_in(client, "alice")
    assert 'action="/project/pets/import/s3"' in client.get("/project/pets/import").get_data(
        as_text=True
    )
    first = settle(start(client, bucket=bucket, prefix="cats/", extensions="jpg", n_answers="4"))
    assert first.status == "finished", first.error
    assert first.result["imported"] == 1 and first.result["skipped"] == 0
    (task,) = db.session.scalars(select(Task).where(Task.project_id == project.id))
    assert task.info == {"url": f"s3://{bucket}/cats/a b+%é.jpg", "key": "cats/a b+%é.jpg"}
    assert task.n_answers == 4
    s3_env.client().put_object(Bucket=bucket, Key="cats/new.JPG", Body=b"purr")
    s3_env.client().put_object(Bucket=bucket, Key="cats/notes.txt", Body=b"-")
    again = settle(start(client, bucket=bucket, prefix="cats/", extensions="jpg", n_answers="4"))
    assert again.id != first.id and again.status == "finished", again.error
    assert (again.result["imported"], again.result["skipped"]) == (1, 1)
    keys = db.session.scalars(
        select(Task.info["key"].as_string()).where(Task.project_id == project.id)
    )
    assert sorted(keys) == ["cats/a b+%é.jpg", "cats/new.JPG"]
    page = client.get(f"/project/pets/jobs/{again.id}").get_data(as_text=True)
    assert "Imported 1 task (1 was already there)" in page
    # a bucket that does not exist: the job fails with the listing's sentence
    missing = settle(start(client, bucket="no-such-bucket", prefix=""))
    assert missing.status == "failed" and "Listing S3 failed" in missing.error


def test_s3_import_form_refuses_bad_input_and_non_managers(app, client):
    alice = make_user("alice")
    make_project(alice)
    make_user("bob")
    sign_in(client, "alice")
    # no bucket configured: the page has no S3 form, and a request sent anyway says why
    assert 'id="import-s3"' not in client.get("/project/pets/import").get_data(as_text=True)
    response = client.post("/project/pets/import/s3", data={"bucket": "unit"})
    assert response.status_code == 400
    assert "no S3 bucket configured" in response.get_data(as_text=True)
    app.config["S3_BUCKET"] = "unit"
    assert 'id="import-s3"' in client.get("/project/pets/import").get_data(as_text=True)
    response = client.post("/project/pets/import/s3", data={"bucket": "Not_A_Bucket"})
    assert response.status_code == 400
    assert "is not a valid S3 bucket name" in response.get_data(as_text=True)
    missing = client.post("/project/pets/import/s3", data={"bucket": ""})
    assert missing.status_code == 400 and 'class="errors"' in missing.get_data(as_text=True)
    client.post("/account/signout")
    sign_in(client, "bob")
    assert client.post("/project/pets/import/s3", data={"bucket": "unit"}).status_code == 403
    assert db.session.scalars(select(JobRecord)).all() == []
