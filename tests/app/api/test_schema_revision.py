"""``GET /api/admin/schema``: the database's schema revision and this code's head (admins only).

The operator reads it to find a database restored from a backup taken before the last
migration. "Restored" is played here the way it looks to the app: the database's revision goes
back (Alembic's downgrade of the newest migration, as a pre-migration dump would hold it).
"""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from labelhive import migrate
from labelhive.extensions import db
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def _head(api: Api) -> str:
    with api.app.app_context():
        head = ScriptDirectory.from_config(migrate.alembic_config(db.engine)).get_current_head()
    assert head
    return head


def _downgrade(api: Api, revision: str) -> None:
    with api.app.app_context():
        cfg = migrate.alembic_config(db.engine)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
        db.engine.dispose()


def test_a_migrated_database_is_at_head(any_api: Api) -> None:
    head = _head(any_api)
    body = any_api.ok(any_api.get("/api/admin/schema", any_api.admin))
    assert body == {"revision": head, "head": head, "behind": False}


def test_a_restored_older_database_is_behind(any_api: Api) -> None:
    head = _head(any_api)
    _downgrade(any_api, "-1")
    body = any_api.ok(any_api.get("/api/admin/schema", any_api.admin))
    assert body["head"] == head and body["behind"] is True
    assert body["revision"] and body["revision"] != head
    # the answer follows the database: upgraded again, it is current
    with any_api.app.app_context():
        migrate.upgrade(db.engine)
        db.engine.dispose()
    assert any_api.ok(any_api.get("/api/admin/schema", any_api.admin))["behind"] is False


def test_a_revision_this_code_does_not_know_is_not_behind(any_api: Api) -> None:
    # a newer image migrated the database; upgrading with this code cannot help
    with any_api.app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        db.engine.dispose()
    body = any_api.ok(any_api.get("/api/admin/schema", any_api.admin))
    assert body == {"revision": "9999_from_the_future", "head": _head(any_api), "behind": False}


def test_only_admins_may_read_it(any_api: Api) -> None:
    for who in (any_api.owner, any_api.contributor):
        envelope(any_api.get("/api/admin/schema", who), 403, "Forbidden", "admin")
    envelope(any_api.get("/api/admin/schema"), 401, "Unauthorized", "admin")
