"""Streamed exports of a project's tasks, answers and results as CSV, JSON or JSON Lines.

Memory stays constant whatever the project's size: rows are read in keyset batches
(``id > last ORDER BY id LIMIT batch``), each batch in its own short read on a pooled
connection, and each batch is encoded and yielded before the next is read. Keyset batches bound
memory the same way on PostgreSQL and SQLite, so one code path serves both (a server-side cursor
would add nothing, and would hold a transaction open while a slow client downloads).

The export covers the rows that exist when it starts (ids up to the largest one then); a row
changed while the export runs is written as it is when its batch is read.

Formats:

- ``json``: one JSON array, streamed (``[``, rows joined by ``,\\n``, ``]``).
- ``jsonl``: one JSON object per line.
- ``csv``: UTF-8 with a byte-order mark (so Excel reads non-ASCII text correctly), CRLF rows.
  JSON object columns (``info``; for results also ``task_info``) are flattened into one column
  per top-level key, ``info_<key>``, with nested values JSON-encoded. The keys are collected
  with one query before the rows are written; rows whose value is not an object (a plain
  answer such as ``"cat"``) fill an ``info`` column instead. Past :data:`MAX_INFO_COLUMNS`
  distinct keys the column is not flattened but written whole as JSON. String cells are
  neutralised against formula injection (:func:`neutralise_cell`); JSON and JSONL keep exact
  values.

Datetimes are ISO 8601 in UTC, with a ``Z``. Task exports include the gold answers: they are
for the project's owners.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Connection

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.results.models import Result
from labelhive.tasks.models import Task

WHATS = ("tasks", "answers", "results")
FORMATS = ("csv", "json", "jsonl")
# beyond this many distinct keys a spreadsheet stops being useful: keep the object whole
MAX_INFO_COLUMNS = 200

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
# OWASP's list: a spreadsheet treats cells starting with these as formulas
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

T = Task.__table__
A = Answer.__table__
R = Result.__table__
U = User.__table__


def content_type(fmt: str) -> str:
    """The ``Content-Type`` of an export in ``fmt``.

    :raise ValueError: for an unknown format.
    """
    try:
        return _CONTENT_TYPES[fmt]
    except KeyError:
        raise ValueError(
            f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}."
        ) from None


def neutralise_cell(value: str) -> str:
    """Make a CSV cell that a spreadsheet would run as a formula display as text instead.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    single quote, as OWASP recommends; any other value is returned unchanged.
    """
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


@dataclasses.dataclass(frozen=True)
class _Kind:
    """One exportable table: its rows' query, and which of its columns hold JSON objects."""

    table: Any
    columns: tuple[Any, ...]
    # (output column, SQL column) pairs to flatten in CSV
    objects: tuple[tuple[str, Any], ...]
    # extra FROM/WHERE for the key scan of each object column
    join: Callable[[Select[Any]], Select[Any]] = lambda query: query

    def batch(self, project_id: int, after: int, ceiling: int, size: int) -> Select[Any]:
        id_ = self.table.c.id
        query = select(*self.columns).where(
            self.table.c.project_id == project_id, id_ > after, id_ <= ceiling
        )
        return self.join(query).order_by(id_).limit(size)


_KINDS = {
    "tasks": _Kind(
        table=T,
        columns=(
            T.c.id,
            T.c.project_id,
            T.c.created,
            T.c.state,
            T.c.n_answers,
            T.c.n_done.label("n_answers_done"),
            T.c.priority_0,
            T.c.gold_answer,
            T.c.info,
        ),
        objects=(("info", T.c.info),),
    ),
    "answers": _Kind(
        table=A,
        columns=(
            A.c.id,
            A.c.task_id,
            A.c.project_id,
            A.c.user_id,
            U.c.name.label("user_name"),
            A.c.created,
            A.c.finish_time,
            A.c.info,
        ),
        objects=(("info", A.c.info),),
        join=lambda query: query.select_from(A.outerjoin(U, U.c.id == A.c.user_id)),
    ),
    "results": _Kind(
        table=R,
        columns=(
            R.c.id,
            R.c.task_id,
            R.c.project_id,
            R.c.task_run_ids,
            R.c.last_version,
            R.c.created,
            R.c.info,
            T.c.info.label("task_info"),
        ),
        objects=(("info", R.c.info), ("task_info", T.c.info)),
        join=lambda query: query.select_from(R.join(T, T.c.id == R.c.task_id)),
    ),
}


def stream_export(
    engine: Engine,
    project_id: int,
    what: str,
    fmt: str,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> Iterator[bytes]:
    """Export a project's rows as a stream of byte chunks (about one chunk per batch).

    Reads go through ``engine`` directly, one pooled connection per batch, so the stream can
    outlive the request's session (Flask's ``stream_with_context`` is not needed).

    :param engine: the database (``db.engine``).
    :param project_id: the project whose rows to export; the caller checks access.
    :param what: one of :data:`WHATS`.
    :param fmt: one of :data:`FORMATS`.
    :param progress: called after each batch with the number of rows written so far.
    :param batch_size: rows per read.
    :return: an iterator of ``bytes``; arguments are checked before it is returned.
    :raise ValueError: for an unknown ``what`` or ``fmt``, or a ``batch_size`` below 1.
    """
    if what not in WHATS:
        raise ValueError(f"Unknown export {what!r}; use one of {', '.join(WHATS)}.")
    content_type(fmt)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return _stream(engine, project_id, _KINDS[what], fmt, progress, batch_size)


def _stream(
    engine: Engine,
    project_id: int,
    kind: _Kind,
    fmt: str,
    progress: Callable[[int], None] | None,
    batch_size: int,
) -> Iterator[bytes]:
    with engine.connect() as conn:
        ceiling = conn.scalar(
            select(func.max(kind.table.c.id)).where(kind.table.c.project_id == project_id)
        )
        encoder = (
            _CsvEncoder(
                [c.name for c in kind.columns], _csv_layout(conn, kind, project_id, ceiling)
            )
            if fmt == "csv"
            else _JsonEncoder(lines=fmt == "jsonl")
        )
    yield encoder.start()
    written = 0
    after = 0
    while ceiling is not None:
        # a short read per batch: no transaction stays open while the client downloads
        with engine.connect() as conn:
            rows = conn.execute(kind.batch(project_id, after, ceiling, batch_size)).all()
        if not rows:
            break
        yield encoder.rows(rows, first=written == 0)
        written += len(rows)
        after = rows[-1].id
        if progress is not None:
            progress(written)
        if len(rows) < batch_size:
            break
    yield encoder.end()


# -- values ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A database value as a JSON-ready value: ISO 8601 datetimes, no NaN."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _JsonEncoder:
    def __init__(self, *, lines: bool) -> None:
        self.lines = lines

    def start(self) -> bytes:
        return b"" if self.lines else b"["

    def rows(self, rows: Sequence[Any], *, first: bool) -> bytes:
        objects = [
            _json({key: _plain(value) for key, value in row._mapping.items()}) for row in rows
        ]
        if self.lines:
            return ("\n".join(objects) + "\n").encode("utf-8")
        return (("\n" if first else ",\n") + ",\n".join(objects)).encode("utf-8")

    def end(self) -> bytes:
        return b"" if self.lines else b"\n]\n"


# -- CSV ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Flat:
    """How one JSON object column is spread over CSV columns."""

    name: str
    keys: tuple[str, ...]
    # whether a column named ``name`` holds values that are not objects (or whole objects)
    whole: bool

    def header(self) -> list[str]:
        return ([self.name] if self.whole else []) + [f"{self.name}_{key}" for key in self.keys]

    def cells(self, value: Any) -> list[str]:
        if isinstance(value, dict) and self.keys:
            return ([""] if self.whole else []) + [_cell(value.get(key)) for key in self.keys]
        if self.whole:
            return [_cell(value)] + [""] * len(self.keys)
        return [""] * len(self.keys)


def _cell(value: Any) -> str:
    # exact type checks first: this runs once per cell, and most cells are str or int
    kind = type(value)
    if kind is str:
        return "'" + value if value.startswith(_FORMULA_STARTS) else value
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise_cell(value)
    if isinstance(value, int | float):
        return repr(value)
    # objects and lists start with "{" or "[": never a formula
    return _json(value)


class _CsvEncoder:
    def __init__(self, names: list[str], flats: dict[str, _Flat]) -> None:
        self.names = names
        self.flats = flats
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def _take(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data

    def start(self) -> bytes:
        header: list[str] = []
        for name in self.names:
            header.extend(self.flats[name].header() if name in self.flats else [name])
        self.writer.writerow(header)
        return b"\xef\xbb\xbf" + self._take()

    def rows(self, rows: Sequence[Any], *, first: bool) -> bytes:
        for row in rows:
            cells: list[str] = []
            for name, value in zip(self.names, row, strict=True):
                flat = self.flats.get(name)
                cells.extend(flat.cells(value) if flat else [_cell(value)])
            self.writer.writerow(cells)
        return self._take()

    def end(self) -> bytes:
        return b""


def _csv_layout(
    conn: Connection, kind: _Kind, project_id: int, ceiling: int | None
) -> dict[str, _Flat]:
    """Find each object column's top-level keys (bounded), and whether it holds non-objects."""
    flats = {}
    for name, column in kind.objects:
        if ceiling is None:
            flats[name] = _Flat(name, (), whole=False)
            continue
        keys = _object_keys(conn, kind, column, project_id, ceiling)
        if keys is None or len(keys) > MAX_INFO_COLUMNS:
            flats[name] = _Flat(name, (), whole=True)
            continue
        ordered = tuple(sorted(keys, key=lambda key: (key != "url", key)))
        whole = _has_non_objects(conn, kind, column, project_id, ceiling)
        flats[name] = _Flat(name, ordered, whole=whole)
    return flats


def _scope(kind: _Kind, project_id: int, ceiling: int) -> tuple[str, str, dict[str, int]]:
    table = kind.table.name
    from_ = table
    if kind.table is R:
        from_ = f"{R.name} JOIN {T.name} ON {T.name}.id = {R.name}.task_id"
    where = f"{table}.project_id = :project_id AND {table}.id <= :ceiling"
    return from_, where, {"project_id": project_id, "ceiling": ceiling}


def _object_keys(
    conn: Connection, kind: _Kind, column: Any, project_id: int, ceiling: int
) -> list[str] | None:
    from_, where, params = _scope(kind, project_id, ceiling)
    col = f"{column.table.name}.{column.name}"
    dialect = conn.dialect.name
    if dialect == "postgresql":
        keys = (
            f"jsonb_object_keys(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col}"
            " ELSE '{}'::jsonb END) AS k(key)"
        )
    elif dialect == "sqlite":
        keys = f"json_each(CASE WHEN json_type({col}) = 'object' THEN {col} ELSE '{{}}' END) AS k"
    else:
        return None
    query = text(f"SELECT DISTINCT k.key FROM {from_} CROSS JOIN {keys} WHERE {where} LIMIT :n")
    return list(conn.scalars(query, {**params, "n": MAX_INFO_COLUMNS + 1}))


def _has_non_objects(
    conn: Connection, kind: _Kind, column: Any, project_id: int, ceiling: int
) -> bool:
    from_, where, params = _scope(kind, project_id, ceiling)
    col = f"{column.table.name}.{column.name}"
    typeof = "jsonb_typeof" if conn.dialect.name == "postgresql" else "json_type"
    query = text(
        f"SELECT 1 FROM {from_} WHERE {where} AND {col} IS NOT NULL"
        f" AND {typeof}({col}) NOT IN ('object', 'null') LIMIT 1"
    )
    return conn.scalar(query, params) is not None
