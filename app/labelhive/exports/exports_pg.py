"""Answer exports written by PostgreSQL itself: a ``COPY`` of lines built in SQL.

The Python encoders (:mod:`labelhive.exports.exports`) cost about 6 µs a row. Here PostgreSQL
builds each answer's line (CSV, JSON) and streams it with ``COPY ... TO STDOUT``, while Python
only joins the lines into chunks. A line is built only from values PostgreSQL writes exactly
as the encoders do; for a row with anything else, the SQL line is ``NULL`` and the row comes
instead as a marker line, ``\x01`` and its values as a JSON array, which the encoders write
(so no read of the whole export decides first, and one odd row does not slow the others).
Exact in SQL:

- ids, the user name and the two datetimes (:func:`iso`, as ``exports.iso_utc`` writes them);
- JSON strings, booleans, ``null`` and integers (JSON text from ``jsonb`` has no exponent, so a
  number without a ``.`` is what Python reads as an ``int``);
- for JSON: an ``info`` object whose values are all of those (rebuilt without PostgreSQL's
  spaces, in ``jsonb``'s key order, which is the order psycopg hands to the encoders);
- for CSV: cells quoted and neutralised as ``csv.writer`` and ``exports.neutralise_cell`` do
  (quotes when a cell holds ``,``, ``"``, CR or LF), and the ``info_<key>`` flattening.

Not in SQL (the encoders write those rows): floats (Python's ``repr`` differs from
PostgreSQL's digits), arrays and nested objects, and in CSV any ``info`` cell holding an object
or an array. The ``COPY`` is in text format, one column: PostgreSQL escapes backslashes and
control characters there (``\\``, ``\n``...), which :func:`_unescape` undoes.
``tests/app/exports/test_exports_pg.py`` checks both writers give the same bytes.

What a line costs PostgreSQL is what the export costs on a small machine, so the lines call
few functions: one ``concat`` for the columns that cannot be ``NULL``, timestamps as their own
text, and user names taken as they are when every name is one the app creates
(:func:`plain_names`, checked once per export) rather than checked row by row. The plan stays
parallel. (Computing the ``info`` cells in a ``LATERAL`` subquery under a ``Memoize`` node,
once per distinct value, made the plan serial and the export no faster.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from labelhive.db import psycopg_connection

# what a spreadsheet runs as a formula (``exports._FORMULA_STARTS``)
_FORMULA_STARTS = "('=', '+', '-', '@', E'\\t', E'\\r')"
# a text cell that csv.writer and neutralise_cell leave as it is (no quoting, no formula
# start): one regular expression decides most cells, instead of six string functions
_PLAIN = "'^[^,\"\\r\\n=+@\\t-][^,\"\\r\\n]*$'"


def iso(column: str) -> str:
    """``exports.iso_utc`` in SQL: the text PostgreSQL writes for a timestamp (in ``DateStyle``
    ``ISO``, which the export's transaction sets), with a ``T`` and a ``Z``. A fifth of the cost
    of ``to_char`` with a six-digit fraction, which was a quarter of the time PostgreSQL spent
    building a million lines."""
    return f"replace({column}::text, ' ', 'T') || 'Z'"


def _integer(value: str) -> str:
    """A ``jsonb`` number's text when Python reads it as an ``int`` (no ``.``: JSON text from
    ``jsonb`` has no exponent), else ``NULL``: Python writes floats in its own digits."""
    return f"CASE WHEN strpos({value}::text, '.') = 0 THEN {value}::text END"


# the export's answer columns (``exports._KINDS["answers"]``), which the lines are written for
_ANSWER_COLUMNS = (
    "id", "task_id", "project_id", "user_id", "user_name", "created", "finish_time", "info"
)  # fmt: skip


# -- JSON -----------------------------------------------------------------------------------


def _json_scalar(value: str) -> str:
    """The JSON text of a ``jsonb`` scalar as json.dumps writes it; ``NULL`` for floats, objects
    and arrays. ``value`` SQL ``NULL`` (a missing column) is ``null``, as for ``None``."""
    return (
        f"CASE COALESCE(jsonb_typeof({value}), 'null')"
        f" WHEN 'number' THEN {_integer(value)}"
        " WHEN 'null' THEN 'null'"
        f" WHEN 'string' THEN {value}::text WHEN 'boolean' THEN {value}::text END"
    )


def _json_value(value: str) -> str:
    """:func:`_json_scalar`, and objects of scalars written compactly in ``jsonb``'s order."""
    members = (
        "SELECT CASE WHEN count(*) = 0 THEN '{}' WHEN count(m) = count(*)"
        " THEN '{' || string_agg(m, ',' ORDER BY n) || '}' END"
        f" FROM (SELECT e.n, to_json(e.key)::text || ':' || ({_json_scalar('e.value')}) AS m"
        f" FROM jsonb_each({value}) WITH ORDINALITY AS e(key, value, n)) members"
    )
    return (
        f"CASE WHEN jsonb_typeof({value}) = 'object' THEN ({members})"
        f" ELSE {_json_scalar(value)} END"
    )


def _json_line(names: Sequence[str], plain_names: bool) -> str:
    if tuple(names) != _ANSWER_COLUMNS:
        raise ValueError(f"not the answers' columns: {names}")
    name = "'\"' || u.name || '\"'" if plain_names else "to_json(u.name)::text"
    # one concat() for the fixed part: a chain of || copies the line once per operator;
    # the info value comes last, with ||, so that its NULL makes the line NULL
    fixed = (
        "concat('{\"id\":', a.id, ',\"task_id\":', a.task_id, ',\"project_id\":', a.project_id,"
        " ',\"user_id\":', a.user_id,"
        f" ',\"user_name\":', COALESCE({name}, 'null'),"
        f' \',"created":"\', {iso("a.created")}, \'","finish_time":"\','
        f' {iso("a.finish_time")}, \'","info":\')'
    )
    return f"{fixed} || ({_json_value('a.info')}) || '}}'"


# -- CSV ------------------------------------------------------------------------------------


def _text_cell(value: str) -> str:
    """A text cell as csv.writer writes ``neutralise_cell(value)``; ``''`` for ``NULL``."""
    prefix = f"CASE WHEN left({value}, 1) IN {_FORMULA_STARTS} THEN '''' ELSE '' END"
    special = (
        f"strpos({value}, ',') + strpos({value}, '\"') + strpos({value}, chr(10))"
        f" + strpos({value}, chr(13)) > 0"
    )
    return (
        f"COALESCE(CASE WHEN {value} ~ {_PLAIN} THEN {value}"
        f" WHEN {special} THEN '\"' || {prefix} || replace({value}, '\"', '\"\"')"
        f" || '\"' ELSE {prefix} || {value} END, '')"
    )


def _json_cell(value: str) -> str:
    """The CSV cell of a ``jsonb`` value (``exports._cell``): ``''`` for ``NULL``; ``NULL`` for
    floats, objects and arrays."""
    string = _text_cell(f"({value} #>> '{{}}')")
    return (
        f"CASE COALESCE(jsonb_typeof({value}), 'null')"
        f" WHEN 'string' THEN {string}"
        f" WHEN 'number' THEN {_integer(value)}"
        " WHEN 'null' THEN ''"
        f" WHEN 'boolean' THEN {value}::text END"
    )


def _csv_line(names: Sequence[str], keys: Sequence[str], whole: bool, plain_names: bool) -> str:
    """The row ``exports._CsvEncoder`` writes for an answer, ``info`` spread as ``_Flat``."""
    # info is spread over the columns after these
    if tuple(names[:7]) != _ANSWER_COLUMNS[:7]:
        raise ValueError(f"not the answers' columns: {names}")
    name = "COALESCE(u.name, '')" if plain_names else _text_cell("u.name")
    # concat_ws writes the numbers itself and copies the line once; no cell here is NULL
    fixed = (
        "concat_ws(',', a.id, a.task_id, a.project_id, a.user_id,"
        f" {name}, {iso('a.created')}, {iso('a.finish_time')})"
    )
    is_object = "jsonb_typeof(a.info) = 'object'"
    cells = []
    if keys:
        if whole:
            cells.append(f"CASE WHEN {is_object} THEN '' ELSE {_json_cell('a.info')} END")
        for number in range(len(keys)):
            # the key is a parameter (%(k0)s...): it comes from the data
            value = f"(a.info -> %(k{number})s)"
            cells.append(f"CASE WHEN {is_object} THEN {_json_cell(value)} ELSE '' END")
    elif whole:
        cells.append(_json_cell("a.info"))
    # with ||: an info cell that is NULL (not written in SQL) makes the line NULL
    return fixed + "".join(f" || ',' || ({cell})" for cell in cells)


# -- the COPY -------------------------------------------------------------------------------

_FROM = "answer a LEFT JOIN users u ON u.id = a.user_id"
# the row's values in the export's column order, for the encoders
_VALUES = (
    "jsonb_build_array(a.id, a.task_id, a.project_id, a.user_id, u.name,"
    f" {iso('a.created')}, {iso('a.finish_time')}, a.info)::text"
)
_MARKER = b"\x01"
# user names as accounts.NAME_RE allows them: written as they are in a CSV cell (no quoting,
# no formula start) and in a JSON string (nothing to escape)
_PLAIN_NAME = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def plain_names(conn: Connection) -> bool:
    """Whether every user name is one the app creates (:data:`_PLAIN_NAME`), so that the lines
    take the names as they are instead of checking each row's. Run in the transaction of the
    ``COPY``: the same snapshot."""
    odd = conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM users WHERE name !~ %(plain)s)", {"plain": _PLAIN_NAME}
    )
    return not odd.scalar()


def answers_copy(
    fmt: str,
    names: Sequence[str],
    project_id: int,
    ceiling: int,
    keys: Sequence[str] = (),
    whole: bool = False,
    *,
    plain_names: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The ``COPY`` of an export of answers in ``fmt`` (``json`` has the lines of ``jsonl``),
    and its parameters (psycopg binds them in the statement: ``COPY`` takes none itself).

    :param names: the export's column names (checked: the lines are written for them).
    :param keys: for CSV, the ``info_<key>`` columns in order (``exports._Flat``).
    :param whole: for CSV, whether an ``info`` column holds the values that are not objects.
    :param plain_names: what :func:`plain_names` found, in the transaction of the ``COPY``.
    """
    if fmt == "csv":
        line = _csv_line(names, keys, whole, plain_names)
    else:
        line = _json_line(names, plain_names)
    # no row's line starts with \x01: CSV rows start with the id, JSON ones with "{"
    statement = (
        f"COPY (SELECT COALESCE({line}, chr(1) || {_VALUES}) FROM {_FROM}"
        " WHERE a.project_id = %(project_id)s AND a.id <= %(ceiling)s ORDER BY a.id) TO STDOUT"
    )
    params = {f"k{number}": key for number, key in enumerate(keys)}
    return statement, {**params, "project_id": project_id, "ceiling": ceiling}


def stream(
    conn: Connection,
    statement: str,
    params: dict[str, Any],
    fmt: str,
    encode: Callable[[list[Any]], bytes],
    size: int,
) -> Iterator[tuple[bytes, int]]:
    """Run ``statement`` with ``params`` (:func:`answers_copy`) in ``conn``'s transaction:
    ``(chunk, rows)`` for each ``size`` rows, the chunk as the encoders would write them.

    :param encode: a row's values to its line, without the line end (the encoders').
    """
    with psycopg_connection(conn).cursor() as cursor:
        # the lines' expressions cost enough for PostgreSQL to compile them first (JIT), which
        # takes longer (~0.2 s) than it saves on a million rows; for this transaction only
        cursor.execute("SET LOCAL jit = off")
        yield from _copied(cursor.copy(statement, params), fmt, encode, size)


def _copied(
    copying: Any, fmt: str, encode: Callable[[list[Any]], bytes], size: int
) -> Iterator[tuple[bytes, int]]:
    buffer = bytearray()
    rows = written = 0
    with copying as copy:
        # one message a row: all Python does per row is append it
        for data in copy:
            buffer += data
            rows += 1
            if rows == size:
                yield _chunk(bytes(buffer), fmt, encode, first=not written), rows
                written += rows
                buffer = bytearray()
                rows = 0
    if rows:
        yield _chunk(bytes(buffer), fmt, encode, first=not written), rows


def _chunk(data: bytes, fmt: str, encode: Callable[[list[Any]], bytes], *, first: bool) -> bytes:
    """Rows as ``COPY`` writes them (each ends with LF) to the export's bytes."""
    if _MARKER in data:
        # rows for the encoders (or a control character in a CSV cell): row by row
        lines = [
            encode(json.loads(_unescape(line[1:]))) if line.startswith(_MARKER) else _unescape(line)
            for line in data.split(b"\n")[:-1]
        ]
        return _joined(lines, fmt, first=first)
    # LF only ends rows here (COPY writes a line break in a value as \n): the line ends first
    if fmt == "csv":
        data = data.replace(b"\n", b"\r\n")
    elif fmt == "json":
        data = (b"\n" if first else b",\n") + data[:-1].replace(b"\n", b",\n")
    return _unescape(data) if b"\\" in data else data


def _joined(lines: list[bytes], fmt: str, *, first: bool) -> bytes:
    if fmt == "csv":
        return b"\r\n".join(lines) + b"\r\n"
    if fmt == "jsonl":
        return b"\n".join(lines) + b"\n"
    return (b"\n" if first else b",\n") + b",\n".join(lines)


_ESCAPES = [
    (b"\\" + code, char)
    for code, char in (
        (b"n", b"\n"),
        (b"r", b"\r"),
        (b"t", b"\t"),
        (b"b", b"\b"),
        (b"f", b"\f"),
        (b"v", b"\v"),
    )
]


def _unescape(data: bytes) -> bytes:
    """Undo ``COPY``'s text-format escapes (one column, no ``NULL``).

    Split at each escaped backslash first: what is left of a backslash in each part then
    starts one of the other escapes, which are replaced one kind at a time.
    """
    if b"\\" not in data:
        return data
    parts = data.split(b"\\\\")
    for i, part in enumerate(parts):
        if b"\\" in part:
            for escape, char in _ESCAPES:
                part = part.replace(escape, char)
            parts[i] = part
    return b"\\".join(parts)
