"""The engine's hot statements, run on the PostgreSQL driver connection.

SQLAlchemy Core spends a few hundred microseconds of Python on each statement it executes
(cache key, parameters, result metadata); on the claim → submit path that was most of a web
worker's CPU. So the hot statements are still written once, as SQLAlchemy constructs shared with
the SQLite path, but compiled to SQL text once per process and run by psycopg itself, which
prepares them on the server after a few executions. Driver errors come back as SQLAlchemy's
exceptions (a lost connection also invalidates it in the pool), so the engine's retries and the
503 answer to an outage work as for any other statement.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.rows import dict_row
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


@dataclasses.dataclass(frozen=True)
class DriverSQL:
    """A construct compiled for the driver: its SQL and the values of its literal parameters."""

    sql: str
    defaults: dict[str, Any]
    construct: Any  # kept alive: the cache is keyed by its id

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values} if self.defaults else values

    def call(self, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``(sql, parameters)`` for a psycopg ``execute``."""
        return self.sql, self.params(values)


__all__ = [
    "BEGIN",
    "COMMIT",
    "DriverSQL",
    "compiled",
    "connection",
    "dict_row",
    "jsonb",
    "one",
    "one_dict",
]

# explicit transaction control for autocommit connections in pipeline mode (see the engine)
BEGIN = b"BEGIN"
COMMIT = b"COMMIT"

_compiled: dict[tuple[Any, ...], DriverSQL] = {}
_lock = threading.Lock()


def compiled(dialect: Dialect, construct: Any) -> DriverSQL:
    """``construct`` as SQL text for ``dialect``'s driver, compiled once per process.

    Meant for constructs built once (the engine's ``functools.cache`` builders): the cache is
    keyed by the construct's identity.
    """
    # not the dialect's id: each app has its own engine, and a freed dialect's id is reused
    key = (type(dialect), dialect.server_version_info, id(construct))
    found = _compiled.get(key)
    if found is None:
        result = construct.compile(dialect=dialect)
        defaults = dict(result.params)
        found = DriverSQL(result.string, defaults, construct)
        with _lock:
            _compiled[key] = found
    return found


@contextmanager
def connection(conn: Connection) -> Iterator[Any]:
    """The psycopg connection under ``conn``, with its errors raised as SQLAlchemy's.

    ``conn`` stays the owner: its execution options (``AUTOCOMMIT``) apply, and the pool
    resets the connection when ``conn`` is closed.
    """
    raw = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield raw
    except dbapi.Error as exc:
        disconnected = conn.dialect.is_disconnect(exc, raw, None)
        if disconnected:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None,
            None,
            exc,
            dbapi.Error,
            connection_invalidated=disconnected,
            dialect=conn.dialect,
        ) from exc


def one(raw: Any, statement: DriverSQL, values: dict[str, Any]) -> Any:
    """The first row (a named tuple) of ``statement``, or ``None``."""
    cursor = raw.cursor(row_factory=namedtuple_row)
    return cursor.execute(statement.sql, statement.params(values)).fetchone()


def one_dict(raw: Any, statement: DriverSQL, values: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of ``statement`` as a dict, or ``None``."""
    cursor = raw.cursor(row_factory=dict_row)
    return cursor.execute(statement.sql, statement.params(values)).fetchone()


def jsonb(value: Any) -> Any:
    """A JSON parameter: SQL ``NULL`` for ``None``, as the models' ``none_as_null`` columns."""
    return None if value is None else Jsonb(value)
