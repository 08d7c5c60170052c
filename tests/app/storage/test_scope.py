"""Issue 22: every ``s3://`` reference is confined to the configured buckets and the project's
prefix, against LocalStack's S3 (signatures checked), on SQLite and PostgreSQL.

The world: bucket ``team-a`` is configured, with ``S3_PROJECT_PREFIX=projects/{short_name}/``;
``team-b`` is another team's bucket that the app's credentials can also read. Project ``pets``
(alice) owns ``s3://team-a/projects/pets/``, project ``birds`` (bob) ``.../projects/birds/``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from labelhive import starters
from labelhive.exports import imagefolder
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.imports import s3_prefix as importer
from labelhive.imports import writer as task_services
from labelhive.projects.models import Project
from labelhive.storage import scope
from labelhive.tasks.images import image_url_for
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import settle
from tests.app.storage.conftest import s3_config
from tests.common import engine
from tests.common.processes import labelhive_cli
from tests.common.s3 import LocalStackS3
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

OURS = "team-a"
THEIRS = "team-b"
PREFIX = "projects/{short_name}/"
REFUSED = "outside this project's storage"


@pytest.fixture(scope="module")
def buckets(s3_server: LocalStackS3) -> tuple[str, str]:
    client = s3_server.client()
    for name in (OURS, THEIRS):
        client.create_bucket(Bucket=name)
    client.put_object(Bucket=OURS, Key="projects/pets/1.jpg", Body=b"pet one")
    client.put_object(Bucket=OURS, Key="projects/pets/2.jpg", Body=b"pet two")
    client.put_object(Bucket=OURS, Key="projects/birds/1.jpg", Body=b"bird one")
    client.put_object(Bucket=THEIRS, Key="secret.jpg", Body=b"another team's")
    return OURS, THEIRS


def confined(s3_env: LocalStackS3, **extra: object) -> dict[str, object]:
    return {
        **s3_config(s3_env),
        "S3_BUCKET": OURS,
        "S3_BUCKETS": "",
        "S3_PROJECT_PREFIX": PREFIX,
        "WTF_CSRF_ENABLED": False,
        **extra,
    }


@pytest.fixture
def world(any_url: str, s3_env: LocalStackS3, buckets: tuple[str, str]) -> Iterator[Flask]:
    app = make_app(any_url, **confined(s3_env))
    with app.app_context():
        alice, bob = make_user("alice"), make_user("bob")
        make_project(alice, short_name="pets")
        make_project(bob, short_name="birds")
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_world(app: Flask, s3_env: LocalStackS3, buckets: tuple[str, str]) -> Flask:
    app.config.update(confined(s3_env))
    alice, bob = make_user("alice"), make_user("bob")
    make_project(alice, short_name="pets", n_answers=1)
    make_project(bob, short_name="birds", n_answers=1)
    return app


def project(short_name: str) -> Project:
    return db.session.scalar(select(Project).where(Project.short_name == short_name))


def count_tasks(short_name: str) -> int:
    db.session.commit()
    return db.session.scalar(
        select(func.count()).select_from(Task).where(Task.project_id == project(short_name).id)
    )


def api_key(name: str) -> str:
    """A known key for ``name`` (only hashes are stored: a new key, made once per user)."""
    from flask import current_app

    from labelhive.accounts import services as accounts

    keys = current_app.extensions.setdefault("tests.api_keys", {})
    if name not in keys:
        keys[name] = accounts.regenerate_api_key(accounts.by_name(name))
        db.session.commit()
    return keys[name]


# -- the rule itself (pure) -------------------------------------------------------------------


def test_the_scope_is_the_configured_buckets_under_the_project_prefix() -> None:
    config = {"S3_BUCKET": "aaa", "S3_BUCKETS": "bb2, aaa ,", "S3_PROJECT_PREFIX": "p/{project_id}"}
    where = scope.scope_of(config, project_id=7, short_name="pets")
    assert where == scope.S3Scope(("aaa", "bb2"), "p/7/")
    where.check_url("s3://bb2/p/7/x.jpg")
    where.check_url("https://example.org/p/8/x.jpg")  # not S3: not this rule's business
    for bad in (
        "s3://ccc/p/7/x.jpg",
        "s3://aaa/p/8/x.jpg",
        "s3://aaa/p/7/../8/x.jpg",
        "s3://aaa/p/7/",
    ):
        with pytest.raises(scope.OutsideScope, match=REFUSED):
            where.check_url(bad)
    assert where.check_prefix("aaa", "p/7") == "p/7/"
    for bucket, prefix in (("aaa", ""), ("aaa", "p/"), ("aaa", "p/70"), ("ccc", "p/7/")):
        with pytest.raises(scope.OutsideScope, match=REFUSED):
            where.check_prefix(bucket, prefix)
    # no bucket configured: no s3:// image at all (fail closed)
    with pytest.raises(scope.OutsideScope, match="S3_BUCKET is not set"):
        scope.scope_of({}, project_id=1, short_name="x").check_url("s3://aaa/x.jpg")
    # a bad setting refuses everything, with what is wrong
    for extra, message in (
        ({"S3_PROJECT_PREFIX": "shared/"}, "must contain"),
        ({"S3_PROJECT_PREFIX": "p/{owner}/"}, "not {owner}"),
        ({"S3_BUCKETS": "Not_A_Bucket"}, "invalid bucket"),
    ):
        broken = scope.scope_of({"S3_BUCKET": "aaa", **extra}, project_id=1, short_name="x")
        with pytest.raises(scope.OutsideScope, match=message):
            broken.check_url("s3://aaa/p/1/x.jpg")


# -- task create and update through the API ---------------------------------------------------


def test_api_task_create_and_update_refuse_references_outside(world: Flask) -> None:
    client = world.test_client()
    key = {"api_key": api_key("alice")}
    pets = project("pets").id
    for url in (
        f"s3://{THEIRS}/secret.jpg",  # another bucket the credentials reach
        f"s3://{OURS}/projects/birds/1.jpg",  # another project's prefix
        f"s3://{OURS}/projects/pets/../birds/1.jpg",
        f"s3://{OURS}/other.jpg",
    ):
        body = {"project_id": pets, "info": {"url": url}}
        refused = client.post("/api/task", query_string=key, json=body)
        assert refused.status_code == 400, url
        assert REFUSED in refused.get_json()["exception_msg"]
    assert count_tasks("pets") == 0
    good = {"project_id": pets, "info": {"url": f"s3://{OURS}/projects/pets/1.jpg"}}
    created = client.post("/api/task", query_string=key, json=good)
    assert created.status_code == 200, created.get_json()
    task_id = created.get_json()["id"]
    # update: the image under any image key is checked
    for info in ({"url": f"s3://{THEIRS}/secret.jpg"}, {"image": f"s3://{THEIRS}/secret.jpg"}):
        refused = client.put(f"/api/task/{task_id}", query_string=key, json={"info": info})
        assert refused.status_code == 400 and REFUSED in refused.get_json()["exception_msg"]
    db.session.expire_all()
    assert db.session.get(Task, task_id).info == good["info"]
    moved = {"info": {"url": f"s3://{OURS}/projects/pets/2.jpg"}}
    assert client.put(f"/api/task/{task_id}", query_string=key, json=moved).status_code == 200


# -- file imports: a refused row refuses the file, nothing written ----------------------------


def test_csv_and_json_imports_refuse_the_file_at_the_row(world: Flask) -> None:
    pets = project("pets")
    where = scope.for_project(pets)
    csv = f"url,name\ns3://{OURS}/projects/pets/1.jpg,one\ns3://{THEIRS}/secret.jpg,two\n".encode()
    with pytest.raises(importers.ImportFormatError, match=rf"Row 2 \(line 3\): .*{REFUSED}"):
        importers.parse_tasks(csv, "csv", s3_scope=where)
    # a second image column is checked too (the short way for http URLs is not taken)
    two_columns = f"url,image\nhttps://example.org/a.jpg,s3://{THEIRS}/secret.jpg\n".encode()
    with pytest.raises(importers.ImportFormatError, match=rf"Row 1 .*{REFUSED}"):
        importers.parse_tasks(two_columns, "csv", s3_scope=where)
    rows = [
        {"url": f"s3://{OURS}/projects/pets/1.jpg"},
        {"info": {"url": f"s3://{OURS}/projects/birds/1.jpg"}},
    ]
    with pytest.raises(importers.ImportFormatError, match=rf"Item 2: .*{REFUSED}"):
        importers.parse_tasks(json.dumps(rows).encode(), "json", s3_scope=where)

    # the writer refuses too, whoever parsed the rows, and the transaction rolls back whole
    specs = importers.parse_tasks(json.dumps(rows).encode(), "json")
    with pytest.raises(importers.ImportFormatError, match=rf"Task 2: .*{REFUSED}"):
        task_services.import_tasks(pets, specs, batch_size=1)
    db.session.rollback()
    assert count_tasks("pets") == 0

    # the API: a 400 with the row, and no job started
    client = world.test_client()
    path = f"/api/project/{pets.id}/import"
    refused = client.post(path, query_string={"api_key": api_key("alice")}, json={"tasks": rows})
    assert refused.status_code == 400
    assert "Item 2" in refused.get_json()["exception_msg"]
    assert REFUSED in refused.get_json()["exception_msg"]
    started = client.post(
        path, query_string={"api_key": api_key("alice")}, json={"tasks": rows[:1]}
    )
    assert started.status_code == 202
    assert settle(started.get_json()["id"]).status == "finished"
    assert count_tasks("pets") == 1


def test_the_web_forms_show_the_refusal(client, sqlite_world: Flask) -> None:  # noqa: ANN001
    sign_in(client, "alice")
    data = {"file": (_bytes_io(f"url\ns3://{THEIRS}/secret.jpg\n"), "tasks.csv")}
    page = client.post("/project/pets/import", data=data, content_type="multipart/form-data")
    text = page.get_data(as_text=True)
    assert "Row 1 (line 2)" in text and "outside this project&#39;s storage" in text
    # the S3 prefix form, and the ImageFolder form on the results page
    s3_form = client.post("/project/pets/import/s3", data={"bucket": THEIRS, "prefix": ""})
    assert s3_form.status_code == 400
    assert "outside this project&#39;s storage" in s3_form.get_data(as_text=True)
    copy = client.post("/project/pets/dataset/imagefolder", data={"destination": "projects/x"})
    assert copy.status_code == 302 and copy.headers["Location"].endswith("#imagefolder")
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert "Could not start the copy" in page and "outside this project&#39;s storage" in page
    assert count_tasks("pets") == 0


def _bytes_io(text: str) -> Any:
    import io

    return io.BytesIO(text.encode())


# -- S3 prefix imports -------------------------------------------------------------------------


def test_prefix_imports_of_another_bucket_or_prefix_are_refused(world: Flask) -> None:
    pets = project("pets")
    for bucket, prefix in ((THEIRS, ""), (OURS, ""), (OURS, "projects/"), (OURS, "projects/b")):
        with pytest.raises(importer.S3ImportError, match=REFUSED):
            importer.import_prefix(pets.id, bucket, prefix, "jpg")
        with pytest.raises(scope.OutsideScope, match=REFUSED):
            starters.start_s3_import(pets, None, bucket, prefix)
    db.session.rollback()
    assert count_tasks("pets") == 0
    # the API: a 400 with the sentence
    client = world.test_client()
    refused = client.post(
        f"/api/project/{pets.id}/import",
        query_string={"api_key": api_key("alice")},
        json={"s3": {"bucket": THEIRS, "prefix": ""}},
    )
    assert refused.status_code == 400 and REFUSED in refused.get_json()["exception_msg"]
    # the project's own prefix, given without its slash, imports only its own keys
    summary = importer.import_prefix(pets.id, OURS, "projects/pets", "jpg")
    assert (summary.prefix, summary.imported) == ("projects/pets/", 2)
    urls = db.session.scalars(
        select(Task.info["url"].as_string()).where(Task.project_id == pets.id)
    )
    assert sorted(urls) == [f"s3://{OURS}/projects/pets/1.jpg", f"s3://{OURS}/projects/pets/2.jpg"]


def test_the_cli_refuses_with_an_exit_code_and_a_sentence(
    s3_env: LocalStackS3, buckets: tuple[str, str], sqlite_url: str, tmp_path
) -> None:  # noqa: ANN001
    env = {
        **s3_env.env(),
        "DATABASE_URL": sqlite_url,
        "S3_BUCKET": OURS,
        "S3_PROJECT_PREFIX": PREFIX,
    }
    labelhive_cli("users", "create", "owner", env=env)
    labelhive_cli("projects", "create", "pets", "--owner", "owner", env=env)
    other = labelhive_cli("import-s3", "pets", f"s3://{THEIRS}/", env=env, check=False)
    assert other.returncode == 1 and REFUSED in other.stderr
    wide = labelhive_cli("import-s3", "pets", f"s3://{OURS}/projects/", env=env, check=False)
    assert wide.returncode == 1 and REFUSED in wide.stderr
    tasks = tmp_path / "tasks.csv"
    tasks.write_text(f"url\ns3://{OURS}/projects/pets/1.jpg\ns3://{THEIRS}/secret.jpg\n")
    refused = labelhive_cli("import", "pets", str(tasks), env=env, check=False)
    # the CLI checks a file as every entry point does (tasks/schemas.py): the row is named
    assert refused.returncode == 1 and "Row 2 (line 3)" in refused.stderr
    assert REFUSED in refused.stderr
    own = labelhive_cli("import-s3", "pets", f"s3://{OURS}/projects/pets/", env=env)
    assert "Imported 2 tasks into pets" in own.stdout


# -- presigning: the last line of defence -----------------------------------------------------


def test_old_tasks_pointing_outside_get_no_url_anywhere(
    client, sqlite_world: Flask, s3_env: LocalStackS3
) -> None:  # noqa: ANN001
    pets = project("pets")
    # stored before the rule (or by hand): the write paths would refuse them now
    outside = Task(
        project_id=pets.id, info={"url": f"s3://{THEIRS}/secret.jpg"}, n_answers=2, priority_0=9
    )
    inside = Task(project_id=pets.id, info={"url": f"s3://{OURS}/projects/pets/1.jpg"}, n_answers=2)
    db.session.add_all([outside, inside])
    db.session.commit()
    assert image_url_for(outside.info, pets) is None
    url = image_url_for(inside.info, pets)
    assert url is not None and url.startswith(f"/img/{OURS}/projects/pets/1.jpg?")
    # the legitimate URL is signed for the endpoint: LocalStack serves the bytes
    fetched = requests.get(s3_env.endpoint_url + url[len("/img") :], timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"pet one"

    # newtask (PYBOSSA clients) hands bob the outside task first (priority): no image_url
    newtask = client.get(
        f"/api/project/{pets.id}/newtask", query_string={"api_key": api_key("bob")}
    )
    assert newtask.get_json()["id"] == outside.id and newtask.get_json()["image_url"] is None

    sign_in(client, "alice")
    gold = client.get("/project/pets/gold").get_data(as_text=True)
    assert f"/img/{OURS}/projects/pets/1.jpg?" in gold and f"/img/{THEIRS}" not in gold
    # the labeling page: no URL, a sentence to show where the image would be
    state = client.post("/project/pets/label/state", json={}).get_json()
    shown = {t["id"]: t for t in state["tasks"]}
    assert shown[outside.id]["image"] is None
    assert "outside the storage this project may use" in shown[outside.id]["image_problem"]
    assert shown[inside.id]["image"].startswith(f"/img/{OURS}/projects/pets/1.jpg?")
    assert shown[inside.id]["image_problem"] is None


# -- the ImageFolder copy ----------------------------------------------------------------------


def _label(short_name: str, urls: list[str], answer: str = "cat") -> list[int]:
    proj = project(short_name)
    ids = []
    for url in urls:
        task = Task(project_id=proj.id, info={"url": url}, n_answers=1)
        db.session.add(task)
        db.session.flush()
        ids.append(task.id)
    db.session.commit()
    for _ in urls:
        claim = engine.claim(db.engine, proj.id, proj.owner_id)
        engine.submit(db.engine, claim.task["id"], proj.owner_id, answer)
    db.session.commit()
    return ids


def _objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_imagefolder_destinations_stay_in_the_project_storage(
    sqlite_world: Flask, s3_env: LocalStackS3
) -> None:
    pets = project("pets")
    for destination in (
        f"s3://{THEIRS}/ds/",
        f"s3://{OURS}/projects/birds/ds/",
        f"s3://{OURS}/ds/",
        "projects/birds/ds",  # a bare prefix goes into S3_BUCKET, under the same rule
    ):
        with pytest.raises(imagefolder.ImageFolderError, match=REFUSED):
            starters.start_imagefolder(pets, None, destination)
    # the project's own prefix holds its images: not an empty destination
    with pytest.raises(imagefolder.ImageFolderError, match="choose an empty prefix"):
        starters.start_imagefolder(pets, None, f"s3://{OURS}/projects/pets/")

    # a source outside the project's storage is refused, not copied
    ids = _label("pets", [f"s3://{OURS}/projects/pets/1.jpg", f"s3://{THEIRS}/secret.jpg"])
    tree = f"projects/pets/ds-{uuid.uuid4().hex[:8]}"
    record = starters.start_imagefolder(pets, None, f"s3://{OURS}/{tree}/")
    db.session.commit()
    done = settle(record.id, timeout=60)
    assert done.status == "finished", done.error
    assert (done.result["copied"], done.result["refused"]) == (1, 1)
    assert {p["item_id"]: p["reason"] for p in done.result["problems"]}[ids[1]] == (
        "the image is outside this project's storage"
    )
    s3 = s3_env.client()
    assert set(_objects(s3, OURS, tree + "/")) == {
        f"{tree}/cat/projects/pets/1.jpg",
        f"{tree}/manifest.jsonl",
    }
    head = s3.head_object(Bucket=OURS, Key=f"{tree}/manifest.jsonl")
    assert head["Metadata"] == {"labelhive-project-id": str(pets.id)}


def test_imagefolder_never_touches_another_projects_copy(
    sqlite_world: Flask, s3_env: LocalStackS3
) -> None:
    # no per-project prefix: the manifest's owner is what keeps projects apart
    sqlite_world.config["S3_PROJECT_PREFIX"] = ""
    s3 = s3_env.client()
    pets, birds = project("pets"), project("birds")
    shared = f"shared-{uuid.uuid4().hex[:8]}"
    _label("birds", [f"s3://{OURS}/projects/birds/1.jpg"])
    record = starters.start_imagefolder(birds, None, f"s3://{OURS}/{shared}/ds/")
    db.session.commit()
    assert settle(record.id, timeout=60).status == "finished"
    birds_tree = _objects(s3, OURS, f"{shared}/ds/")
    assert f"{shared}/ds/cat/projects/birds/1.jpg" in birds_tree

    # another owner cannot reuse birds' destination, write inside it, or over other objects
    for destination, message in (
        (f"{shared}/ds", "another project"),
        (f"{shared}/ds/dog", "inside the ImageFolder copy"),
        (f"{shared}/ds/cat", "choose an empty prefix"),
    ):
        with pytest.raises(imagefolder.ImageFolderError, match=message):
            starters.start_imagefolder(pets, None, f"s3://{OURS}/{destination}/")

    # pets' own tree, whose manifest is then replaced by one listing birds' objects (and
    # claiming nobody, or birds): the run refuses, nothing of birds' is deleted
    _label("pets", [f"s3://{OURS}/projects/pets/1.jpg"])
    mine = f"{shared}/pets"
    first = starters.start_imagefolder(pets, None, f"s3://{OURS}/{mine}/")
    db.session.commit()
    assert settle(first.id, timeout=60).status == "finished"
    forged = json.dumps({"item_id": 0, "key": f"{shared}/ds/cat/projects/birds/1.jpg"}) + "\n"
    for metadata in ({}, {"labelhive-project-id": str(birds.id)}):
        s3.put_object(Bucket=OURS, Key=f"{mine}/manifest.jsonl", Body=forged, Metadata=metadata)
        with pytest.raises(imagefolder.ImageFolderError, match="another project"):
            starters.start_imagefolder(pets, None, f"s3://{OURS}/{mine}/")
        # a job already queued re-checks when it runs
        job_id = f"imagefolder-{pets.id}-forged-{uuid.uuid4().hex[:6]}"
        from labelhive.jobs import records

        records.submit(
            job_id,
            "labelhive.results.imagefolder.export_imagefolder",
            job_id,
            pets.id,
            OURS,
            mine,
            kind=imagefolder.KIND,
            project_id=pets.id,
        )
        db.session.commit()
        failed = settle(job_id, timeout=60)
        assert failed.status == "failed" and "another project" in failed.error
    assert _objects(s3, OURS, f"{shared}/ds/") == birds_tree
    # and a manifest swapped in after the check is not read for deletions
    found = imagefolder._previous_manifest(s3, OURS, f"{mine}/manifest.jsonl", pets.id)
    assert list(found) == []
