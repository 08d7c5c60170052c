"""Migration 0018 (annotator agreement by day) down and up again, on SQLite and PostgreSQL:
the column goes and comes back, the annotator rows stay, and a row without a history (one
the previous release wrote) reads as none."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from labelhive import migrate
from labelhive.api.consensus import serialize_annotator
from labelhive.consensus.models import AnnotatorQuality
from labelhive.extensions import db
from labelhive.results import charts
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


def _columns() -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("annotator_quality")}


def test_migration_0018_round_trip(any_url: str) -> None:
    app = make_app(any_url)
    with app.app_context():
        assert "agreement_by_day" in _columns()
        alice = make_user("alice")
        project = make_project(alice)
        db.session.add(
            AnnotatorQuality(
                project_id=project.id,
                user_id=alice.id,
                n_answers=3,
                agreement_by_day=[["2026-11-20", 3, 2]],
            )
        )
        db.session.commit()
        db.session.remove()

        cfg = migrate.alembic_config(db.engine)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0017_oidc_refresh")
        assert migrate.current_revision(db.engine) == "0017_oidc_refresh"
        assert "agreement_by_day" not in _columns()
        with db.engine.connect() as conn:
            kept = conn.execute(db.text("SELECT n_answers FROM annotator_quality")).scalars()
            assert list(kept) == [3]

        migrate.upgrade(db.engine)
        assert migrate.is_up_to_date(db.engine)
        assert "agreement_by_day" in _columns()
        row = db.session.scalar(db.select(AnnotatorQuality))
        # the history went with the column: none until the next recomputation
        assert row.agreement_by_day is None
        assert charts.sparkline(row.agreement_by_day) is None
        assert serialize_annotator(row, "alice")["agreement_by_day"] == []
        db.session.remove()
        db.engine.dispose()
