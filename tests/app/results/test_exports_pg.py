"""Answer exports written by PostgreSQL's ``COPY`` are byte-identical to the Python encoders'.

Real PostgreSQL: the same project exported twice, through ``COPY`` (``exports_pg``) and through
the Python encoders, must give the same bytes; data PostgreSQL would write differently (floats,
objects, line breaks in CSV) must fall back to the encoders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import JSON
from sqlalchemy import text

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.models import Task
from labelhive.results import exports
from labelhive.results import exports_pg
from tests.app.results.test_exports import new_project

STAMPS = [
    dt.datetime(2024, 5, 1, 12, 30, 15),
    dt.datetime(2024, 5, 1, 12, 30, 15, 120000),  # trailing zeros: Python writes all six
    dt.datetime(2024, 12, 31, 23, 59, 59, 1),
]
SIMPLE = [
    "cat",
    "a,b",
    'say "hi", twice',
    "ünïcode ✓ 🐝",
    "=1+1",
    "+x",
    "-y",
    "@z",
    "\tTab",
    "",
    " lead space",
    "back\\slash",
    "ctl\x01char",
    "line\u2028sep",
    0,
    -5,
    12345678901234567890,
    True,
    False,
    None,
]
NAMES = ["ann", 'o"brien, jr', "=cmd", "-1", "\\.name"]


def seed(short_name: str, infos: list[Any]) -> int:
    project = new_project(short_name)
    users = [User(name=f"{short_name}-{i}") for i in range(len(NAMES))]
    db.session.add_all(users)
    db.session.flush()
    for user, name in zip(users, NAMES, strict=True):
        # names are validated at sign-up; the export must not rely on that
        db.session.execute(
            text("UPDATE users SET name = :n WHERE id = :i"), {"n": name, "i": user.id}
        )
    for number, info in enumerate(infos):
        task = Task(project_id=project.id, info={"url": f"https://e.com/{number}.jpg"})
        db.session.add(task)
        db.session.flush()
        stamp = STAMPS[number % len(STAMPS)]
        db.session.add(
            Answer(
                project_id=project.id,
                task_id=task.id,
                user_id=users[number % len(users)].id,
                # JSON null (None would be SQL NULL, which the column refuses)
                info=JSON.NULL if info is None else info,
                created=stamp,
                finish_time=stamp + dt.timedelta(seconds=number),
            )
        )
    db.session.commit()
    return project.id


def both(project_id: int, fmt: str) -> tuple[bytes, bytes]:
    kind = exports._KINDS["answers"]
    by_copy = b"".join(exports._stream(db.engine, project_id, kind, fmt, None, 7))
    by_python = b"".join(exports._stream(db.engine, project_id, kind, fmt, None, 7, copy=False))
    return by_copy, by_python


def copy_statement(project_id: int, fmt: str) -> str | None:
    with db.engine.connect() as conn:
        kind = exports._KINDS["answers"]
        ceiling = conn.scalar(
            text("SELECT max(id) FROM answer WHERE project_id = :p"), {"p": project_id}
        )
        flats = exports._csv_layout(conn, kind, project_id, ceiling) if fmt == "csv" else {}
        return exports._copy_statement(conn, kind, fmt, flats, project_id, ceiling)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_plain_answers_by_copy_are_the_encoders_bytes(pg_app, fmt):
    project_id = seed("plain", SIMPLE)
    assert copy_statement(project_id, fmt) is not None
    by_copy, by_python = both(project_id, fmt)
    assert by_copy.count(b"\n") >= len(SIMPLE)
    assert by_copy == by_python


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_object_answers_with_simple_values(pg_app, fmt):
    infos = [
        {"label": value, "n": number, "ok": number % 2 == 0} for number, value in enumerate(SIMPLE)
    ]
    project_id = seed("objects", [*infos, "plain too", None])
    statement = copy_statement(project_id, fmt)
    # CSV flattens the keys; JSON Lines would write the objects with PostgreSQL's spaces
    assert (statement is not None) == (fmt == "csv")
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


@pytest.mark.parametrize(
    ("fmt", "info"),
    [
        ("csv", 2.5),
        ("jsonl", 2.5),
        ("csv", 1e-7),
        ("csv", ["a", 1]),
        ("jsonl", {"a": [1, 2]}),
        ("csv", "two\nlines"),
        ("csv", "\\."),
        ("csv", {"label": "x\r\ny"}),
        ("csv", {"label": 0.1}),
    ],
)
def test_values_postgresql_would_write_otherwise_go_through_the_encoders(pg_app, fmt, info):
    project_id = seed("mixed", ["cat", info])
    assert copy_statement(project_id, fmt) is None
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


def test_a_user_name_with_a_line_break_goes_through_the_encoders(pg_app):
    project_id = seed("names", ["cat"])
    db.session.execute(
        text("UPDATE users SET name = 'two' || chr(10) || 'lines' WHERE name = 'ann'")
    )
    db.session.commit()
    assert copy_statement(project_id, "csv") is None
    assert copy_statement(project_id, "jsonl") is not None
    for fmt in ("csv", "jsonl"):
        by_copy, by_python = both(project_id, fmt)
        assert by_copy == by_python


def test_progress_counts_the_rows_written_by_copy(pg_app):
    project_id = seed("progress", SIMPLE * 3)
    seen: list[int] = []
    kind = exports._KINDS["answers"]
    b"".join(exports._stream(db.engine, project_id, kind, "jsonl", seen.append, 7))
    assert seen and seen[-1] == len(SIMPLE) * 3
    assert exports_pg._CHUNK > 0
