"""Answer exports written by PostgreSQL's ``COPY`` are byte-identical to the Python encoders'.

Real PostgreSQL: the same project exported twice, through ``COPY`` (``exports_pg``) and through
the Python encoders alone, must give the same bytes; a row PostgreSQL would write differently
(floats, arrays, nested objects) must come back to the encoders, and only that row.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import JSON
from sqlalchemy import text

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.exports import exports
from labelhive.exports import exports_pg
from labelhive.extensions import db
from labelhive.models import Task
from tests.app.exports.test_exports import new_project
from tests.conftest import make_app

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


def copy_lines(project_id: int, fmt: str) -> list[bytes]:
    """The lines the export's ``COPY`` sends (before the chunks are put together)."""
    with db.engine.connect() as conn:
        kind = exports._KINDS["answers"]
        ceiling = conn.scalar(
            text("SELECT max(id) FROM answer WHERE project_id = :p"), {"p": project_id}
        )
        names = [c.name for c in kind.columns]
        flats = exports._csv_layout(conn, kind, project_id, ceiling) if fmt == "csv" else {}
        statement = exports._copy_statement(conn, kind, fmt, names, flats, project_id, ceiling)
        assert statement is not None
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(*statement) as copy:
            return [bytes(data) for data in copy]


def by_encoders(lines: list[bytes]) -> int:
    return sum(line.startswith(exports_pg._MARKER) for line in lines)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_plain_answers_by_copy_are_the_encoders_bytes(pg_app, fmt):
    project_id = seed("plain", SIMPLE)
    lines = copy_lines(project_id, fmt)
    assert len(lines) == len(SIMPLE)
    assert by_encoders(lines) == 0  # PostgreSQL wrote every line
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_object_answers_with_simple_values(pg_app, fmt):
    infos = [
        {"label": value, "n": number, "ok": number % 2 == 0} for number, value in enumerate(SIMPLE)
    ]
    project_id = seed("objects", [*infos, {}, {"only": "one"}, "plain too", None])
    assert by_encoders(copy_lines(project_id, fmt)) == 0
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
@pytest.mark.parametrize(
    "info",
    [2.5, 1e-7, 1.0, ["a", 1], {"a": [1, 2]}, {"a": {"b": None}}, {"label": 0.1}],
)
def test_values_postgresql_would_write_otherwise_go_through_the_encoders(pg_app, fmt, info):
    project_id = seed("mixed", ["cat", info, "dog"])
    lines = copy_lines(project_id, fmt)
    # only the row PostgreSQL cannot write exactly comes back to the encoders
    assert [line.startswith(exports_pg._MARKER) for line in lines] == [False, True, False]
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_escapes_and_line_breaks_survive_the_copy(pg_app, fmt):
    """COPY's text format escapes these; the chunks must hold the original characters."""
    odd = ["two\nlines", "cr\r\nlf", "\\.", "back\\slash\\n", "\\\\", "tab\tin", "\x01start",
           "bell\x07", "\x0b\x0c\x08", {"label": "x\r\ny", "k": "a\\b"}]  # fmt: skip
    project_id = seed("odd", odd)
    db.session.execute(
        text("UPDATE users SET name = 'two' || chr(10) || 'lines\\' WHERE name = 'ann'")
    )
    db.session.commit()
    assert by_encoders(copy_lines(project_id, fmt)) == 0
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python


def test_unescape_reverses_copys_text_format(pg_app):
    values = ["", "\\", "\\\\", "\\n", "\n", "\\\n", "a\tb\rc\x08d\x0ce\x0bf", "\\t\t\\\\t", "ü ✓"]
    raw = db.engine.raw_connection()
    try:
        with (
            raw.driver_connection.cursor() as cursor,
            cursor.copy(
                "COPY (SELECT v FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i)"
                " TO STDOUT",
                (values,),
            ) as copy,
        ):
            lines = [bytes(data) for data in copy]
    finally:
        raw.close()
    # COPY did escape some (or this test would prove nothing)
    assert any(line != value.encode() + b"\n" for line, value in zip(lines, values, strict=True))
    assert [exports_pg._unescape(line[:-1]).decode() for line in lines] == values


def test_progress_counts_the_rows_written_by_copy(pg_app):
    project_id = seed("progress", SIMPLE * 3)
    seen: list[int] = []
    kind = exports._KINDS["answers"]
    b"".join(exports._stream(db.engine, project_id, kind, "jsonl", seen.append, 7))
    total = len(SIMPLE) * 3
    assert seen == [*range(7, total, 7), total]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_info_keys_are_bound_not_spliced_into_the_sql(pg_app, fmt):
    keys = ["it's", "50%", "%(project_id)s", "back\\slash", '"; DROP TABLE answer; --', ""]
    project_id = seed("keys", [{key: f"v{n}" for n, key in enumerate(keys)}, {"it's": 1}])
    assert by_encoders(copy_lines(project_id, fmt)) == 0
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python
    assert "v3" in by_copy.decode()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_names_the_app_creates_are_taken_as_they_are(pg_app, fmt):
    project_id = seed("names", SIMPLE)
    with db.engine.connect() as conn:
        assert not exports_pg.plain_names(conn)  # seed() gave some users odd names
    db.session.execute(text("UPDATE users SET name = 'user-' || id || '_x.y'"))
    db.session.commit()
    with db.engine.connect() as conn:
        assert exports_pg.plain_names(conn)
    assert by_encoders(copy_lines(project_id, fmt)) == 0
    by_copy, by_python = both(project_id, fmt)
    assert by_copy == by_python
    assert b"user-" in by_copy


def test_timestamps_are_iso_whatever_the_sessions_date_style(pg_url):
    # a server whose DateStyle is not ISO: PostgreSQL's text of a timestamp is 'dd/mm/yyyy ...'
    app = make_app(f"{pg_url}?options=-c%20DateStyle%3DSQL%2CDMY")
    with app.app_context():
        project_id = seed("styles", ["cat", "dog"])
        assert db.session.scalar(text("SHOW DateStyle")) == "SQL, DMY"
        for what, fmt in [("answers", "csv"), ("answers", "jsonl"), ("tasks", "jsonl")]:
            data = b"".join(exports.stream_export(db.engine, project_id, what, fmt))
            assert re.search(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", data), (what, fmt)
            assert not re.search(rb"\d\d/\d\d/\d{4}", data), (what, fmt)
        by_copy, by_python = both(project_id, "csv")
        assert by_copy == by_python
        db.session.remove()
        db.engine.dispose()
