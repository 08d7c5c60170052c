"""S3 prefix import: 5,000 objects, idempotent re-runs, only new keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from labelhive.extensions import db
from labelhive.imports import s3_prefix as importer
from labelhive.tasks.models import Task
from tests.app.storage.conftest import s3_config
from tests.common.processes import labelhive_cli
from tests.common.s3 import LocalStackS3
from tests.common.s3 import put_objects
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app

N = 5000


@pytest.fixture(scope="module")
def bulk_bucket(s3_server: LocalStackS3) -> str:
    """5,000 images under ``photos/``, plus objects the import must leave out."""
    client = s3_server.client()
    client.create_bucket(Bucket="bulk")
    objects = {f"photos/{i:05d}.jpg": b"\xff\xd8" for i in range(N)}
    objects |= {"photos/README.txt": b"x", "photos/thumbs/": b"", "other/00000.jpg": b"x"}
    put_objects(client, "bulk", objects)
    return "bulk"


@pytest.fixture
def s3_any_app(any_url: str, s3_env: LocalStackS3) -> Iterator[Flask]:
    app = make_app(any_url, **s3_config(s3_env))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def count(project_id: int) -> int:
    db.session.commit()
    return db.session.scalar(
        select(func.count()).select_from(Task).where(Task.project_id == project_id)
    )


def test_import_prefix_is_idempotent_and_adds_only_new_keys(
    s3_any_app: Flask, s3_env: LocalStackS3, bulk_bucket: str
) -> None:
    project_id = make_project(make_user("owner")).id
    seen: list[importer.ImportSummary] = []

    first = importer.import_prefix(project_id, bulk_bucket, "photos/", "jpg", seen.append)
    assert (first.imported, first.skipped, first.matched) == (N, 0, N)
    assert first.listed == N + 2  # README.txt and the folder marker were listed, not imported
    assert count(project_id) == N
    # one progress call per committed listing page, counts growing
    assert [s.pages for s in seen] == list(range(1, first.pages + 1)) and first.pages >= 5
    assert seen[-1] == first and seen[0].imported == 1000

    task = db.session.scalar(
        select(Task).where(Task.project_id == project_id).order_by(Task.id).limit(1)
    )
    assert task.info == {"url": "s3://bulk/photos/00000.jpg", "key": "photos/00000.jpg"}

    again = importer.import_prefix(project_id, bulk_bucket, "photos/", "jpg")
    assert (again.imported, again.skipped) == (0, N)
    assert count(project_id) == N

    put_objects(s3_env.client(), bulk_bucket, {f"photos/new-{i}.jpg": b"x" for i in range(3)})
    try:
        third = importer.import_prefix(project_id, bulk_bucket, "photos/", ["JPG"], n_answers=5)
        assert (third.imported, third.skipped) == (3, N)
        assert count(project_id) == N + 3
        added = db.session.scalars(
            select(Task).where(Task.project_id == project_id, Task.n_answers == 5)
        ).all()
        assert sorted(t.info["key"] for t in added) == [f"photos/new-{i}.jpg" for i in range(3)]
    finally:
        s3_env.client().delete_objects(
            Bucket=bulk_bucket,
            Delete={"Objects": [{"Key": f"photos/new-{i}.jpg"} for i in range(3)]},
        )


def test_each_project_has_its_own_keys(app: Flask, s3_env: LocalStackS3, bulk_bucket: str) -> None:
    app.config.update(s3_config(s3_env))
    owner = make_user("owner")
    a, b = make_project(owner, short_name="a").id, make_project(owner, short_name="b").id
    assert importer.import_prefix(a, bulk_bucket, "other/", "").imported == 1
    assert importer.import_prefix(b, bulk_bucket, "other/", "").imported == 1
    assert (count(a), count(b)) == (1, 1)


def test_a_missing_bucket_is_one_sentence_and_imports_nothing(app: Flask, s3_env) -> None:  # noqa: ANN001
    app.config.update(s3_config(s3_env))
    project_id = make_project(make_user("owner")).id
    with pytest.raises(importer.S3ImportError, match="NoSuchBucket"):
        importer.import_prefix(project_id, "no-such-bucket", "", "jpg")
    assert count(project_id) == 0


def test_unknown_project(app: Flask, s3_env: LocalStackS3, bulk_bucket: str) -> None:
    app.config.update(s3_config(s3_env))
    with pytest.raises(LookupError, match="No project 999"):
        importer.import_prefix(999, bulk_bucket, "other/", "")


def test_cli_import_s3(s3_env: LocalStackS3, bulk_bucket: str, sqlite_url: str) -> None:
    env = {
        **s3_env.env(),
        "DATABASE_URL": sqlite_url,
        "S3_BUCKET": bulk_bucket,
        "S3_BUCKETS": "no-such-bucket",
    }
    labelhive_cli("users", "create", "owner", env=env)
    labelhive_cli("projects", "create", "pics", "--owner", "owner", env=env)
    first = labelhive_cli("import-s3", "pics", f"s3://{bulk_bucket}/other/", env=env)
    assert "Imported 1 task into pics" in first.stdout, first.stderr
    again = labelhive_cli("import-s3", "pics", f"s3://{bulk_bucket}/other/", env=env)
    assert "Imported 0 tasks into pics" in again.stdout and "1 already there" in again.stdout
    txt = labelhive_cli("import-s3", "pics", f"s3://{bulk_bucket}/photos/", "--ext", "txt", env=env)
    assert "Imported 1 task" in txt.stdout
    bad = labelhive_cli("import-s3", "pics", "https://x/y", env=env, check=False)
    assert bad.returncode == 2 and "s3://bucket/prefix/" in bad.stderr
    missing = labelhive_cli("import-s3", "pics", "s3://no-such-bucket/", env=env, check=False)
    assert missing.returncode == 1 and "NoSuchBucket" in missing.stderr
