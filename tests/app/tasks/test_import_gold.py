"""A gold answer must be one of the project's answer options, whichever way tasks come in.

Before the task spec was one schema (:mod:`labelhive.tasks.schemas`), ``POST /api/task``
refused a gold ``zebra`` in a cat/dog/bird project but every importer stored it, and it then
scored every annotator wrong. Here: the parser for each format and both column names, the import
job and the API's bulk import on SQLite and PostgreSQL, and the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from labelhive import starters
from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.imports import parsers as importers
from labelhive.jobs import services as jobs
from labelhive.models import Project
from labelhive.models import Task
from labelhive.tasks import schemas
from tests.app.api.conftest import Api
from tests.app.api.conftest import any_api  # noqa: F401 - a fixture
from tests.app.api.conftest import envelope
from tests.app.test_cli import env  # noqa: F401 - a fixture
from tests.app.test_cli import refused
from tests.app.test_cli import task_count
from tests.app.test_cli import write_csv
from tests.conftest import make_app

OPTIONS = ("cat", "dog", "bird")


def task_file(fmt: str, key: str, golds: list[str]) -> bytes:
    """A task file of one row per gold answer (``""``: no gold)."""
    rows = [{"url": f"https://img.example/{i}.jpg", key: g} for i, g in enumerate(golds)]
    if fmt == "json":
        return json.dumps(rows).encode()
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows).encode()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["url", key])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("key", ["gold", "gold_answer", "Gold_Answer"])
@pytest.mark.parametrize("fmt", importers.FORMATS)
def test_every_format_refuses_a_gold_answer_outside_the_options_naming_the_row(fmt, key):
    data = task_file(fmt, key, ["cat", "zebra", "dog"])
    with pytest.raises(importers.ImportFormatError) as refusal:
        importers.parse_tasks(data, fmt, answer_options=OPTIONS)
    message = str(refusal.value)
    assert message.startswith(("Row 2", "Item 2", "Line 2")), message
    assert "gold answer" in message and "'zebra'" in message
    assert "'cat', 'dog', 'bird'" in message  # what the owner may write instead
    # options the file does use, blanks (no gold) and surrounding spaces are fine
    specs = importers.parse_tasks(
        task_file(fmt, key, ["cat", "", " bird "]), fmt, answer_options=OPTIONS
    )
    assert [s.gold_answer for s in specs] == ["cat", None, "bird"]


def test_a_project_without_options_takes_any_gold_string():
    assert schemas.gold_error("zebra", []) is None
    assert schemas.gold_error("zebra", OPTIONS) is not None
    assert schemas.gold_error(None, OPTIONS) is None
    assert schemas.gold_error(3, OPTIONS) == "it must be a string."
    assert schemas.gold_error("c\x00at", []) == "it must not contain NUL characters."


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def settle(job_id: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        record = jobs.get_record(job_id)
        if record is not None and record.status in ("finished", "failed"):
            return record
        time.sleep(0.05)
    raise TimeoutError(job_id)


@pytest.mark.parametrize("fmt", importers.FORMATS)
def test_the_import_job_refuses_the_file_whole_on_both_databases(db_app, fmt):
    owner = create_user("olivia")
    project = Project(
        name="Pets", short_name="pets", owner_id=owner.id, info={"answers": list(OPTIONS)}
    )
    db.session.add(project)
    db.session.commit()
    bad = starters.start_import(project, None, task_file(fmt, "gold", ["cat", "zebra"]), fmt)
    db.session.commit()
    failed = settle(bad.id)
    assert failed.status == "failed"
    assert failed.error.startswith(("Row 2", "Item 2", "Line 2")) and "'zebra'" in failed.error
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0
    good = starters.start_import(project, None, task_file(fmt, "gold", ["cat", ""]), fmt)
    db.session.commit()
    assert settle(good.id).status == "finished"
    assert list(db.session.scalars(select(Task.gold_answer).order_by(Task.id))) == ["cat", None]


def test_the_api_bulk_import_refuses_it_as_post_task_does(any_api: Api):  # noqa: F811
    project = any_api.project(any_api.owner, "pets", info={"answers": list(OPTIONS)})
    rows = [
        {"url": "https://img.example/1.jpg"},
        {"url": "https://img.example/2.jpg", "gold": "zebra"},
    ]
    path = f"/api/project/{project['id']}/import"
    body = envelope(
        any_api.post(path, any_api.owner, {"tasks": rows}), 400, "BadRequest", "project"
    )
    assert body["exception_msg"].startswith("Item 2: ") and "'zebra'" in body["exception_msg"]
    # one task at a time: the same rule, its message unchanged
    single = any_api.post(
        "/api/task",
        any_api.owner,
        {"project_id": project["id"], "info": {"url": "x.png"}, "gold_answer": "zebra"},
    )
    message = envelope(single, 400, "BadRequest", "task")["exception_msg"]
    assert message == (
        "gold_answer: The answer must be one of the project's options ('cat', 'dog', 'bird'),"
        " not 'zebra'."
    )
    assert any_api.ok(any_api.get("/api/task", any_api.owner, project_id=project["id"])) == []


def test_the_cli_refuses_it_with_a_sentence(env, tmp_path):  # noqa: F811
    # the CLI's project answers robin, wren or tit
    bad = write_csv(
        tmp_path / "gold.csv",
        ["url", "gold_answer"],
        [["https://img.example/1.jpg", "robin"], ["https://img.example/2.jpg", "zebra"]],
    )
    message = refused(env, "import", "birds", str(bad))
    assert "Row 2" in message and "'zebra'" in message and "'robin', 'wren', 'tit'" in message
    assert task_count(env) == 0
