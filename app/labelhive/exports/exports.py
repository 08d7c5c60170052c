"""Streamed exports of a project's tasks, answers and results as CSV, JSON or JSON Lines.

Memory stays constant whatever the project's size: the rows are read through one cursor per
export (server-side on PostgreSQL, ``stream_results``), ``batch_size`` rows at a time, and each
batch is encoded and yielded before the next is fetched. One read from start to end keeps the
round trips, pool checkouts and query plans of a batch-per-query scheme off the hot path. The
price: a pooled connection and one read transaction stay open while the client downloads.
Writers do not wait for it (PostgreSQL's MVCC, SQLite's WAL), but on PostgreSQL it holds back
vacuum's horizon and on SQLite it keeps the WAL from being checkpointed back to its start, for
as long as the slowest download lasts.

On PostgreSQL, answer exports (every format) are one ``COPY`` of lines built in SQL
(:mod:`labelhive.exports.exports_pg`), the same bytes several times faster; a row holding a
value PostgreSQL would write otherwise (a float, a nested object or array) comes back to the
encoders below, row by row, in the same stream. Tasks and results, and SQLite, use the encoders.

The export covers the rows that exist when it starts (ids up to the largest one then), as they
are then: on PostgreSQL its reads (the last id, the CSV columns, the rows) share one
``REPEATABLE READ`` snapshot; on SQLite the rows' one query reads one snapshot.

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

Results carry PYBOSSA's fields, then the item's final label: ``label``, ``confidence``,
``method`` (``dawid_skene``, ``majority_vote``, ``gold_weighted``, ``gold`` or ``reviewed``),
``review_state`` (``none``, ``needs_review``, ``reviewed``, ``sent_back``) and, for reviewed
items, ``reviewed_by`` (the reviewer's user id) and ``reviewed_at``; all null until consensus
is computed.

Datetimes are ISO 8601 in UTC, with a ``Z``, and as PostgreSQL writes them: the fraction of a
second without its trailing zeros, none when it is zero (:func:`iso_utc`). Task exports include
the gold answers: they are for the project's owners.
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

from sqlalchemy import DateTime
from sqlalchemy import Engine
from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Connection

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import Result
from labelhive.db import psycopg_connection
from labelhive.db import table_of
from labelhive.exports import exports_pg
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

T = table_of(Task)
A = table_of(Answer)
R = table_of(Result)
C = table_of(Consensus)
U = table_of(User)


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

    def rows(self, project_id: int, ceiling: int) -> Select[Any]:
        id_ = self.table.c.id
        query = select(*self.columns).where(self.table.c.project_id == project_id, id_ <= ceiling)
        return self.join(query).order_by(id_)


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
            # LabelHive's final label and its provenance (null until consensus is computed);
            # before the object columns, which CSV flattens last
            C.c.label,
            C.c.confidence,
            C.c.method,
            C.c.review_state,
            C.c.reviewed_by,
            C.c.reviewed_at,
            R.c.info,
            T.c.info.label("task_info"),
        ),
        objects=(("info", R.c.info), ("task_info", T.c.info)),
        join=lambda query: query.select_from(
            R.join(T, T.c.id == R.c.task_id).outerjoin(C, C.c.task_id == R.c.task_id)
        ),
    ),
}


def stream_export(
    engine: Engine,
    project_id: int,
    what: str,
    fmt: str,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 10_000,
) -> Iterator[bytes]:
    """Export a project's rows as a stream of byte chunks (about one chunk per batch).

    Reads go through ``engine`` directly, on one connection of its own held until the stream
    ends or is closed, so the stream can outlive the request's session (Flask's
    ``stream_with_context`` is not needed).

    :param engine: the database (``db.engine``).
    :param project_id: the project whose rows to export; the caller checks access.
    :param what: one of :data:`WHATS`.
    :param fmt: one of :data:`FORMATS`.
    :param progress: called after each batch with the number of rows written so far.
    :param batch_size: rows fetched, encoded and yielded at a time.
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
    *,
    copy: bool = True,
) -> Iterator[bytes]:
    """:func:`stream_export`'s generator; ``copy=False`` keeps to the Python encoders."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # one snapshot for the last id, the CSV columns and every batch
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            # the text of timestamps (exports_pg.iso) is in this style, whatever the server's
            conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO'")
        ceiling = conn.scalar(
            select(func.max(kind.table.c.id)).where(kind.table.c.project_id == project_id)
        )
        names = [c.name for c in kind.columns]
        flats = _csv_layout(conn, kind, project_id, ceiling) if fmt == "csv" else {}
        encoder = (
            _CsvEncoder(names, flats) if fmt == "csv" else _JsonEncoder(names, lines=fmt == "jsonl")
        )
        yield encoder.start()
        written = 0
        statement = (
            _copy_statement(conn, kind, fmt, names, flats, project_id, ceiling) if copy else None
        )
        if statement is not None:
            chunks = exports_pg.stream(conn, *statement, fmt, encoder.line, batch_size)
            for chunk, n_rows in chunks:
                yield chunk
                written += n_rows
                if progress is not None:
                    progress(written)
        elif ceiling is not None:
            for rows in _batches(conn, kind.rows(project_id, ceiling), batch_size):
                yield encoder.rows(rows, first=written == 0)
                written += len(rows)
                if progress is not None:
                    progress(written)
        yield encoder.end()


def _copy_statement(
    conn: Connection,
    kind: _Kind,
    fmt: str,
    names: list[str],
    flats: dict[str, _Flat],
    project_id: int,
    ceiling: int | None,
) -> tuple[str, dict[str, Any]] | None:
    """PostgreSQL's own ``COPY`` of this export's lines and its parameters
    (:mod:`.exports_pg`), or ``None`` for the encoders alone.

    Answers on PostgreSQL only: tasks hold a float (``priority_0``) and results a list in every
    row, which PostgreSQL writes otherwise (each row would come back to the encoders); SQLite
    has the encoders.
    """
    if ceiling is None or conn.dialect.name != "postgresql" or kind is not _KINDS["answers"]:
        return None
    plain = exports_pg.plain_names(conn)
    if fmt == "csv":
        info = flats["info"]
        return exports_pg.answers_copy(
            fmt, names, project_id, ceiling, info.keys, info.whole, plain_names=plain
        )
    return exports_pg.answers_copy(fmt, names, project_id, ceiling, plain_names=plain)


def _batches(conn: Connection, query: Select[Any], size: int) -> Iterator[Sequence[Any]]:
    """The query's rows, ``size`` at a time, from one cursor (server-side on PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
        yield from result.partitions(size)
        return
    # psycopg's own named cursor, in the transaction the connection has begun: plain tuples
    # of the values psycopg decodes (jsonb, timestamps) without SQLAlchemy's rows around them,
    # a third of the time of the whole export
    compiled = _iso_datetimes(query).compile(dialect=conn.dialect)
    with psycopg_connection(conn).cursor(name="labelhive_export") as cursor:
        cursor.itersize = size
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(size):
            yield rows


def _iso_datetimes(query: Select[Any]) -> Select[Any]:
    """``query`` with its datetime columns written by PostgreSQL as :func:`iso_utc` writes them
    (``exports_pg.iso``). Text costs psycopg nothing to decode, and the encoders pass a string
    starting with a digit through unchanged, so the bytes written are the same.
    """
    columns = []
    for column in query.selected_columns:
        if isinstance(column.type, DateTime):
            # exports_pg.iso(), in SQLAlchemy's terms
            stamp = func.replace(cast(column, Text), " ", "T").concat("Z")
            column = stamp.label(column.name)
        columns.append(column)
    return query.with_only_columns(*columns, maintain_column_froms=True)


# -- values ---------------------------------------------------------------------------------


def iso_utc(value: dt.datetime) -> str:
    """A naive UTC datetime in ISO 8601 with a ``Z``, as PostgreSQL writes a timestamp: the
    fraction of a second without its trailing zeros (``12:30:15.12Z``), none when it is zero
    (``12:30:15Z``). Python 3.11's ``datetime.fromisoformat`` and pandas read it back."""
    written = value.isoformat()
    return (written.rstrip("0") if value.microsecond else written) + "Z"


def _plain(value: Any) -> Any:
    """A database value as a JSON-ready value: ISO 8601 datetimes, no NaN."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return iso_utc(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# what json.dumps(ensure_ascii=False) writes for a string (the C encoder where there is one)
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def _json_value(value: Any) -> str:
    """``_json(_plain(value))``, with the common types written directly (once per cell)."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is dt.datetime and value.tzinfo is None:
        return '"' + iso_utc(value) + '"'
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    return _json(_plain(value))


class _JsonEncoder:
    def __init__(self, names: list[str], *, lines: bool) -> None:
        self.lines = lines
        # each row is the object {name: value, ...} written as json.dumps would write it
        self.keys = [_json(name) + ":" for name in names]

    def start(self) -> bytes:
        return b"" if self.lines else b"["

    def _object(self, row: Sequence[Any]) -> str:
        value = _json_value
        return "{" + ",".join([key + value(v) for key, v in zip(self.keys, row, strict=True)]) + "}"

    def line(self, row: Sequence[Any]) -> bytes:
        """One row's object, without a separator."""
        return self._object(row).encode("utf-8")

    def rows(self, rows: Sequence[Any], *, first: bool) -> bytes:
        objects = [self._object(row) for row in rows]
        if self.lines:
            objects.append("")
            return "\n".join(objects).encode("utf-8")
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
    if kind is dt.datetime and value.tzinfo is None:
        # ISO 8601 starts with a digit: never a formula
        return iso_utc(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else ""
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
        positions = [i for i, name in enumerate(names) if name in flats]
        # the object columns come last in every export: plain cells first, then each object's
        self.n_plain = len(names) - len(positions)
        self.tail = [(i, flats[names[i]]) for i in positions]
        if positions != list(range(self.n_plain, len(names))):
            raise ValueError("object columns must come after the plain ones")

    def _cells(self, row: Sequence[Any]) -> list[str]:
        cell = _cell
        cells = [cell(value) for value in row[: self.n_plain]]
        for i, flat in self.tail:
            cells += flat.cells(row[i])
        return cells

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

    def line(self, row: Sequence[Any]) -> bytes:
        """One row, without its CRLF."""
        self.writer.writerow(self._cells(row))
        return self._take()[:-2]

    def rows(self, rows: Sequence[Any], *, first: bool) -> bytes:
        self.writer.writerows(map(self._cells, rows))
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
        # the objects filtered first: a third of the time where most values are not objects
        keys = (
            f"jsonb_object_keys(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} END) AS k(key)"
        )
        where += f" AND jsonb_typeof({col}) = 'object'"
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
