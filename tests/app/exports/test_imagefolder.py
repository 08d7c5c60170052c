"""The ImageFolder copy of the labeled dataset into S3, against LocalStack's S3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from labelhive import starters
from labelhive.exports import imagefolder
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import settle
from tests.common import engine
from tests.common.s3 import LocalStackS3
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in

OPTIONS = ("cat", "dog", "../up")


def test_label_segments_are_safe_and_distinct() -> None:
    segments = imagefolder.label_segments(["cat", "../up", "a/b", "a b", "..", "Cat", "été"])
    assert segments["cat"] != segments["Cat"] and segments["cat"].startswith("cat-")
    assert segments["été"] == "été"
    # "/" and " " become "_": "a/b" and "a b" would share a folder, so both get a hash
    assert segments["a/b"].startswith("a_b-") and segments["a b"].startswith("a_b-")
    assert segments["a/b"] != segments["a b"]
    assert segments["../up"] == "_up"
    assert segments[".."].startswith("label-")
    for segment in segments.values():
        assert "/" not in segment and segment not in ("", ".", "..")
        assert imagefolder.key_problem(segment) is None


def test_keys_and_destinations_refuse_traversal() -> None:
    assert imagefolder.key_problem("pets/1.jpg") is None
    for bad in ("pets/../x.jpg", "./x.jpg", "a//b.jpg", "/abs.jpg", "a\\b.jpg", "a\nb.jpg"):
        assert imagefolder.key_problem(bad), bad
    assert imagefolder.parse_destination("s3://my-bucket/ds/v1/") == ("my-bucket", "ds/v1")
    assert imagefolder.parse_destination("ds/v1", "fallback") == ("fallback", "ds/v1")
    for bad, message in (
        ("s3://my-bucket/", "not its root"),
        ("s3://my-bucket/ds/../other/", "'..' path segment"),
        ("ds/v1", "S3_BUCKET is not set"),
        ("s3://Bad_Bucket/x/", "not a valid S3 bucket"),
        (None, "Give a destination"),
    ):
        with pytest.raises(imagefolder.ImageFolderError, match=message):
            imagefolder.parse_destination(bad)


@pytest.fixture
def s3_app(app: Flask, s3_server: LocalStackS3, monkeypatch: pytest.MonkeyPatch) -> Flask:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    app.config.update(S3_ENDPOINT_URL=s3_server.endpoint_url, S3_REGION="us-east-1")
    return app


@pytest.fixture
def bucket(s3_app: Flask, s3_server: LocalStackS3) -> Iterator[str]:
    # a bucket of its own: the S3 server is shared by the whole session; the only one allowed
    name = f"folder-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    s3_app.config["S3_BUCKET"] = name
    yield name


def _objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


# image -> the label its one annotator gives it
IMAGES = {
    "pets/0.jpg": "cat",
    "pets/1.jpg": "dog",
    "pets/a b+%é.jpg": "cat",
    "pets/2.jpg": "../up",
    "pets/../escape.jpg": "cat",  # refused: it would climb out of the label folder
    "pets/missing.jpg": "dog",  # never uploaded
    "https://example.org/3.jpg": "dog",  # not in S3
}


def _labeled_project(bucket: str) -> tuple[Project, dict[str, int]]:
    """The images above, labeled; and one S3 image without answers."""
    alice = make_user("alice")
    project = make_project(alice, n_answers=1, answers=OPTIONS)
    ids = {}
    for url in IMAGES:
        info = {"url": url if url.startswith("https:") else f"s3://{bucket}/{url}"}
        task = Task(project_id=project.id, info=info, n_answers=1)
        db.session.add(task)
        db.session.flush()
        ids[url] = task.id
    db.session.add(Task(project_id=project.id, info={"url": f"s3://{bucket}/pets/4.jpg"}))
    db.session.commit()
    labels = {task_id: IMAGES[url] for url, task_id in ids.items()}
    for _ in IMAGES:
        claim = engine.claim(db.engine, project.id, alice.id)
        engine.submit(db.engine, claim.task["id"], alice.id, labels[claim.task["id"]])
    db.session.commit()
    return project, ids


def test_copy_writes_the_tree_and_manifest_and_a_rerun_moves_relabeled_items(
    s3_app: Flask, s3_server: LocalStackS3, bucket: str
) -> None:
    s3 = s3_server.client()
    for key in ("pets/0.jpg", "pets/1.jpg", "pets/a b+%é.jpg", "pets/2.jpg", "pets/4.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    project, ids = _labeled_project(bucket)

    record = starters.start_imagefolder(project, None, f"s3://{bucket}/ds/v1/")
    db.session.commit()
    done = settle(record.id, timeout=60)
    assert done.status == "finished", done.error
    result = done.result
    counts = {k: result[k] for k in ("copied", "unlabeled", "not_s3", "refused", "missing")}
    assert counts == {"copied": 4, "unlabeled": 1, "not_s3": 1, "refused": 1, "missing": 1}
    assert result["manifest"] == f"s3://{bucket}/ds/v1/manifest.jsonl"
    reasons = {p["item_id"]: p["reason"] for p in result["problems"]}
    assert "'..' path segment" in reasons[ids["pets/../escape.jpg"]]
    assert "does not exist" in reasons[ids["pets/missing.jpg"]]

    tree = _objects(s3, bucket, "ds/v1/")
    assert {k: v for k, v in tree.items() if k != "ds/v1/manifest.jsonl"} == {
        "ds/v1/cat/pets/0.jpg": b"pets/0.jpg",
        "ds/v1/dog/pets/1.jpg": b"pets/1.jpg",
        "ds/v1/cat/pets/a b+%é.jpg": "pets/a b+%é.jpg".encode(),
        "ds/v1/_up/pets/2.jpg": b"pets/2.jpg",
    }
    manifest = [json.loads(line) for line in tree["ds/v1/manifest.jsonl"].splitlines()]
    assert [m["item_id"] for m in manifest] == sorted(m["item_id"] for m in manifest)
    first = manifest[0]
    assert first == {
        "item_id": ids["pets/0.jpg"],
        "source": f"s3://{bucket}/pets/0.jpg",
        "key": "ds/v1/cat/pets/0.jpg",
        "label": "cat",
        "confidence": 1.0,
        "method": "majority_vote",
        "split": first["split"],
    }
    assert {m["split"] for m in manifest} <= {"train", "validation"}
    # something of the owner's put under the prefix later, not part of the tree: never touched
    s3.put_object(Bucket=bucket, Key="ds/v1/README.txt", Body=b"mine")

    # the owner relabels an item (gold answers win); a second run moves it, changes nothing else
    task = db.session.get(Task, ids["pets/0.jpg"])
    task.gold_answer = "dog"
    db.session.commit()
    again = starters.start_imagefolder(project, None, f"s3://{bucket}/ds/v1")
    db.session.commit()
    assert again.id != record.id
    second = settle(again.id, timeout=60)
    assert second.status == "finished", second.error
    assert (second.result["copied"], second.result["removed"]) == (4, 1)
    tree = _objects(s3, bucket, "ds/v1/")
    assert "ds/v1/cat/pets/0.jpg" not in tree
    assert tree["ds/v1/dog/pets/0.jpg"] == b"pets/0.jpg"
    assert tree["ds/v1/README.txt"] == b"mine"
    assert len(tree) == 6
    moved = [json.loads(line) for line in tree["ds/v1/manifest.jsonl"].splitlines()][0]
    assert (moved["label"], moved["method"], moved["key"]) == (
        "dog",
        "gold",
        "ds/v1/dog/pets/0.jpg",
    )


def test_imagefolder_from_the_results_page_and_the_api(client, s3_app: Flask, bucket: str) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    project = make_project(alice)
    sign_in(client, "alice")
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert 'action="/project/pets/dataset/imagefolder"' in page

    refused = client.post(
        "/project/pets/dataset/imagefolder", data={"destination": f"s3://{bucket}/a/../b"}
    )
    assert refused.status_code == 302 and refused.headers["Location"].endswith("#imagefolder")
    page = client.get("/project/pets/results").get_data(as_text=True)
    assert "Could not start the copy" in page and "path segment" in page
    # a bare prefix needs S3_BUCKET
    s3_app.config["S3_BUCKET"] = ""
    s3_app.config["S3_BUCKETS"] = bucket
    client.post("/project/pets/dataset/imagefolder", data={"destination": "web"})
    assert "S3_BUCKET is not set" in client.get("/project/pets/results").get_data(as_text=True)

    started = client.post(
        "/project/pets/dataset/imagefolder", data={"destination": f"s3://{bucket}/web/"}
    )
    assert started.status_code == 302
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    assert job_id.startswith(f"imagefolder-{project.id}-")
    assert settle(job_id, timeout=60).status == "finished"
    client.post("/account/signout")

    path = f"/api/project/{project.id}/dataset/imagefolder"
    key = {"api_key": alice.api_key}
    response = client.post(path, query_string=key, json={"destination": f"s3://{bucket}/api"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["kind"] == "imagefolder" and body["status"] in ("queued", "running", "finished")
    assert settle(body["id"], timeout=60).result["manifest"] == f"s3://{bucket}/api/manifest.jsonl"
    for payload, message in (
        ({"destination": "s3://b/"}, "not a valid S3 bucket"),
        ({"destination": f"s3://{bucket}/x", "validation": 2}, "between 0 and 1"),
        ({"destination": f"s3://{bucket}/x", "bucket": "y"}, "Unknown key 'bucket'"),
        ({}, "Give a destination"),
    ):
        refused = client.post(path, query_string=key, json=payload)
        assert refused.status_code == 400, payload
        assert message in refused.get_json()["exception_msg"]
    denied = client.post(path, query_string={"api_key": bob.api_key}, json={"destination": "x"})
    assert denied.status_code == 403
