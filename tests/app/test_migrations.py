"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from labelhive import migrate
from labelhive.db import Base
from labelhive.extensions import db
from tests.conftest import make_app


def test_models_and_migrations_agree(any_url: str) -> None:
    app = make_app(any_url)
    with app.app_context(), db.engine.connect() as conn:
        assert migrate.is_up_to_date(db.engine)
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes; SQLAlchemy and alembic warn and skip them
            warnings.simplefilter("ignore")
            diff = compare_metadata(context, Base.metadata)
        db.engine.dispose()
    assert diff == []


def test_downgrade_to_empty_and_back(any_url: str) -> None:
    app = make_app(any_url)
    with app.app_context():
        cfg = migrate.alembic_config(db.engine)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert migrate.current_revision(db.engine) is None
        with db.engine.connect() as conn:
            assert inspect(conn).get_table_names() == ["alembic_version"]
        migrate.upgrade(db.engine)
        assert migrate.is_up_to_date(db.engine)
        db.engine.dispose()


def test_a_url_encoded_password_reaches_alembic_as_written(pg_url: str) -> None:
    # configparser reads % as interpolation: 'p%40ss' failed with "invalid interpolation syntax"
    url = pg_url.replace("postgres@", "postgres:p%40ss%25w@", 1)
    assert url != pg_url
    app = make_app(url)  # the test server trusts loopback: the password is not checked
    with app.app_context():
        assert migrate.is_up_to_date(db.engine)
        written = migrate.alembic_config(db.engine).get_main_option("sqlalchemy.url")
        assert written == db.engine.url.render_as_string(hide_password=False)
        assert "p%40ss%25w" in written
        db.engine.dispose()
