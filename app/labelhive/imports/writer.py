"""Imports: tasks written in batches (COPY on PostgreSQL), checked as they go.

The files are parsed by :mod:`labelhive.imports.parsers`; claim and submit are the annotation
service's (:mod:`labelhive.annotation.service`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import insert

from labelhive.db import psycopg_connection
from labelhive.db import table_of
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.imports.parsers import ImportFormatError
from labelhive.imports.parsers import TaskSpec
from labelhive.storage import scope
from labelhive.tasks import rules
from labelhive.tasks.models import Task

if TYPE_CHECKING:
    from labelhive.projects.models import Project


# every row carries every column, in this order, so one statement serves a whole batch; the
# columns that vary by row come first, so a COPY line ends with one text made once per import
_COLUMNS = (
    "info",
    "n_answers",
    "priority_0",
    "gold_answer",
    "project_id",
    "state",
    "calibration",
    "quorum",
    "n_done",
    "n_reserved",
    "created",
    "import_id",
)
# json.dumps(info, allow_nan=False), without building an encoder for every task
_ENCODER = json.JSONEncoder(allow_nan=False)
# what json.dumps makes of a str (C); the usual info is a few str values, encoded with it directly
_JSON_STR = json.encoder.encode_basestring_ascii
# COPY text format: a backslash starts an escape, tab ends a column, a line break ends a row
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
    it is written, so a refused row leaves the transaction usable for the rollback, with the
    batches before it written. Rows go in with one ``COPY`` on PostgreSQL (about 3 times faster
    than a multi-row ``INSERT`` with this table's indexes), which the server works through while
    the next batch is read and checked, and with one Core executemany ``INSERT`` per batch
    elsewhere; never as ORM objects.

    Redundancy is, in order: ``n_answers``, the row's own, ``project.default_n_answers``.
    Priority is, in order: ``priority_0``, the row's own, ``0.0``. ``info`` is stored as given
    (URLs are checked by the parsers), except that an ``s3://`` image outside the project's
    storage (:mod:`labelhive.storage.scope`) is refused here as well, whoever made the specs.

    :param project: the project to add to (flushed first if it is new).
    :param specs: tasks from :func:`labelhive.imports.parsers.parse_tasks`, or an iterator
        (:func:`labelhive.imports.parsers.iter_tasks`): read ``batch_size`` at a time, so a
        file of any size is imported in constant memory; a parse error raised by the iterator
        mid-way propagates like a refused spec (the caller rolls back). On PostgreSQL it is read
        while the ``COPY`` is open, so it must not use the database.
    :param n_answers: redundancy for every task, overriding the rows.
    :param priority_0: priority for every task, overriding the rows.
    :param progress: called after each batch with the number of tasks written so far; on
        PostgreSQL while the ``COPY`` is open, so it must not use the database either.
    :param batch_size: tasks checked (and, off PostgreSQL, inserted) at a time.
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
        s3_scope=scope.for_project(project),
    )
    specs = iter(specs)
    if db.session.connection().dialect.name == "postgresql":
        return _copy(specs, batch_size, defaults, progress)
    done = 0
    while batch := list(itertools.islice(specs, batch_size)):
        _insert([_row(spec, number, defaults) for number, spec in enumerate(batch, done + 1)])
        done += len(batch)
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
    s3_scope: scope.S3Scope


def _checked(
    spec: TaskSpec, number: int, defaults: _Defaults
) -> tuple[str, int, float, str | None]:
    """A spec's ``(info as JSON, n_answers, priority_0, gold_answer)``, as they are stored."""
    info = spec.info
    if not isinstance(info, dict):
        raise ImportFormatError(f"Task {number}: info must be a JSON object.")
    # serialised here, once, so a bad value is refused before anything is written
    text = _info_json(info, number)
    # PostgreSQL refuses NUL in text and jsonb; refuse it on SQLite too, for one behaviour
    if "\\u0000" in text and _has_nul(info):
        raise ImportFormatError(f"Task {number}: info contains a NUL character (\\u0000).")
    if "s3://" in text or "S3://" in text:
        try:
            defaults.s3_scope.check_info(info)
        except scope.OutsideScope as exc:
            raise ImportFormatError(f"Task {number}: {exc}") from None
    n_answers = defaults.n_answers
    if n_answers is None:
        n_answers = (
            _valid_n_answers(spec.n_answers, f"Task {number}")
            if spec.n_answers is not None
            else defaults.default_n_answers
        )
    priority_0 = defaults.priority_0
    if priority_0 is None:
        priority_0 = (
            _valid_priority(spec.priority_0, f"Task {number}")
            if spec.priority_0 is not None
            else 0.0
        )
    gold = spec.gold_answer
    if gold is not None and (not isinstance(gold, str) or "\x00" in gold):
        raise ImportFormatError(f"Task {number}: the gold answer must be a string without NUL.")
    return text, n_answers, priority_0, gold or None


def _info_json(info: dict[str, Any], number: int) -> str:
    # json.dumps's own text for a dict of strings, without an encoder per task
    parts = []
    for key, value in info.items():
        if type(key) is not str or type(value) is not str:
            break
        parts.append(f"{_JSON_STR(key)}: {_JSON_STR(value)}")
    else:
        return "{" + ", ".join(parts) + "}"
    try:
        return _ENCODER.encode(info)
    except (TypeError, ValueError) as exc:
        raise ImportFormatError(f"Task {number}: info cannot be stored as JSON ({exc}).") from None


def _row(spec: TaskSpec, number: int, defaults: _Defaults) -> tuple[Any, ...]:
    return (*_checked(spec, number, defaults), *_fixed(defaults))


def _fixed(defaults: _Defaults) -> tuple[Any, ...]:
    """The columns after ``gold_answer``: the same on every row of an import."""
    return (defaults.project_id, "ongoing", 0, 0, 0, 0, defaults.created, defaults.import_id)


def _insert(rows: list[tuple[Any, ...]]) -> None:
    # info is bound as the JSON text made above: what the JSON type would have stored
    statement = insert(table_of(Task)).values(info=bindparam("info", type_=Text))
    db.session.execute(statement, [dict(zip(_COLUMNS, row, strict=True)) for row in rows])


def _copy(
    specs: Iterator[TaskSpec],
    batch_size: int,
    defaults: _Defaults,
    progress: Callable[[int], None] | None,
) -> int:
    """Write every batch into one ``COPY``: the server inserts one batch while the next is read.

    A batch is checked and formatted whole before any of it is sent; when reading or checking
    one fails, the ``COPY`` is still ended normally, so the batches before it are in and the
    transaction stays usable, and then the error is raised. Each spec becomes its line of text
    as soon as it is read: a batch of specs kept alive would outlive the young garbage
    collection generations, and each full collection walks every object of the process.
    """
    # the COPY text of the columns after gold_answer, the same on every row
    # (str of a datetime is its isoformat with a space, which COPY reads)
    tail = "\t".join(_copy_text(None if v is None else str(v)) for v in _fixed(defaults))
    # (n_answers, priority_0) -> the rest of a line without a gold answer
    usual: dict[tuple[int, float], str] = {}
    refused: Exception | None = None
    done = 0
    # the session's own connection: the rows share the caller's transaction
    with psycopg_connection(db.session.connection()).cursor() as cursor:
        with cursor.copy(f"COPY task ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            while True:
                try:
                    lines = []
                    for number, spec in enumerate(itertools.islice(specs, batch_size), done + 1):
                        info, n_answers, priority_0, gold = _checked(spec, number, defaults)
                        if "\\" in info:
                            info = info.replace("\\", "\\\\")
                        if gold is None:
                            rest = usual.get((n_answers, priority_0))
                            if rest is None:
                                rest = f"\t{n_answers}\t{priority_0!r}\t\\N\t{tail}\n"
                                if len(usual) < 256:  # per-row priorities would fill it
                                    usual[n_answers, priority_0] = rest
                            lines.append(info + rest)
                        else:
                            lines.append(
                                f"{info}\t{n_answers}\t{priority_0!r}\t{_copy_text(gold)}\t{tail}\n"
                            )
                    if not lines:
                        break
                    count = len(lines)
                    block = "".join(lines)
                    del lines
                except Exception as exc:  # raised below, once the COPY is ended
                    refused = exc
                    break
                copy.write(block)
                done += count
                if progress is not None:
                    progress(done)
    if refused is not None:
        raise refused
    return done


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


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
    # -0.0 becomes 0.0, the same priority: equal floats then always have one text
    return float(value) + 0.0
