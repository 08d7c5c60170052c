"""Export files live in the database: a worker in one process writes them, any web process
serves them; a failed or killed job leaves nothing to download; memory stays flat."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from labelhive import starters
from labelhive.accounts import services as accounts
from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.exports import exports
from labelhive.exports import jobs as export_jobs
from labelhive.extensions import db
from labelhive.jobs import exportfiles
from labelhive.jobs import records
from labelhive.jobs import services as jobs
from labelhive.jobs.models import ExportChunk
from labelhive.jobs.models import ExportFile
from labelhive.jobs.models import JobRecord
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import settle
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

# what an RQ worker does with the job: run the job function in an app of its own
WORKER = """
import os, sys
from labelhive import create_app
from labelhive.exports import exports
from labelhive.exports import jobs

job_id, project_id, what, fmt, kill_after = sys.argv[1:]
if int(kill_after):
    real = exports.stream_export

    def dying(*args, **kwargs):
        for n, piece in enumerate(real(*args, **kwargs)):
            if n == int(kill_after):
                os._exit(9)  # the Pod is killed: no clean-up runs
            yield piece

    exports.stream_export = dying
with create_app().app_context():
    print(jobs.export_file(job_id, int(project_id), what, fmt))
"""


@pytest.fixture
def web(any_url: str) -> Iterator[Flask]:
    """The web app, on SQLite and on PostgreSQL."""
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def seed(n_tasks: int, n_users: int) -> Project:
    """A project ``pets`` of ``alice`` with ``n_tasks`` tasks, each answered by ``n_users``."""
    alice = make_user("alice")
    users = [alice.id] + [
        accounts.create_user(f"annotator{i}", password=None).id for i in range(1, n_users)
    ]
    project = make_project(alice, n_answers=n_users)
    db.session.execute(
        insert(Task),
        [
            {"project_id": project.id, "info": {"url": f"https://img.example/{i}.jpg"}}
            for i in range(n_tasks)
        ],
    )
    task_ids = db.session.scalars(select(Task.id).order_by(Task.id)).all()
    labels = ("cat", "dog", "bird")
    db.session.execute(
        insert(Answer),
        [
            {
                "project_id": project.id,
                "task_id": task_id,
                "user_id": user_id,
                "info": labels[(task_id + user_id) % 3],
            }
            for task_id in task_ids
            for user_id in users
        ],
    )
    db.session.commit()
    return project


def queued_export(project: Project, what: str, fmt: str) -> str:
    """A committed export record that nothing runs yet: the test runs the job function."""
    job_id = starters.start_export(project, None, what, fmt).id
    db.session.info.clear()  # drop the after-commit enqueue
    db.session.commit()
    return job_id


def run_worker(url: str, tmp: Path, *args: object, chunk_bytes: int = 1000) -> str:
    tmp.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "worker-test",
        "LABELHIVE_EXPORT_CHUNK_BYTES": str(chunk_bytes),
        # the worker Pod's own /tmp, which the web process cannot see
        "TMPDIR": str(tmp),
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"{done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"


def direct(project_id: int, what: str, fmt: str) -> bytes:
    return b"".join(exports.stream_export(db.engine, project_id, what, fmt))


def files_of(job_id: str) -> list[tuple[bool, int]]:
    """``(complete, chunks)`` of each stored file of the job."""
    db.session.rollback()
    rows = db.session.execute(
        select(ExportFile.complete, func.count(ExportChunk.seq))
        .outerjoin(ExportChunk, ExportChunk.file_id == ExportFile.id)
        .where(ExportFile.job_id == job_id)
        .group_by(ExportFile.id)
        .order_by(ExportFile.id)
    ).all()
    return [tuple(row) for row in rows]


def test_an_export_written_by_a_worker_process_downloads_from_the_web_app(web, any_url, tmp_path):
    project = seed(n_tasks=150, n_users=2)
    job_id = queued_export(project, "answers", "csv")
    worker_tmp = tmp_path / "worker-tmp"
    out = run_worker(any_url, worker_tmp, job_id, project.id, "answers", "csv", 0)
    assert out.startswith("0\n"), out
    db.session.rollback()
    record = jobs.get_record(job_id)
    assert record.status == "finished", record.error
    # nothing was written on the worker's disk: the file is in the database, in many chunks
    assert list(worker_tmp.iterdir()) == []
    assert files_of(job_id) == [(True, -(-record.result["bytes"] // 1000))]
    assert record.result["bytes"] > 20_000

    client = web.test_client()
    sign_in(client, "alice")
    response = client.get(f"/project/pets/jobs/{job_id}/download")
    assert response.status_code == 200
    body = response.get_data()
    response.close()
    expected = direct(project.id, "answers", "csv")
    assert body == expected
    assert response.headers["Content-Length"] == str(len(expected))
    assert response.headers["Content-Disposition"] == "attachment; filename=pets-answers.csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert hashlib.sha256(body).hexdigest() == record.result["sha256"]
    assert body.count(b"\r\n") == 301  # the header and 150 x 2 answers


def test_a_job_that_fails_mid_write_leaves_no_file_and_its_rerun_succeeds(web, monkeypatch):
    web.config["EXPORT_CHUNK_BYTES"] = 512
    project = seed(n_tasks=40, n_users=1)
    job_id = queued_export(project, "tasks", "jsonl")
    real = exports.stream_export
    written: list[int] = []

    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for n, piece in enumerate(real(*args, **kwargs, batch_size=10)):
            if n == 3:
                # by now some chunks are committed: the failure must not leave them served
                written.append(db.session.scalar(select(func.count()).select_from(ExportChunk)))
                raise RuntimeError("the database went away")
            yield piece

    monkeypatch.setattr(exports, "stream_export", failing)
    with pytest.raises(RuntimeError, match="went away"):
        export_jobs.export_file(job_id, project.id, "tasks", "jsonl")
    assert written[0] > 0
    record = jobs.get_record(job_id)
    assert record.status == "failed" and jobs.export_file(record) is None
    assert files_of(job_id) == []

    monkeypatch.setattr(exports, "stream_export", real)
    result = export_jobs.export_file(job_id, project.id, "tasks", "jsonl")
    db.session.rollback()
    record = jobs.get_record(job_id)
    assert record.status == "finished" and result["rows"] == 40
    stored = jobs.export_file(record)
    assert b"".join(jobs.export_bytes(stored)) == direct(project.id, "tasks", "jsonl")
    assert files_of(job_id) == [(True, -(-stored.size // 512))]


def test_a_killed_worker_leaves_a_partial_file_nobody_serves_and_the_rerun_replaces_it(
    app, tmp_path
):
    project = seed(n_tasks=60, n_users=2)
    job_id = queued_export(project, "answers", "json")
    url = str(db.engine.url)
    out = run_worker(url, tmp_path / "worker-tmp", job_id, project.id, "answers", "json", 2)
    assert out.startswith("9\n"), out
    (partial,) = files_of(job_id)
    assert partial[0] is False and partial[1] > 0
    record = jobs.get_record(job_id)
    assert record.status == "running"  # until recover() sees its heartbeat stop
    assert jobs.export_file(record) is None
    record.status = "finished"  # even a record wrongly marked finished serves no partial file
    assert jobs.export_file(record) is None
    db.session.rollback()

    # the scheduler enqueues it again; this run deletes the partial file and stores a whole one
    out = run_worker(url, tmp_path / "worker-tmp-2", job_id, project.id, "answers", "json", 0)
    assert out.startswith("0\n"), out
    db.session.rollback()
    stored = jobs.export_file(jobs.get_record(job_id))
    assert files_of(job_id) == [(True, -(-stored.size // 1000))]
    assert b"".join(jobs.export_bytes(stored)) == direct(project.id, "answers", "json")


def test_downloading_a_large_export_keeps_memory_flat(app, client):
    app.config["EXPORT_CHUNK_BYTES"] = 256 * 1024
    project = seed(n_tasks=10_000, n_users=5)
    job_id = queued_export(project, "answers", "jsonl")
    result = export_jobs.export_file(job_id, project.id, "answers", "jsonl")
    assert result["rows"] == 50_000
    size = result["bytes"]
    sign_in(client, "alice")

    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        response = client.get(f"/project/pets/jobs/{job_id}/download", buffered=False)
        for piece in response.response:
            digest.update(piece)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(size)
    assert digest.hexdigest() == result["sha256"]
    # a few 256 KiB chunks at a time, whatever the file's size (several MB)
    assert size > 8 * 1024 * 1024
    assert peak < 2 * 1024 * 1024, f"download peak {peak} bytes for a {size} byte file"


def test_writing_keeps_memory_flat_and_re_cuts_pieces_into_chunks(app):
    project = seed(n_tasks=1, n_users=1)
    job_id = queued_export(project, "tasks", "csv")
    piece = bytes(range(256)) * 300  # 76,800 bytes per piece, 300 pieces: about 22 MiB
    chunk = 1024 * 1024
    tracemalloc.start()
    try:
        stored = exportfiles.write(
            db.engine,
            (piece for _ in range(300)),
            job_id=job_id,
            project_id=project.id,
            filename="big.bin",
            content_type="application/octet-stream",
            chunk_bytes=chunk,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == 300 * len(piece)
    assert stored.chunks == -(-stored.size // chunk) == 22
    assert peak < 6 * chunk, f"write peak {peak} bytes"
    db.session.rollback()  # a snapshot from before the writes (SQLite)
    sizes = db.session.scalars(
        select(func.length(ExportChunk.data))
        .where(ExportChunk.file_id == stored.id)
        .order_by(ExportChunk.seq)
    ).all()
    assert sizes[:-1] == [chunk] * 21 and sizes[-1] == stored.size - 21 * chunk
    digest = hashlib.sha256()
    for data in exportfiles.read(db.engine, stored.id, stored.size):
        digest.update(data)
    assert digest.hexdigest() == stored.sha256 == hashlib.sha256(piece * 300).hexdigest()


def test_a_file_deleted_while_downloading_ends_the_stream_with_an_error(app):
    project = seed(n_tasks=1, n_users=1)
    job_id = queued_export(project, "tasks", "csv")
    stored = exportfiles.write(
        db.engine,
        [b"x" * 2500],
        job_id=job_id,
        project_id=project.id,
        filename="x.csv",
        content_type="text/csv",
        chunk_bytes=1000,
    )
    stream = exportfiles.read(db.engine, stored.id, stored.size, read_ahead=1)
    assert next(stream) == b"x" * 1000
    exportfiles.delete_expired(db.engine, before=utcnow(), incomplete_before=utcnow())
    with pytest.raises(exportfiles.ExportGone):
        next(stream)


def test_cleanup_deletes_expired_and_abandoned_files_only(app):
    app.config["EXPORT_TTL_SECONDS"] = 3600
    project_id = seed(n_tasks=3, n_users=1).id
    now = utcnow()
    ages = {
        "fresh": (True, dt.timedelta(minutes=5)),
        "expired": (True, dt.timedelta(hours=2)),
        "writing": (False, dt.timedelta(hours=2)),
        "abandoned": (False, dt.timedelta(days=2)),
    }
    for name, (complete, age) in ages.items():
        job_id = queued_export(db.session.get(Project, project_id), "tasks", "csv")
        stream = exports.stream_export(db.engine, project_id, "tasks", "csv")
        stored = exportfiles.write(
            db.engine,
            stream,
            job_id=job_id,
            project_id=project_id,
            filename=name,
            content_type="text/csv",
            chunk_bytes=100,
        )
        with db.engine.begin() as conn:
            conn.execute(
                update(ExportFile)
                .where(ExportFile.id == stored.id)
                .values(created=now - age, complete=complete)
            )
            # start_export reuses a pending export: end this one
            conn.execute(update(JobRecord).where(JobRecord.id == job_id).values(status="failed"))
        db.session.rollback()
    assert records.submit_once(
        "cleanup-1",
        "cleanup_exports",
        "cleanup-1",
        kind="cleanup",
        queue="low",
    )
    record = settle("cleanup-1")
    assert record.status == "finished", record.error
    assert record.result["files_removed"] == 2
    left = db.session.scalars(select(ExportFile.filename).order_by(ExportFile.id)).all()
    assert left == ["fresh", "writing"]
    kept = db.session.scalars(select(ExportFile.id)).all()
    assert set(db.session.scalars(select(ExportChunk.file_id).distinct())) == set(kept)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("pets-answers.csv", "attachment; filename=pets-answers.csv"),
        ('a"; filename=evil.exe', "attachment; filename=a_filename_evil.exe"),
        ("../../etc/passwd", "attachment; filename=_.._etc_passwd"),
        ("chats-été\r\nX: y.csv", "attachment; filename=chats-_t_X_y.csv"),
        ("...", "attachment; filename=export"),
    ],
)
def test_the_download_name_is_made_safe(name, header):
    assert exportfiles.content_disposition(name) == header
