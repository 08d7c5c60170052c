"""The job registry: stable names in records and in Redis, legacy paths, user errors, no domain."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq import SimpleWorker
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from labelhive import starters
from labelhive import wiring
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import UserError
from labelhive.jobs import records
from labelhive.jobs import registry
from labelhive.jobs.models import JobRecord
from labelhive.jobs.worker import LegacyPathJob
from labelhive.tasks.models import Task
from tests.app.jobs.conftest import csv_file
from tests.app.jobs.conftest import settle
from tests.app.jobs.test_worker import redis_app  # noqa: F401 - a fixture
from tests.app.jobs.test_worker import redis_server  # noqa: F401 - a fixture

JOBS_PACKAGE = Path(registry.__file__).parent


def _stale(app, job_id: str) -> None:  # noqa: ANN001
    old = utcnow() - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
    db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(updated=old))
    db.session.commit()


def test_every_legacy_path_maps_to_a_registered_job_but_the_retired_one(app):
    # every dotted path a record of an earlier release can hold, mapped once
    retired = {"refresh_stats"}
    assert set(registry.LEGACY_PATHS.values()) - retired <= set(registry.names())
    for path, name in registry.LEGACY_PATHS.items():
        if name not in retired:
            assert registry.lookup(path) is registry.lookup(name)
    # and the worker finds each job a release before the registry queued in Redis by its
    # function's path (moved since): test_a_job_queued_by_its_old_path_runs_in_the_worker
    for path, name in registry.LEGACY_PATHS.items():
        if name not in retired:
            queued = LegacyPathJob("old", connection=Redis())  # never connects
            queued._func_name = path  # what RQ reads back from such a job's hash
            assert queued.func is registry.lookup(name)


def test_a_record_of_the_previous_release_with_a_dotted_path_is_recovered_and_runs(app, project):
    record = starters.start_import(project, None, csv_file(4), "csv")
    record.func = "labelhive.tasks.jobs.import_file"  # what the previous release stored
    db.session.info.clear()  # "enqueued" by the previous release, then lost by Redis
    db.session.commit()
    _stale(app, record.id)
    assert records.recover(app) == [record.id]
    done = settle(record.id)
    assert done.status == "finished", done.error
    assert db.session.scalar(select(func.count()).select_from(Task)) == 4


def test_records_and_redis_hold_the_jobs_name_never_its_functions_path(redis_app):  # noqa: F811
    app, client = redis_app
    from labelhive.accounts import services as accounts
    from labelhive.projects import services as projects

    owner = accounts.create_user("olivia", password=None)
    project = projects.create_project(owner, {"name": "Birds", "short_name": "birds", "info": {}})
    db.session.commit()
    job_id = starters.start_export(project, None, "tasks", "csv").id
    db.session.commit()
    assert db.session.get(JobRecord, job_id).func == "export_file"
    (queued,) = Queue("default", connection=client).get_jobs()
    assert queued.func_name == "labelhive.jobs.registry.perform"
    assert queued.args[0] == "export_file" and "labelhive.results" not in str(queued.args)
    # a worker runs it by name
    SimpleWorker([Queue("default", connection=client)], connection=client).work(burst=True)
    db.session.rollback()
    record = db.session.get(JobRecord, job_id)
    assert record.status == "finished", record.error


def test_a_job_queued_by_its_old_path_runs_in_the_worker(redis_app):  # noqa: F811
    app, client = redis_app
    from labelhive.accounts import services as accounts
    from labelhive.projects import services as projects

    owner = accounts.create_user("olivia", password=None)
    project = projects.create_project(owner, {"name": "Birds", "short_name": "birds", "info": {}})
    db.session.commit()
    job_id = starters.start_export(project, None, "tasks", "csv").id
    db.session.commit()
    queue = Queue("default", connection=client)
    queue.empty()
    # what a release before the registry put in Redis: the function's path, now moved
    queue.enqueue_call(
        "labelhive.results.jobs.export_file",
        args=(job_id, project.id, "tasks", "csv"),
        job_id=job_id,
    )
    SimpleWorker([queue], connection=client, job_class=LegacyPathJob).work(burst=True)
    db.session.rollback()
    record = db.session.get(JobRecord, job_id)
    assert record.status == "finished", record.error


def test_a_renamed_function_keeps_its_stored_records_runnable(app, project):
    @registry.job("probe_rename", queue="low")
    def before(job_id: str, project_id: int) -> dict | None:
        return records.run_job(job_id, lambda run: {"ran": "before"})

    try:
        records.submit("probe-1", before, "probe-1", project.id, kind="probe")
        db.session.info.clear()  # stored, not run: the release that defined "before" ends
        db.session.commit()
        assert db.session.get(JobRecord, "probe-1").func == "probe_rename"

        # the next release renamed (and moved) the function; the name stays
        registry._JOBS.pop("probe_rename")

        @registry.job("probe_rename", queue="low")
        def after(job_id: str, project_id: int) -> dict | None:
            return records.run_job(job_id, lambda run: {"ran": "after"})

        _stale(app, "probe-1")
        assert records.recover(app) == ["probe-1"]
        assert settle("probe-1").result == {"ran": "after"}
    finally:
        registry._JOBS.pop("probe_rename", None)


def test_a_name_is_registered_once(app):
    with pytest.raises(ValueError, match="already registered"):
        registry.job("export_file", queue="low")(lambda *args: None)
    with pytest.raises(ValueError, match="Unknown queue"):
        registry.job("probe_queue", queue="urgent")
    with pytest.raises(registry.UnknownJob):
        registry.lookup("labelhive.results.jobs.no_such_job")


def test_a_user_error_is_shown_and_anything_else_is_internal(app, project):
    @registry.job("probe_errors", queue="low")
    def fails(job_id: str, error: str) -> dict | None:
        def body(run: records.Run) -> dict:
            if error == "user":
                raise UserError("The file has no header row: add one.")
            raise KeyError("secret-internal-detail")

        return records.run_job(job_id, body)

    try:
        for job_id, error in (("probe-user", "user"), ("probe-internal", "internal")):
            records.submit(job_id, fails, job_id, error, kind="probe")
        db.session.commit()
        assert settle("probe-user").error == "The file has no header row: add one."
        internal = settle("probe-internal")
        assert internal.status == "failed"
        assert internal.error == "Internal error (KeyError); it has been logged."
    finally:
        registry._JOBS.pop("probe_errors", None)


def test_a_bad_import_file_is_a_user_error_naming_the_row(app, project):
    data = b"url\nhttps://img.example/1.jpg\nftp://x\n"
    record = starters.start_import(project, None, data, "csv")
    db.session.commit()
    failed = settle(record.id)
    assert failed.status == "failed"
    assert failed.error.startswith("Row 2") and "Internal error" not in failed.error


def test_a_stored_job_this_release_no_longer_has_fails_with_a_sentence(app):
    # the periodic "stats" job was removed (nothing read its result)
    db.session.add(
        JobRecord(
            id="stats-1-1",
            kind="stats",
            func="labelhive.tasks.jobs.refresh_stats",
            args=["stats-1-1", 1],
            queue="default",
        )
    )
    db.session.commit()
    _stale(app, "stats-1-1")
    assert records.recover(app) == []
    db.session.rollback()
    record = db.session.get(JobRecord, "stats-1-1")
    assert record.status == "failed" and "no longer exists" in record.error


def _labelhive_imports(path: Path) -> set[str]:
    """The ``labelhive.<package>`` names a module imports outside ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for child in block.body
        for node in ast.walk(child)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("labelhive.")}
    return found


def test_the_jobs_package_imports_no_domain():
    # the application's plumbing only; ``web`` (the job page's project look-up and access
    # check) is the web layer's shared helper
    allowed = {"jobs", "db", "extensions", "metrics", "types", "web"}
    imported = {path.name: _labelhive_imports(path) - allowed for path in JOBS_PACKAGE.glob("*.py")}
    assert {name: found for name, found in imported.items() if found} == {}


def test_the_wiring_lists_every_module_that_registers_a_job(app):
    declared = set()
    for module in wiring.JOB_MODULES:
        path = Path(__import__(module, fromlist=["_"]).__file__)
        declared |= {
            node.args[0].value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("job", "registry.job", "jobs.job")
        }
    assert declared == set(registry.names())
