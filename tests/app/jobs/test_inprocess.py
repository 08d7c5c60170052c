"""With no Redis, jobs run on a thread of the web process: the same job functions."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import func
from sqlalchemy import select

from labelhive import starters
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import queues
from labelhive.jobs import services as jobs
from labelhive.jobs.models import ExportFile
from labelhive.jobs.models import JobRecord
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import csv_file
from tests.app.jobs.conftest import settle


def task_count(import_id: str | None = None) -> int:
    query = select(func.count()).select_from(Task)
    if import_id is not None:
        query = query.where(Task.import_id == import_id)
    return db.session.scalar(query)


def test_no_redis_configured_means_in_process(app):
    assert connection.redis(app) is None
    assert not connection.settings(app.config).configured


def test_import_job_runs_in_process_with_progress_and_result(app, project, tmp_path):
    upload = tmp_path / "tasks.csv"
    upload.write_bytes(csv_file(45))
    app.config["IMPORT_BATCH_SIZE"] = 10
    record = starters.start_import(project, None, upload, "csv", n_answers=3)
    job_id = record.id
    assert record.status == "queued" and record.kind == "import"
    db.session.commit()
    upload.unlink()  # the bytes travel with the record, not on the web Pod's disk
    record = settle(job_id)
    assert record.status == "finished", record.error
    assert (record.done, record.total) == (45, 45)
    assert record.result == {"imported": 45, "inserted_by_this_run": 45}
    assert task_count(job_id) == task_count() == 45
    assert set(db.session.scalars(select(Task.n_answers))) == {3}
    # the uploaded bytes are not kept once the import is done
    assert db.session.scalar(select(JobRecord.payload).where(JobRecord.id == job_id)) is None


def test_starting_the_same_import_key_twice_imports_once(app, project):
    first = starters.start_import(project, None, csv_file(5), "csv", key="upload-token-1")
    db.session.commit()
    second = starters.start_import(project, None, csv_file(5), "csv", key="upload-token-1")
    db.session.commit()
    assert first.id == second.id
    assert settle(first.id).status == "finished"
    assert task_count() == 5


def test_a_rolled_back_request_enqueues_nothing(app, project):
    record = starters.start_import(project, None, csv_file(5), "csv")
    job_id = record.id
    db.session.rollback()
    # give a wrongly enqueued job time to run: the executor runs jobs one at a time, so a
    # marker job submitted after it finishes only after it
    marker = queues._in_process_executor().submit(time.sleep, 0)
    marker.result(timeout=10)
    db.session.rollback()
    assert jobs.get_record(job_id) is None
    assert task_count() == 0


def test_a_bad_file_fails_with_the_parsers_sentence_and_imports_nothing(app, project):
    data = b"url\nhttps://img.example/1.jpg\njavascript:alert(1)\n"
    record = starters.start_import(project, None, data, "csv")
    db.session.commit()
    record = settle(record.id)
    assert record.status == "failed"
    assert "Row 2" in record.error
    assert task_count() == 0


def test_export_job_stores_a_complete_file_for_download(app, project):
    imported = starters.start_import(project, None, csv_file(30), "csv")
    db.session.commit()
    assert settle(imported.id).status == "finished"
    record = starters.start_export(project, None, "tasks", "jsonl")
    db.session.commit()
    record = settle(record.id)
    assert record.status == "finished", record.error
    stored = jobs.export_file(record)
    assert stored.filename == "birds-tasks.jsonl"
    assert stored.content_type == "application/x-ndjson"
    data = b"".join(jobs.export_bytes(stored))
    assert len(data) == stored.size == record.result["bytes"]
    assert hashlib.sha256(data).hexdigest() == stored.sha256 == record.result["sha256"]
    lines = data.splitlines()
    assert len(lines) == 30 and record.result["rows"] == 30 == record.done
    # the progress total: the task count the triggers keep (labelhive.tasks.counts)
    assert record.total == 30
    # one file, complete, in the database; nothing on the disk
    files = db.session.scalars(select(ExportFile)).all()
    assert [(f.id, f.complete) for f in files] == [(stored.id, True)]


def test_an_export_that_is_still_pending_is_reused(app, project):
    first = starters.start_export(project, None, "answers", "csv")
    again = starters.start_export(project, None, "answers", "csv")
    other = starters.start_export(project, None, "answers", "json")
    assert again is first and other.id != first.id
    db.session.commit()
    assert settle(first.id).status == "finished"
    assert settle(other.id).status == "finished"
    assert jobs.export_file(jobs.get_record(first.id)) is not None
    assert [r.id for r in jobs.project_records(project.id)] == [other.id, first.id]
