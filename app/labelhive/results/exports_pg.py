"""Answer exports written by PostgreSQL itself: ``COPY`` of lines built in SQL.

The Python encoders (:mod:`labelhive.results.exports`) cost about 6 µs a row; PostgreSQL builds
the same lines several times faster and streams them without a Python object per row. It is
used only where its text is byte-for-byte what the encoders write, which a read decides first:

- answers (their columns are ids, a user name, two datetimes and ``info``);
- every ``info`` value (or, for CSV, every flattened key's value) is a string, a boolean,
  ``null`` or an integer: PostgreSQL writes objects and arrays with spaces and numbers with
  their input digits, Python compactly and in its own float format;
- for CSV, no string holds a line break (PostgreSQL ends rows with LF and the export with CRLF,
  so line ends are rewritten) or is exactly ``\\.`` (PostgreSQL quotes that one).

Anything else goes through the Python encoders. ``tests/app/results/test_exports_pg.py`` checks
both writers give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

_STRING_STARTS = "('=', '+', '-', '@', E'\\t', E'\\r')"
_INTEGER = "'^(0|-?[1-9][0-9]*)$'"
_CHUNK = 1 << 18


def _iso(column: str) -> str:
    """The column as ``datetime.isoformat()`` + ``Z`` (as ``exports._iso_datetimes``): one
    ``to_char`` with microseconds, which ``isoformat`` leaves out when they are zero."""
    return f"replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"


def _neutralised(value: str) -> str:
    """A string cell as ``exports.neutralise_cell`` writes it."""
    return f"CASE WHEN left({value}, 1) IN {_STRING_STARTS} THEN '''' || {value} ELSE {value} END"


def _json_cell(value: str) -> str:
    """A JSON scalar's CSV cell (``exports._cell``): strings neutralised, SQL NULL for ''."""
    scalar = f"({value} #>> '{{}}')"
    return (
        f"NULLIF(CASE jsonb_typeof({value}) WHEN 'string' THEN {_neutralised(scalar)}"
        f" ELSE {scalar} END, '')"
    )


def _not_simple(value: str, *, csv: bool) -> str:
    """SQL true when the JSON ``value`` is not written alike by PostgreSQL and Python."""
    checks = [
        f"jsonb_typeof({value}) IN ('object', 'array')",
        f"(jsonb_typeof({value}) = 'number' AND ({value} #>> '{{}}') !~ {_INTEGER})",
    ]
    if csv:
        # on the JSON text, where a line break is the escape \n or \r: one conversion, no
        # regular expression (a literal backslash before n or r matches too; it only means
        # the encoders write that export)
        checks.append(
            f"(jsonb_typeof({value}) = 'string' AND (strpos({value}::text, '\\n')"
            f" + strpos({value}::text, '\\r') > 0 OR {value}::text = '\"\\\\.\"'))"
        )
    return "(" + " OR ".join(checks) + ")"


_FROM = "answer a LEFT JOIN users u ON u.id = a.user_id"


def _scope(project_id: int, ceiling: int) -> str:
    return f"a.project_id = {int(project_id)} AND a.id <= {int(ceiling)}"


def _eligible(conn: Connection, where: str, unsupported: list[str]) -> bool:
    query = f"SELECT 1 FROM {_FROM} WHERE {where} AND ({' OR '.join(unsupported)}) LIMIT 1"
    return conn.scalar(text(query)) is None


def jsonl_copy(conn: Connection, project_id: int, ceiling: int) -> str | None:
    """The ``COPY`` of a JSON Lines export of answers, or ``None`` when the data rules it out."""
    where = _scope(project_id, ceiling)
    if not _eligible(conn, where, [_not_simple("a.info", csv=False)]):
        return None
    line = (
        "'{\"id\":' || a.id || ',\"task_id\":' || a.task_id || ',\"project_id\":' || a.project_id"
        " || ',\"user_id\":' || a.user_id"
        " || ',\"user_name\":' || COALESCE(to_json(u.name)::text, 'null')"
        f' || \',"created":"\' || {_iso("a.created")}'
        f' || \'","finish_time":"\' || {_iso("a.finish_time")}'
        " || '\",\"info\":' || COALESCE(a.info::text, 'null') || '}'"
    )
    # one text column with no quote or delimiter it could contain (JSON escapes control
    # characters): PostgreSQL writes each line as it is
    return (
        f"COPY (SELECT {line} FROM {_FROM} WHERE {where} ORDER BY a.id)"
        " TO STDOUT (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
    )


def csv_copy(
    conn: Connection, project_id: int, ceiling: int, keys: tuple[str, ...], whole: bool
) -> str | None:
    """The ``COPY`` of a CSV export of answers (header excluded), or ``None``.

    :param keys: the ``info_<key>`` columns (``exports._Flat``), in order.
    :param whole: whether an ``info`` column holds the values that are not objects.
    """
    where = _scope(project_id, ceiling)
    name_breaks = "(strpos(u.name, chr(10)) + strpos(u.name, chr(13)) > 0 OR u.name = '\\.')"
    unsupported = [
        name_breaks,
        f"(jsonb_typeof(a.info) <> 'object' AND {_not_simple('a.info', csv=True)})",
    ]
    for key in keys:
        value = f"(a.info -> {_literal(key)})"
        unsupported.append(f"(jsonb_typeof(a.info) = 'object' AND {_not_simple(value, csv=True)})")
    if not whole and not keys:
        unsupported = [name_breaks]
    if not _eligible(conn, where, unsupported):
        return None
    cells = [
        "a.id",
        "a.task_id",
        "a.project_id",
        "a.user_id",
        f"NULLIF({_neutralised('u.name')}, '')",
        _iso("a.created"),
        _iso("a.finish_time"),
    ]
    is_object = "jsonb_typeof(a.info) = 'object'"
    if whole:
        cells.append(f"CASE WHEN {is_object} THEN NULL ELSE {_json_cell('a.info')} END")
    for key in keys:
        cells.append(f"CASE WHEN {is_object} THEN {_json_cell(f'(a.info -> {_literal(key)})')} END")
    return (
        f"COPY (SELECT {', '.join(cells)} FROM {_FROM} WHERE {where} ORDER BY a.id)"
        " TO STDOUT (FORMAT csv)"
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def stream(conn: Connection, statement: str, *, crlf: bool) -> Iterator[tuple[bytes, int]]:
    """Run ``statement`` (a ``COPY ... TO STDOUT``) in ``conn``'s transaction: ``(chunk, rows)``
    pairs of about 256 KiB. ``crlf``: rows end with CRLF (no row holds a line break)."""
    raw = conn.connection.dbapi_connection
    if raw is None:  # only after the connection was invalidated
        raise RuntimeError("the export's database connection was closed")
    buffer = bytearray()
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            buffer += data
            if len(buffer) >= _CHUNK:
                yield _lines(buffer, crlf)
                buffer = bytearray()
    if buffer:
        yield _lines(buffer, crlf)


def _lines(buffer: Any, crlf: bool) -> tuple[bytes, int]:
    data = bytes(buffer)
    rows = data.count(b"\n")
    return (data.replace(b"\n", b"\r\n") if crlf else data), rows
