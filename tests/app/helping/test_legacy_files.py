"""Files uploaded to disk before revision 0007: the migration keeps their rows, and
``labelhive helping import-files DIR`` copies them into the database (run as a user runs it)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from alembic import command
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select

from labelhive import migrate
from labelhive.extensions import db
from labelhive.helping.models import HelpingMaterial
from tests.app.api.conftest import Api
from tests.app.helping.conftest import browser
from tests.app.helping.conftest import stored_counts
from tests.common.processes import labelhive_cli
from tests.conftest import make_app

BEFORE = "0006_export_files"
OLD_COLUMNS = {"id", "project_id", "info", "media_url", "file_name", "priority", "created"}


def downgrade(revision: str) -> None:
    cfg = migrate.alembic_config(db.engine)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def legacy_row(project_id: int, stored: str) -> None:
    """A material as the previous release wrote it: only the old columns."""
    table = HelpingMaterial.__table__
    with db.engine.begin() as conn:
        conn.execute(
            insert(table).values(
                project_id=project_id,
                info={"file_name": stored.split("-", 1)[1]},
                media_url=f"/helping/{project_id}/{stored}",
                file_name=stored,
                priority=0.0,
                created=dt.datetime(2026, 1, 1),
            )
        )


def test_old_files_survive_the_migration_and_are_imported_by_the_command(
    any_url: str, tmp_path: Path
) -> None:
    api = Api(make_app(any_url))
    project = api.project(api.owner, "birds")
    api.set_password(api.owner)
    uploads = tmp_path / "uploads"
    folder = uploads / "helpingmaterial" / str(project["id"])
    folder.mkdir(parents=True)
    data = os.urandom(1024 * 1024 + 7)
    (folder / "0123456789abcdef-guide.pdf").write_bytes(data)
    with api.app.app_context():
        downgrade(BEFORE)
        columns = {c["name"] for c in inspect(db.engine).get_columns("helpingmaterial")}
        assert columns == OLD_COLUMNS
        assert "helping_chunk" not in inspect(db.engine).get_table_names()
        legacy_row(project["id"], "0123456789abcdef-guide.pdf")
        migrate.upgrade(db.engine)
        material = db.session.scalars(select(HelpingMaterial)).one()
        assert (material.file_name, material.size, material.content_type) == (
            "0123456789abcdef-guide.pdf",
            None,
            None,
        )
        db.session.remove()
        db.engine.dispose()
    path = f"/helping/{project['id']}/0123456789abcdef-guide.pdf"
    with browser(api.app, "owner") as client:
        assert client.get(path).status_code == 404  # not in the database yet

    env = {"DATABASE_URL": any_url, "SECRET_KEY": "cli-test"}
    copied = labelhive_cli("helping", "import-files", str(uploads), env=env)
    assert "Copied 1 helping material file(s) into the database; 0 were already there" in (
        copied.stdout
    )
    assert stored_counts(api.app) == (1, 2)
    with browser(api.app, "owner") as client:
        served = client.get(path)
        assert served.status_code == 200
        assert served.data == data
        assert served.headers["Content-Type"] == "application/pdf"
    # again: nothing to copy; a material whose file is gone is listed, with exit code 1
    with api.app.app_context():
        legacy_row(project["id"], "fedcba9876543210-lost.png")
        db.engine.dispose()
    again = labelhive_cli("helping", "import-files", str(uploads), env=env, check=False)
    assert again.returncode == 1, again.stderr
    assert f"Not found: {uploads}/helpingmaterial/{project['id']}/fedcba9876543210-lost.png" in (
        again.stderr
    )
    assert "Copied 0 helping material file(s) into the database; 1 were already there" in (
        again.stderr
    )
    assert "Traceback" not in again.stderr
    missing_dir = labelhive_cli(
        "helping", "import-files", str(tmp_path / "nope"), env=env, check=False
    )
    assert missing_dir.returncode == 2  # click's usage error: the directory does not exist
    assert "does not exist" in missing_dir.stderr

    # the downgrade drops the stored bytes and the new columns, and keeps the rows
    with api.app.app_context():
        downgrade(BEFORE)
        assert "helping_chunk" not in inspect(db.engine).get_table_names()
        columns = {c["name"] for c in inspect(db.engine).get_columns("helpingmaterial")}
        assert columns == OLD_COLUMNS
        migrate.upgrade(db.engine)
        assert migrate.is_up_to_date(db.engine)
        db.engine.dispose()
    assert stored_counts(api.app) == (2, 0)
