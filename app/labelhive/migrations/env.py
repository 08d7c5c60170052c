"""Alembic environment: runs on the connection LabelHive hands it (see labelhive.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from labelhive import models  # noqa: F401  (registers every table)
from labelhive.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no sqlalchemy.url: run the migrations through labelhive.migrate")
        engine = create_engine(url)
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # migrations run during deploys: never wait long for a lock held by live traffic
            context.execute("SET LOCAL lock_timeout = '4s'")
            context.execute("SET LOCAL statement_timeout = '60s'")
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `labelhive db upgrade`")
run_migrations_online()
