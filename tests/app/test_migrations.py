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


def test_0019_counts_the_tasks_already_there_and_its_downgrade_drops_the_triggers(
    any_url: str,
) -> None:
    from sqlalchemy import select
    from sqlalchemy import text

    from labelhive.tasks import counts
    from tests.common.web import make_project
    from tests.common.web import make_user

    app = make_app(any_url)
    with app.app_context():
        owner = make_user("owner")
        pets_id = make_project(owner, n_tasks=5).id
        db.session.execute(
            text("UPDATE task SET gold_answer = 'cat' WHERE id = (SELECT min(id) FROM task)")
        )
        db.session.execute(
            text("UPDATE task SET state = 'completed' WHERE id = (SELECT max(id) FROM task)")
        )
        db.session.commit()
        db.session.remove()
        cfg = migrate.alembic_config(db.engine)

        def to(revision: str, step: str) -> None:
            with db.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                getattr(command, step)(cfg, revision)

        to("0018_annotator_agreement_by_day", "downgrade")
        with db.engine.connect() as conn:
            assert "task_count" not in inspect(conn).get_table_names()
        # tasks written while the triggers are gone count when 0019 comes back
        db.session.execute(
            text("INSERT INTO task (project_id, info, n_answers, priority_0, state, calibration,"
                 " quorum, n_done, n_reserved, created)"
                 " VALUES (:p, '{}', 2, 0, 'ongoing', 0, 0, 0, 0, '2026-01-01')"),
            {"p": pets_id},
        )  # fmt: skip
        db.session.commit()
        to("head", "upgrade")
        read = db.session.execute(
            select(counts.tasks_of(pets_id), counts.open_tasks_of(pets_id))
        ).one()
        # 6 tasks: one gold and one complete are not open
        assert tuple(read) == (6, 4)
        db.session.remove()
        db.engine.dispose()
