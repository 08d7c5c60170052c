"""Exports are byte-identical to the golden files written by the first (keyset-batch) encoder.

The golden files were produced by the export code before it was made fast; any change to the
bytes an export writes (cell neutralisation, number and date formats, key order, line ends) fails
here. ``LABELHIVE_WRITE_GOLDEN=1`` rewrites them (only after checking the difference is wanted).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import DateTime
from sqlalchemy import literal
from sqlalchemy import select

from labelhive.accounts.services import create_user
from labelhive.answers.models import Answer
from labelhive.exports.exports import FORMATS
from labelhive.exports.exports import WHATS
from labelhive.exports.exports import _iso_datetimes
from labelhive.exports.exports import iso_utc
from labelhive.extensions import db
from labelhive.models import Task
from tests.app.exports.test_exports import NOW
from tests.app.exports.test_exports import db_app  # noqa: F401 (a fixture)
from tests.app.exports.test_exports import export
from tests.app.exports.test_exports import seed
from tests.conftest import make_app

GOLDEN = Path(__file__).parent / "golden"


def seed_more(ids: dict) -> None:
    """Values the first seed lacks: floats, null and list answers, wide ints, odd keys."""
    task = Task(
        project_id=ids["project"],
        info={"url": "https://e.com/4.jpg", "ratio": 0.1, "big": 2**40, "none": None, "": "x"},
        n_answers=1,
        priority_0=1e-7,
        created=NOW + dt.timedelta(microseconds=1),
    )
    db.session.add(task)
    db.session.flush()
    users = [create_user(f"golden{i}").id for i in range(4)]
    db.session.add_all(
        [
            Answer(task_id=task.id, project_id=ids["project"], user_id=users[0], info="",
                   created=NOW, finish_time=NOW),
            Answer(task_id=task.id, project_id=ids["project"], user_id=users[1],
                   info=["a", 1, 2.5, True, None], created=NOW, finish_time=NOW),
            Answer(task_id=task.id, project_id=ids["project"], user_id=users[2], info=3.25,
                   created=NOW, finish_time=NOW),
            Answer(task_id=task.id, project_id=ids["project"], user_id=users[3],
                   info={"label": "-1", "score": -0.5, "ok": False, "t": "ü \"q\" ,x"},
                   created=NOW, finish_time=NOW),
        ]
    )  # fmt: skip
    db.session.commit()


@pytest.mark.parametrize("batch_size", [1, 2000])
def test_exports_are_byte_identical_to_the_golden_files(db_app, batch_size):  # noqa: F811
    ids = seed()
    seed_more(ids)
    for what in WHATS:
        for fmt in FORMATS:
            data = export(ids["project"], what, fmt, batch_size=batch_size)
            # JSONB orders object keys its own way: one set of files per database
            golden = GOLDEN / f"{db.engine.dialect.name}-{what}.{fmt}"
            if os.environ.get("LABELHIVE_WRITE_GOLDEN"):
                golden.write_bytes(data)
            assert data == golden.read_bytes(), (what, fmt)


def test_postgresql_writes_datetimes_as_python_does(pg_url):
    app = make_app(pg_url)
    with app.app_context():
        stamps = {
            dt.datetime(2024, 5, 1, 12, 30, 15): "2024-05-01T12:30:15Z",
            dt.datetime(2024, 5, 1, 12, 30, 15, 1): "2024-05-01T12:30:15.000001Z",
            # the fraction's trailing zeros are left out, as PostgreSQL writes it
            dt.datetime(999, 1, 2, 3, 4, 5, 600000): "0999-01-02T03:04:05.6Z",
            dt.datetime(2024, 5, 1, 12, 30, 15, 120300): "2024-05-01T12:30:15.1203Z",
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999): "9999-12-31T23:59:59.999999Z",
        }
        query = select(*[literal(s, DateTime).label(f"s{i}") for i, s in enumerate(stamps)])
        with db.engine.connect() as conn:
            written = conn.execute(_iso_datetimes(query)).one()
        assert list(written) == [iso_utc(stamp) for stamp in stamps] == list(stamps.values())
        assert [dt.datetime.fromisoformat(s[:-1]) for s in written] == list(stamps)
        db.engine.dispose()
