"""Fixtures for the job tests: a project, and waiting for a record to settle."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from labelhive.accounts import services as accounts
from labelhive.extensions import db
from labelhive.jobs import services as jobs
from labelhive.jobs.models import JobRecord
from labelhive.projects import services as projects
from labelhive.projects.models import Project


@pytest.fixture
def project(app: Flask) -> Project:
    owner = accounts.create_user("olivia", password=None)
    project = projects.create_project(
        owner,
        {
            "name": "Birds",
            "short_name": "birds",
            "info": {"question": "Which bird?", "answers": ["robin", "wren"]},
            "default_n_answers": 2,
        },
    )
    db.session.commit()
    return project


def csv_file(n: int, start: int = 0) -> bytes:
    rows = "".join(f"https://img.example/{i}.jpg\n" for i in range(start, start + n))
    return ("url\n" + rows).encode()


def settle(job_id: str, timeout: float = 20) -> JobRecord:
    """Wait (bounded) for a job run in-process to finish or fail, and return its record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # a new transaction each time: SQLite shows a reader the snapshot it started with
        db.session.rollback()
        record = jobs.get_record(job_id)
        if record is not None and record.status in ("finished", "failed"):
            return record
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} did not settle in {timeout} s")
