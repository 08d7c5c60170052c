"""Tasks: bulk import.

The claim/submit engine lives in :mod:`labelhive.tasks.engine`; file parsing in
:mod:`labelhive.tasks.importers`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
from collections.abc import Callable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import insert

from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.tasks import rules
from labelhive.tasks.importers import ImportFormatError
from labelhive.tasks.importers import TaskSpec
from labelhive.tasks.models import Task

if TYPE_CHECKING:
    from labelhive.projects.models import Project


# every row carries every column, in this order, so one statement serves a whole batch
_COLUMNS = (
    "project_id",
    "info",
    "n_answers",
    "priority_0",
    "state",
    "gold_answer",
    "calibration",
    "quorum",
    "n_done",
    "n_reserved",
    "created",
    "import_id",
)
_INFO = _COLUMNS.index("info")
# json.dumps(info, allow_nan=False), without building an encoder for every task
_ENCODER = json.JSONEncoder(allow_nan=False)


def import_tasks(
    project: Project,
    specs: Iterable[TaskSpec],
    *,
    n_answers: int | None = None,
    priority_0: float | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 5000,
    import_id: str | None = None,
) -> int:
    """Insert one task per spec into ``project``, in batches, inside the caller's transaction.

    The caller commits; on any exception it must roll back, which leaves no task behind (a
    failure in a later batch undoes the earlier ones too). Each batch is checked whole before
    it is written, so a refused row leaves the transaction usable for the rollback. Rows go in
    with ``COPY`` on PostgreSQL (about 3 times faster than a multi-row ``INSERT`` with this
    table's indexes) and with one Core executemany ``INSERT`` per batch elsewhere; never as ORM
    objects.

    Redundancy is, in order: ``n_answers``, the row's own, ``project.default_n_answers``.
    Priority is, in order: ``priority_0``, the row's own, ``0.0``. ``info`` is stored as given
    (URLs are checked by the parsers, not here).

    :param project: the project to add to (flushed first if it is new).
    :param specs: tasks from :func:`labelhive.tasks.importers.parse_tasks`, or an iterator
        (:func:`labelhive.tasks.importers.iter_tasks`): read ``batch_size`` at a time, so a
        file of any size is imported in constant memory; a parse error raised by the iterator
        mid-way propagates like a refused spec (the caller rolls back).
    :param n_answers: redundancy for every task, overriding the rows.
    :param priority_0: priority for every task, overriding the rows.
    :param progress: called after each batch with the number of tasks inserted so far.
    :param batch_size: tasks per statement.
    :param import_id: stored on every task, so a retried import job can tell what it inserted.
    :return: the number of tasks inserted.
    :raise ImportFormatError: an invalid argument or spec (a :class:`ValueError`), naming it.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    forced_n = _valid_n_answers(n_answers, "n_answers") if n_answers is not None else None
    forced_priority = _valid_priority(priority_0, "priority_0") if priority_0 is not None else None
    if project.id is None:
        db.session.flush()
    # read before any COPY starts: a lazy load on the same connection mid-COPY would hang
    defaults = _Defaults(
        project_id=project.id,
        created=utcnow(),
        n_answers=forced_n,
        default_n_answers=project.default_n_answers,
        priority_0=forced_priority,
        import_id=import_id,
    )
    write = _copy if db.session.connection().dialect.name == "postgresql" else _insert
    done = 0
    specs = iter(specs)
    while batch := list(itertools.islice(specs, batch_size)):
        rows = [_row(spec, number, defaults) for number, spec in enumerate(batch, start=done + 1)]
        del batch
        write(rows)
        done += len(rows)
        if progress is not None:
            progress(done)
    return done


@dataclasses.dataclass(frozen=True)
class _Defaults:
    project_id: int
    created: dt.datetime
    n_answers: int | None
    default_n_answers: int
    priority_0: float | None
    import_id: str | None


def _row(spec: TaskSpec, number: int, defaults: _Defaults) -> tuple[Any, ...]:
    where = f"Task {number}"
    if not isinstance(spec.info, dict):
        raise ImportFormatError(f"{where}: info must be a JSON object.")
    try:
        # serialised here, once, so a bad value is refused before anything is written
        info = _ENCODER.encode(spec.info)
    except (TypeError, ValueError) as exc:
        raise ImportFormatError(f"{where}: info cannot be stored as JSON ({exc}).") from None
    # PostgreSQL refuses NUL in text and jsonb; refuse it on SQLite too, for one behaviour
    if "\\u0000" in info and _has_nul(spec.info):
        raise ImportFormatError(f"{where}: info contains a NUL character (\\u0000).")
    n_answers = defaults.n_answers
    if n_answers is None:
        n_answers = (
            _valid_n_answers(spec.n_answers, where)
            if spec.n_answers is not None
            else defaults.default_n_answers
        )
    priority_0 = defaults.priority_0
    if priority_0 is None:
        priority_0 = _valid_priority(spec.priority_0, where) if spec.priority_0 is not None else 0.0
    gold = spec.gold_answer
    if gold is not None and (not isinstance(gold, str) or "\x00" in gold):
        raise ImportFormatError(f"{where}: the gold answer must be a string without NUL.")
    return (
        defaults.project_id,
        info,
        n_answers,
        priority_0,
        "ongoing",
        gold or None,
        0,
        0,
        0,
        0,
        defaults.created,
        defaults.import_id,
    )


def _insert(rows: list[tuple[Any, ...]]) -> None:
    # info is bound as the JSON text made above: what the JSON type would have stored
    statement = insert(Task.__table__).values(info=bindparam("info", type_=Text))
    db.session.execute(statement, [dict(zip(_COLUMNS, row, strict=True)) for row in rows])


def _copy(rows: list[tuple[Any, ...]]) -> None:
    # the session's own connection: the rows share the caller's transaction
    raw = db.session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY task ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _valid_n_answers(value: Any, where: str) -> int:
    try:
        return rules.validate_n_answers(value)
    except ValueError as exc:
        raise ImportFormatError(f"{where}: {exc}.") from None


def _valid_priority(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ImportFormatError(f"{where}: priority_0 must be a finite number, not {value!r}.")
    return float(value)
