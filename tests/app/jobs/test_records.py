"""Idempotent job bodies, the scheduler's periodic runs, and recovery of lost jobs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from labelhive import starters
from labelhive.accounts import services as accounts
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.imports import writer as task_services
from labelhive.jobs import records
from labelhive.jobs import scheduler
from labelhive.jobs import services as jobs
from labelhive.jobs.models import JobRecord
from labelhive.tasks import jobs as task_jobs
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import csv_file
from tests.app.jobs.conftest import settle
from tests.common import engine


def count(job_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Task).where(Task.import_id == job_id))


def test_an_import_run_again_after_it_finished_inserts_nothing(app, project):
    record = starters.start_import(project, None, csv_file(25), "csv")
    job_id = record.id
    db.session.commit()
    first = settle(job_id)
    assert first.status == "finished" and count(job_id) == 25
    # the worker was killed after the work, before RQ heard of it: RQ runs the job again
    assert task_jobs.import_file(job_id, project.id, "csv") == first.result
    assert count(job_id) == db.session.scalar(select(func.count()).select_from(Task)) == 25


def test_an_import_killed_after_its_last_batch_inserts_nothing_more(app, project):
    data = csv_file(12)
    record = starters.start_import(project, None, data, "csv")
    job_id = record.id
    db.session.flush()
    # every batch committed, the record not yet finished: then the worker was killed
    task_services.import_tasks(project, importers.parse_tasks(data, "csv"), import_id=job_id)
    record.status = "running"
    db.session.info.clear()  # keep the job from being enqueued: this test runs it by hand
    db.session.commit()
    assert task_jobs.import_file(job_id, project.id, "csv") == {
        "imported": 12,
        "inserted_by_this_run": 0,
    }
    assert count(job_id) == 12 and jobs.get_record(job_id).status == "finished"


def test_an_import_killed_half_way_resumes_where_its_last_batch_committed(app, project):
    app.config["IMPORT_BATCH_SIZE"] = 10
    data = csv_file(35)
    record = starters.start_import(project, None, data, "csv")
    job_id = record.id
    # what a run killed after its first batch leaves: 10 tagged tasks, the record running
    db.session.flush()
    specs = importers.parse_tasks(data, "csv")
    task_services.import_tasks(project, specs[:10], import_id=job_id)
    record.status = "running"
    db.session.info.clear()  # keep the job from being enqueued: this test runs it by hand
    db.session.commit()
    result = task_jobs.import_file(job_id, project.id, "csv")
    assert result == {"imported": 35, "inserted_by_this_run": 25}
    urls = db.session.scalars(select(Task.info).where(Task.import_id == job_id).order_by(Task.id))
    assert [info["url"] for info in urls] == [f"https://img.example/{i}.jpg" for i in range(35)]


def test_scheduler_enqueues_each_periodic_run_once_per_period(app, project):
    annotator = accounts.create_user("ann", password=None)
    db.session.commit()
    imported = starters.start_import(project, None, csv_file(3), "csv")
    db.session.commit()
    settle(imported.id)
    claim = engine.claim(db.engine, project.id, annotator.id)
    engine.submit(db.engine, claim.task["id"], annotator.id, "robin", project_id=project.id)
    # the start of the current hour: every period (30 s to 1 h) begins there, so one second
    # later is the same period for all of them
    now = utcnow().replace(tzinfo=dt.UTC).timestamp() // 3600 * 3600
    first = scheduler.tick(app, now)
    again = scheduler.tick(app, now + 1)
    assert again == []
    period = {"sweep": 30, "consensus": 300, "cleanup": 3600}
    assert sorted(first) == sorted(
        [
            f"sweep-{int(now // 30)}",
            f"cleanup-{int(now // 3600)}",
            f"consensus-{project.id}-{int(now // period['consensus'])}",
        ]
    )
    results = {job_id.split("-")[0]: settle(job_id) for job_id in first}
    assert all(r.status == "finished" for r in results.values()), results
    assert results["consensus"].result["project_id"] == project.id
    # the records carry the jobs' registered names, not Python paths
    assert {r.func for r in results.values()} == {
        "sweep_leases",
        "cleanup_exports",
        "refresh_consensus",
    }
    # nothing expired, and the task counts had nothing to fold (SQLite keeps one row a project)
    assert results["sweep"].result == {"swept": 0, "folded": 0}
    # the next period enqueues the next runs
    assert "sweep-" + str(int((now + 30) // 30)) in scheduler.tick(app, now + 30)


def test_recover_enqueues_again_a_job_whose_worker_died(app, project):
    record = starters.start_import(project, None, csv_file(4), "csv")
    job_id = record.id
    db.session.info.clear()  # the job "was" enqueued, and its worker died running it
    record.status = "running"
    record.attempts = 1
    db.session.commit()
    assert records.recover(app) == []  # its heartbeat is recent: still alive
    old = utcnow() - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
    db.session.execute(update(JobRecord).values(updated=old))
    db.session.commit()
    assert records.recover(app) == [job_id]
    record = settle(job_id)
    assert record.status == "finished" and record.attempts == 2 and count(job_id) == 4


def test_recover_gives_up_after_the_maximum_attempts(app, project):
    record = starters.start_import(project, None, csv_file(4), "csv")
    db.session.info.clear()
    record.status = "running"
    record.attempts = app.config["JOB_MAX_ATTEMPTS"]
    record.updated = utcnow() - dt.timedelta(hours=1)
    db.session.commit()
    assert records.recover(app) == []
    db.session.rollback()
    record = jobs.get_record(record.id)
    assert record.status == "failed" and "Gave up after" in record.error
    assert count(record.id) == 0
