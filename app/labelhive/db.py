"""The declarative base every model inherits from, and SQLite connection set-up."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from sqlalchemy import Connection
from sqlalchemy import CursorResult
from sqlalchemy import MetaData
from sqlalchemy import Result
from sqlalchemy import Table
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

if TYPE_CHECKING:
    import psycopg

# stable constraint names, so Alembic migrations can refer to them
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Naive UTC now: both SQLite and PostgreSQL store ``timestamp without time zone``."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def psycopg_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn`` (PostgreSQL): for ``COPY`` and named cursors, in
    the transaction ``conn`` has begun."""
    raw = conn.connection.dbapi_connection
    if raw is None:  # only after the connection was invalidated
        raise RuntimeError("the database connection was closed")
    return cast("psycopg.Connection[Any]", raw)


def rowcount(result: Result[Any]) -> int:
    """The rows an ``UPDATE`` or ``DELETE`` matched (``Session.execute`` types its result as a
    plain ``Result``, which has no ``rowcount``)."""
    return cast(CursorResult[Any], result).rowcount


def table_of(model: Any) -> Table:
    """A model's table, for Core statements (SQLAlchemy types ``__table__`` as a FromClause,
    which ``insert``/``update``/``delete`` do not take)."""
    return cast(Table, model.__table__)


class TimestampMixin:
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    """WAL, foreign keys, and transactions that LabelHive starts itself.

    pysqlite's own transaction handling begins lazily and never with ``BEGIN IMMEDIATE``; the
    claim/submit engine needs a write lock from the first statement, so the driver's handling is
    switched off and :func:`_sqlite_on_begin` emits ``BEGIN`` itself.
    """
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn) -> None:  # noqa: ANN001
    if conn.dialect.name != "sqlite":
        return
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections idle in the pool over ``idle_seconds``.

    ``pool_pre_ping`` pings on every checkout: a round trip per checkout, several per request.
    A connection checked in moments ago is almost surely alive, so only older ones are pinged
    here (SQLAlchemy's documented recipe: a ``checkout`` listener raising
    ``DisconnectionError``, here :class:`InvalidatePoolError`, makes the pool replace the
    connection, and every older one, at once). A connection that broke within the idle window
    fails its statement instead; SQLAlchemy then invalidates the whole pool on that disconnect
    error (optimistic handling), so one request per process sees the outage (a 503) and the
    next ones get new connections.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, connection_record) -> None:  # noqa: ANN001
        connection_record.info["labelhive_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:  # noqa: ANN001
        checked_in = connection_record.info.get("labelhive_checked_in")
        if checked_in is None or time.monotonic() - checked_in < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"pool ping failed: {exc}") from exc
