"""Bulk task import on real SQLite and PostgreSQL: counts, precedence, atomicity."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.imports.parsers import ImportFormatError
from labelhive.imports.parsers import TaskSpec
from labelhive.imports.parsers import iter_tasks
from labelhive.imports.parsers import parse_tasks
from labelhive.imports.writer import import_tasks
from labelhive.models import Project
from labelhive.models import Task
from tests.conftest import make_app


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def new_project(short_name: str = "p", **settings: object) -> Project:
    owner = create_user(f"owner-{short_name}")
    project = Project(name=short_name.upper(), short_name=short_name, owner_id=owner.id, **settings)
    db.session.add(project)
    db.session.commit()
    return project


def task_count(project_id: int | None = None) -> int:
    query = select(func.count()).select_from(Task)
    if project_id is not None:
        query = query.where(Task.project_id == project_id)
    return db.session.scalar(query)


def test_hundred_thousand_row_csv_imports_exactly(db_app, capsys):
    project = new_project()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["url", "label", "n_answers"])
    writer.writerows([f"https://e.com/{i}.jpg", f"item {i}", 2 + i % 3] for i in range(100_000))
    data = out.getvalue().encode()

    started = time.perf_counter()
    specs = parse_tasks(data, "csv")
    parsed = time.perf_counter()
    seen: list[int] = []
    assert import_tasks(project, specs, progress=seen.append) == 100_000
    db.session.commit()
    done = time.perf_counter()
    with capsys.disabled():  # a figure for the report, never asserted
        print(
            f"\n[{db.engine.dialect.name}] 100k-row CSV: parse {parsed - started:.2f} s,"
            f" import+commit {done - parsed:.2f} s"
        )

    assert seen == list(range(5000, 100_001, 5000))
    assert task_count(project.id) == 100_000
    ids = db.session.scalars(select(Task.id).where(Task.project_id == project.id)).all()
    assert len(set(ids)) == 100_000
    last = db.session.scalars(select(Task).order_by(Task.id.desc()).limit(1)).one()
    assert last.info == {"url": "https://e.com/99999.jpg", "label": "item 99999"}
    assert (last.n_answers, last.priority_0, last.state, last.gold_answer) == (
        2 + 99_999 % 3,
        0.0,
        "ongoing",
        None,
    )
    assert (last.n_done, last.n_reserved, last.calibration, last.quorum) == (0, 0, 0, 0)
    per_redundancy = dict(
        db.session.execute(select(Task.n_answers, func.count()).group_by(Task.n_answers)).all()
    )
    assert per_redundancy == {2: 33_334, 3: 33_333, 4: 33_333}


def test_error_midway_leaves_no_task_behind(db_app):
    project = new_project()
    specs = [TaskSpec(info={"url": f"https://e.com/{i}"}) for i in range(10_000)]
    specs[4999] = TaskSpec(info={"url": "https://e.com/bad"}, n_answers=0)
    seen: list[int] = []
    with pytest.raises(ImportFormatError) as caught:
        import_tasks(project, specs, batch_size=1000, progress=seen.append)
    assert str(caught.value) == "Task 5000: n_answers must be between 1 and 10000, not 0."
    # four batches went in before the bad row: the rollback is what removes them
    assert seen == [1000, 2000, 3000, 4000]
    assert task_count(project.id) == 4000
    db.session.rollback()
    assert task_count() == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            TaskSpec(info={"url": "https://e.com/x", "tags": {1, 2}}),
            "Task 2501: info cannot be stored as JSON (Object of type set is not JSON"
            " serializable).",
        ),
        (
            TaskSpec(info={"url": "https://e.com/x", "score": float("nan")}),
            "Task 2501: info cannot be stored as JSON (Out of range float values are not JSON"
            " compliant",
        ),
        (TaskSpec(info={"t": "a\x00b"}), "Task 2501: info contains a NUL character"),
        (TaskSpec(info={}, gold_answer="a\x00"), "Task 2501: the gold answer must be a string"),
        (TaskSpec(info=["https://e.com/x"]), "Task 2501: info must be a JSON object."),  # type: ignore[arg-type]
    ],
)
def test_values_the_database_would_refuse_are_refused_the_same_on_both(db_app, bad, message):
    project = new_project()
    specs = [TaskSpec(info={"url": f"https://e.com/{i}"}) for i in range(3000)]
    specs[2500] = bad
    with pytest.raises(ImportFormatError) as caught:
        import_tasks(project, specs, batch_size=1000)
    assert str(caught.value).startswith(message)
    assert task_count() == 2000
    db.session.rollback()
    assert task_count() == 0


def test_stored_info_reads_back_exactly(db_app):
    project = new_project()
    info = {
        "url": "https://e.com/1",
        "text": "é ✓ \u2028 \\u0000",
        "nested": {"a": [1, 2.5, None, True]},
    }
    import_tasks(project, [TaskSpec(info=info)])
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Task.info)) == info


def test_redundancy_precedence_argument_then_row_then_project(db_app):
    project = new_project(default_n_answers=7)
    specs = [
        TaskSpec(info={"url": "https://e.com/1"}, n_answers=2, priority_0=0.5),
        TaskSpec(info={"url": "https://e.com/2"}),
    ]
    import_tasks(project, specs)
    import_tasks(project, specs, n_answers=4, priority_0=9.0)
    db.session.commit()
    rows = db.session.execute(select(Task.n_answers, Task.priority_0).order_by(Task.id)).all()
    assert [tuple(row) for row in rows] == [(2, 0.5), (7, 0.0), (4, 9.0), (4, 9.0)]


def test_strings_that_copy_escapes_read_back_exactly(db_app):
    # PostgreSQL's rows go in as COPY text: tabs, line breaks and backslashes are escaped
    project = new_project()
    tricky = 'a\tb\nc\rd\\e \\N "q" é ✓ \u2028'
    specs = [
        TaskSpec(info={"url": "https://e.com/1", "caption": tricky}, gold_answer=tricky),
        TaskSpec(info={"url": "https://e.com/2\\N"}, priority_0=1e-7, n_answers=2),
    ]
    import_tasks(project, specs, import_id="job\t1\\x")
    db.session.commit()
    db.session.expire_all()
    rows = db.session.execute(
        select(
            Task.info, Task.gold_answer, Task.priority_0, Task.n_answers, Task.import_id
        ).order_by(Task.id)
    ).all()
    assert [tuple(row) for row in rows] == [
        ({"url": "https://e.com/1", "caption": tricky}, tricky, 0.0, 3, "job\t1\\x"),
        ({"url": "https://e.com/2\\N"}, None, 1e-7, 2, "job\t1\\x"),
    ]


def test_gold_answers_are_stored_and_empty_gold_is_not_gold(db_app):
    project = new_project()
    import_tasks(
        project,
        [
            TaskSpec(info={"url": "https://e.com/1"}, gold_answer="cat"),
            TaskSpec(info={"url": "https://e.com/2"}, gold_answer=""),
        ],
    )
    db.session.commit()
    golds = db.session.scalars(select(Task.gold_answer).order_by(Task.id)).all()
    assert golds == ["cat", None]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_answers": 0}, "n_answers: n_answers must be between 1 and 10000, not 0."),
        ({"n_answers": "many"}, "n_answers: n_answers must be a whole number"),
        ({"priority_0": float("nan")}, "priority_0: priority_0 must be a finite number"),
    ],
)
def test_invalid_arguments_insert_nothing(db_app, kwargs, message):
    project = new_project()
    with pytest.raises(ImportFormatError) as caught:
        import_tasks(project, [TaskSpec(info={"url": "https://e.com/1"})], **kwargs)
    assert str(caught.value).startswith(message)
    assert task_count() == 0


def test_a_project_added_in_the_same_transaction_is_flushed_first(db_app):
    owner = create_user("owner")
    project = Project(name="New", short_name="new", owner_id=owner.id)
    db.session.add(project)
    assert import_tasks(project, [TaskSpec(info={"url": "https://e.com/1"})]) == 1
    db.session.commit()
    assert task_count(project.id) == 1
    assert db.session.scalar(select(Task.n_answers)) == 3  # the project's default


def test_a_parse_error_midway_keeps_the_whole_batches_before_it_and_the_transaction(db_app):
    project = new_project()
    rows = [f"https://e.com/{i}.jpg" for i in range(3000)]
    rows[2499] = "javascript:alert(1)"
    data = ("url\n" + "\n".join(rows) + "\n").encode()
    seen: list[int] = []
    with pytest.raises(ImportFormatError) as caught:
        import_tasks(project, iter_tasks(data, "csv"), batch_size=1000, progress=seen.append)
    assert str(caught.value).startswith("Row 2500 (line 2501): 'url' must be an http(s):// URL")
    assert seen == [1000, 2000]
    # the transaction still answers queries: the COPY of the first batches was ended cleanly
    assert task_count(project.id) == 2000
    db.session.rollback()
    assert task_count() == 0


def test_info_is_stored_as_json_dumps_writes_it(db_app):
    project = new_project()
    infos = [
        {"url": "https://e.com/1", "label": 'say "hi"\\now', "é": "✓ \u2028 \x01\t\n"},
        {"url": "https://e.com/2", "n": 1, "tags": ["a", "b"], "x": None},
        {},
    ]
    import_tasks(project, [TaskSpec(info=info) for info in infos])
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalars(select(Task.info).order_by(Task.id)).all() == infos
    if db.engine.dialect.name == "sqlite":  # PostgreSQL's jsonb keeps no text
        stored = db.session.execute(text("SELECT info FROM task ORDER BY id")).scalars().all()
        assert stored == [json.dumps(info) for info in infos]


def test_many_different_priorities_and_redundancies_read_back_exactly(db_app):
    project = new_project()
    specs = [
        TaskSpec(info={"url": f"https://e.com/{i}"}, n_answers=1 + i % 7, priority_0=i / 7)
        for i in range(600)
    ]
    specs.append(TaskSpec(info={"url": "https://e.com/z"}, n_answers=1, priority_0=-0.0))
    import_tasks(project, specs, batch_size=100)
    db.session.commit()
    rows = db.session.execute(select(Task.n_answers, Task.priority_0).order_by(Task.id)).all()
    expected = [(spec.n_answers, spec.priority_0) for spec in specs]
    assert [tuple(row) for row in rows] == expected
    assert math.copysign(1.0, rows[-1].priority_0) == 1.0  # -0.0 is stored as 0.0
