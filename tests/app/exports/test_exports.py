"""Streamed exports on real SQLite and PostgreSQL: exact rows, valid documents, flat memory."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert
from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.accounts.services import create_user
from labelhive.answers.models import Answer
from labelhive.exports import exports
from labelhive.exports.exports import content_type
from labelhive.exports.exports import neutralise_cell
from labelhive.exports.exports import stream_export
from labelhive.extensions import db
from labelhive.models import Consensus
from labelhive.models import Project
from labelhive.models import Result
from labelhive.models import Task
from tests.conftest import make_app

NOW = dt.datetime(2024, 5, 1, 12, 30, 15, 123456)


@pytest.fixture
def db_app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def new_project(short_name: str) -> Project:
    owner = create_user(f"owner-{short_name}")
    project = Project(name=short_name.upper(), short_name=short_name, owner_id=owner.id)
    db.session.add(project)
    db.session.commit()
    return project


def export(project_id: int, what: str, fmt: str, **kwargs: Any) -> bytes:
    return b"".join(stream_export(db.engine, project_id, what, fmt, **kwargs))


def jsonl(data: bytes) -> list[dict[str, Any]]:
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def iso(value: dt.datetime) -> str:
    return value.isoformat() + "Z"


def seed() -> dict[str, Any]:
    """Two projects; the first has tasks (one gold), answers by two users, and results."""
    project = new_project("p")
    other = new_project("other")
    alice = create_user("alice")
    # names are validated at sign-up; the export must not rely on that
    mallory = User(name="=mallory")
    db.session.add(mallory)
    infos = [
        {"url": "https://e.com/1.jpg", "caption": '=HYPERLINK("http://evil")', "n": 1},
        {"url": "https://e.com/2.jpg", "caption": "-2+3", "meta": {"w": 640, "tags": ["a"]}},
        {"url": "s3://bucket/3.jpg", "caption": "café ✓\nline two", "flag": True},
    ]
    tasks = [
        Task(project_id=project.id, info=info, n_answers=2, priority_0=0.5 * i, created=NOW)
        for i, info in enumerate(infos)
    ]
    tasks[1].gold_answer = "@gold"
    tasks[0].state, tasks[0].n_done = "completed", 2
    db.session.add_all(tasks)
    db.session.add(Task(project_id=other.id, info={"url": "https://e.com/other"}))
    db.session.flush()
    answers = [
        Answer(task_id=tasks[0].id, project_id=project.id, user_id=alice.id, info="+cat",
               created=NOW, finish_time=NOW + dt.timedelta(seconds=3)),
        Answer(task_id=tasks[0].id, project_id=project.id, user_id=mallory.id,
               info={"label": "dog", "box": [1, 2]},
               created=NOW, finish_time=NOW + dt.timedelta(seconds=4)),
        Answer(task_id=tasks[2].id, project_id=project.id, user_id=alice.id, info="\tdog",
               created=NOW, finish_time=NOW + dt.timedelta(seconds=5)),
    ]  # fmt: skip
    db.session.add_all(answers)
    db.session.flush()
    results = [
        Result(project_id=project.id, task_id=tasks[0].id, info={"label": "cat", "confidence": 0.5},
               task_run_ids=[answers[0].id, answers[1].id], created=NOW),
        Result(project_id=project.id, task_id=tasks[2].id, info=None, task_run_ids=[answers[2].id],
               last_version=False, created=NOW),
    ]  # fmt: skip
    db.session.add_all(results)
    db.session.commit()
    return {
        "project": project.id,
        "other": other.id,
        "tasks": [t.id for t in tasks],
        "answers": [a.id for a in answers],
        "results": [r.id for r in results],
        "users": {alice.id: "alice", mallory.id: "=mallory"},
    }


def expected_tasks(project_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "project_id": t.project_id,
            "created": iso(t.created),
            "state": t.state,
            "n_answers": t.n_answers,
            "n_answers_done": t.n_done,
            "priority_0": t.priority_0,
            "gold_answer": t.gold_answer,
            "info": t.info,
        }
        for t in db.session.scalars(
            select(Task).where(Task.project_id == project_id).order_by(Task.id)
        )
    ]


def expected_answers(project_id: int, users: dict[int, str]) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "task_id": a.task_id,
            "project_id": a.project_id,
            "user_id": a.user_id,
            "user_name": users[a.user_id],
            "created": iso(a.created),
            "finish_time": iso(a.finish_time),
            "info": a.info,
        }
        for a in db.session.scalars(
            select(Answer).where(Answer.project_id == project_id).order_by(Answer.id)
        )
    ]


def expected_results(project_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "task_id": r.task_id,
            "project_id": r.project_id,
            "task_run_ids": r.task_run_ids,
            "last_version": r.last_version,
            "created": iso(r.created),
            # the final label (labelhive.review): null while no consensus is stored
            **_final_label(r.task_id),
            "info": r.info,
            "task_info": db.session.get(Task, r.task_id).info,
        }
        for r in db.session.scalars(
            select(Result).where(Result.project_id == project_id).order_by(Result.id)
        )
    ]


def _final_label(task_id: int) -> dict[str, Any]:
    row = db.session.scalar(select(Consensus).where(Consensus.task_id == task_id))
    names = ("label", "confidence", "method", "review_state", "reviewed_by", "reviewed_at")
    if row is None:
        return dict.fromkeys(names)
    return {name: getattr(row, name) for name in names} | {
        "reviewed_at": iso(row.reviewed_at) if row.reviewed_at else None
    }


# -- JSON and JSONL -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_exports_match_the_database_exactly(db_app, fmt):
    ids = seed()
    parse = json.loads if fmt == "json" else jsonl
    expected = {
        "tasks": expected_tasks(ids["project"]),
        "answers": expected_answers(ids["project"], ids["users"]),
        "results": expected_results(ids["project"]),
    }
    assert [row["id"] for row in expected["tasks"]] == ids["tasks"]
    assert [row["id"] for row in expected["answers"]] == ids["answers"]
    assert [row["id"] for row in expected["results"]] == ids["results"]
    for what, rows in expected.items():
        for batch_size in (1, 2, 2000):
            assert parse(export(ids["project"], what, fmt, batch_size=batch_size)) == rows


def test_jsonl_keeps_formula_like_values_exactly(db_app):
    ids = seed()
    data = export(ids["project"], "tasks", "jsonl")
    assert jsonl(data)[0]["info"]["caption"] == '=HYPERLINK("http://evil")'
    assert jsonl(data)[1]["gold_answer"] == "@gold"
    assert [row["info"] for row in jsonl(export(ids["project"], "answers", "jsonl"))][::2] == [
        "+cat",
        "\tdog",
    ]


@pytest.mark.parametrize("count", [0, 1, 7])
def test_json_export_is_one_valid_array_for_any_row_count(db_app, count):
    project = new_project("p")
    db.session.add_all(
        Task(project_id=project.id, info={"url": f"https://e.com/{i}"}) for i in range(count)
    )
    db.session.commit()
    chunks = list(stream_export(db.engine, project.id, "tasks", "json", batch_size=3))
    document = json.loads(b"".join(chunks))
    assert [row["info"]["url"] for row in document] == [f"https://e.com/{i}" for i in range(count)]
    # streamed: a chunk per batch between the opening and the closing bracket
    assert len(chunks) == 2 + -(-count // 3)


def test_other_projects_rows_are_never_exported(db_app):
    ids = seed()
    for what in exports.WHATS:
        rows = jsonl(export(ids["other"], what, "jsonl"))
        assert all(row["project_id"] == ids["other"] for row in rows)
    assert len(jsonl(export(ids["other"], "tasks", "jsonl"))) == 1
    assert jsonl(export(ids["other"], "answers", "jsonl")) == []
    assert export(12345, "tasks", "jsonl") == b""


def test_rows_added_during_the_export_are_left_out(db_app):
    project = new_project("p")
    db.session.add_all(Task(project_id=project.id, info={"n": i}) for i in range(4))
    db.session.commit()
    stream = stream_export(db.engine, project.id, "tasks", "jsonl", batch_size=2)
    first = next(stream)  # the export has started: its last id is fixed
    db.session.add(Task(project_id=project.id, info={"n": 99}))
    db.session.commit()
    rows = jsonl(first + b"".join(stream))
    assert [row["info"]["n"] for row in rows] == [0, 1, 2, 3]


def test_progress_reports_the_running_count(db_app):
    project = new_project("p")
    db.session.add_all(Task(project_id=project.id, info={}) for _ in range(5))
    db.session.commit()
    seen: list[int] = []
    export(project.id, "tasks", "csv", batch_size=2, progress=seen.append)
    assert seen == [2, 4, 5]


# -- CSV ------------------------------------------------------------------------------------


def test_tasks_csv_flattens_info_and_matches_the_database(db_app):
    ids = seed()
    data = export(ids["project"], "tasks", "csv", batch_size=2)
    header = data.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
    assert header == [
        "id", "project_id", "created", "state", "n_answers", "n_answers_done", "priority_0",
        "gold_answer", "info_url", "info_caption", "info_flag", "info_meta", "info_n",
    ]  # fmt: skip
    rows = csv_rows(data)
    tasks = expected_tasks(ids["project"])
    assert [int(row["id"]) for row in rows] == ids["tasks"]
    for row, task in zip(rows, tasks, strict=True):
        assert row["created"] == task["created"]
        assert (row["state"], int(row["n_answers"]), int(row["n_answers_done"])) == (
            task["state"],
            task["n_answers"],
            task["n_answers_done"],
        )
        assert float(row["priority_0"]) == task["priority_0"]
        assert row["info_url"] == task["info"]["url"]
    assert rows[0]["info_caption"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["info_n"] == "1"
    assert rows[1]["info_caption"] == "'-2+3"
    assert rows[1]["gold_answer"] == "'@gold"
    assert json.loads(rows[1]["info_meta"]) == {"w": 640, "tags": ["a"]}
    assert rows[2]["info_caption"] == "café ✓\nline two"
    assert (rows[2]["info_flag"], rows[2]["info_meta"], rows[2]["gold_answer"]) == ("true", "", "")


def test_answers_csv_puts_plain_answers_in_info_and_neutralises_them(db_app):
    ids = seed()
    rows = csv_rows(export(ids["project"], "answers", "csv"))
    assert list(rows[0]) == [
        "id", "task_id", "project_id", "user_id", "user_name", "created", "finish_time",
        "info", "info_box", "info_label",
    ]  # fmt: skip
    assert [int(row["id"]) for row in rows] == ids["answers"]
    assert [row["user_name"] for row in rows] == ["alice", "'=mallory", "alice"]
    assert [(row["info"], row["info_label"], row["info_box"]) for row in rows] == [
        ("'+cat", "", ""),
        ("", "dog", "[1,2]"),
        ("'\tdog", "", ""),
    ]
    expected = expected_answers(ids["project"], ids["users"])
    assert [row["finish_time"] for row in rows] == [a["finish_time"] for a in expected]


def test_results_csv_has_result_and_task_info(db_app):
    ids = seed()
    rows = csv_rows(export(ids["project"], "results", "csv"))
    assert [int(row["id"]) for row in rows] == ids["results"]
    first, second = rows
    assert json.loads(first["task_run_ids"]) == ids["answers"][:2]
    assert (first["info_label"], first["info_confidence"], first["last_version"]) == (
        "cat",
        "0.5",
        "true",
    )
    assert first["task_info_url"] == "https://e.com/1.jpg"
    assert (second["info_label"], second["last_version"], second["task_info_url"]) == (
        "",
        "false",
        "s3://bucket/3.jpg",
    )
    assert "info" not in first  # no result holds a non-object info


def test_csv_with_too_many_info_keys_keeps_info_whole(db_app):
    project = new_project("p")
    count = exports.MAX_INFO_COLUMNS + 1
    db.session.add_all(Task(project_id=project.id, info={f"k{i}": "=1"}) for i in range(count))
    db.session.commit()
    rows = csv_rows(export(project.id, "tasks", "csv"))
    assert len(rows) == count
    assert list(rows[0])[-1] == "info"
    assert [json.loads(row["info"]) for row in rows] == [{f"k{i}": "=1"} for i in range(count)]


def test_empty_csv_export_is_a_header(db_app):
    project = new_project("p")
    data = export(project.id, "answers", "csv")
    assert data == (b"\xef\xbb\xbfid,task_id,project_id,user_id,user_name,created,finish_time\r\n")


# -- helpers and arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        ("cat", "cat"),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_content_types():
    assert content_type("csv") == "text/csv; charset=utf-8"
    assert content_type("json") == "application/json"
    assert content_type("jsonl") == "application/x-ndjson"
    with pytest.raises(ValueError, match="Unknown export format 'xml'"):
        content_type("xml")


def test_bad_arguments_raise_before_streaming(db_app):
    with pytest.raises(ValueError, match="Unknown export 'users'"):
        stream_export(db.engine, 1, "users", "csv")
    with pytest.raises(ValueError, match="Unknown export format 'xlsx'"):
        stream_export(db.engine, 1, "tasks", "xlsx")
    with pytest.raises(ValueError, match="batch_size"):
        stream_export(db.engine, 1, "tasks", "csv", batch_size=0)


# -- memory ---------------------------------------------------------------------------------


def seed_answers(short_name: str, n_tasks: int, users: list[int]) -> int:
    """``n_tasks * len(users)`` answers through Core bulk inserts."""
    project = new_project(short_name)
    db.session.execute(
        insert(Task.__table__),
        [
            {"project_id": project.id, "info": {"url": f"https://e.com/{i}.jpg"}}
            for i in range(n_tasks)
        ],
    )
    task_ids = db.session.scalars(select(Task.id).where(Task.project_id == project.id)).all()
    db.session.execute(
        insert(Answer.__table__),
        [
            {"project_id": project.id, "task_id": task_id, "user_id": user_id,
             "info": {"label": "cat", "note": "x" * 40}}
            for task_id in task_ids
            for user_id in users
        ],
    )  # fmt: skip
    db.session.commit()
    return project.id


def peak_export_bytes(project_id: int, fmt: str) -> tuple[int, int]:
    """(rows, peak traced heap in bytes) while streaming an export to nowhere."""
    gc.collect()
    tracemalloc.start()
    try:
        size = 0
        for chunk in stream_export(db.engine, project_id, "answers", fmt, batch_size=1000):
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, peak


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_memory_stays_flat_from_5k_to_50k_answers(db_app, fmt):
    users = [create_user(f"u{i}").id for i in range(10)]
    small = seed_answers("small", 500, users)
    large = seed_answers("large", 5000, users)
    peak_export_bytes(small, fmt)  # warm the statement cache and imports
    small_size, small_peak = peak_export_bytes(small, fmt)
    large_size, large_peak = peak_export_bytes(large, fmt)
    assert large_size > 9 * small_size  # ten times the rows really went through
    # ten times the rows, about the same peak: memory does not grow with the export
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
