"""``GET /api/admin/schema``: the database's schema revision next to this code's (admins only).

The operator compares the two after a migration succeeded: a database restored from a backup
taken before the migration reports an older revision than the image it serves, and is
migrated again (operator/README.md, "Migrations"). ``behind`` is ``True`` when the database's
revision is one this code knows and older than its head (or the database has none): then
``labelhive db upgrade`` brings it to ``head``. A revision this code does not know (a newer
image migrated the database) is not behind: upgrading cannot help.
"""

from __future__ import annotations

from typing import Any

from alembic.script import ScriptDirectory
from flask import Response
from flask import jsonify
from sqlalchemy import Engine

from labelhive import migrate
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api.blueprint import bp
from labelhive.api.openapi import add_paths
from labelhive.extensions import db


def schema_state(engine: Engine) -> dict[str, Any]:
    """Return ``{"revision", "head", "behind"}`` for the database behind ``engine``.

    :param engine: the app's engine.
    :return: ``revision`` is ``None`` for a database Alembic never migrated.
    """
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    head = script.get_current_head()
    revision = migrate.current_revision(engine)
    known = {rev.revision for rev in script.walk_revisions()}
    behind = revision != head and (revision is None or revision in known)
    return {"revision": revision, "head": head, "behind": behind}


@bp.get("/admin/schema")
def admin_schema() -> Response:
    owner = auth.caller()
    if owner is None:
        raise errors.unauthorized()
    if not owner.admin:
        raise errors.forbidden("Only admins may read the schema revision.")
    return jsonify(schema_state(db.engine))


_ERROR = {"$ref": "#/components/responses/Error"}

add_paths(
    "admin",
    "Operations: what the deployment's operator reads (admins only).",
    {
        "/admin/schema": {
            "get": {
                "tags": ["admin"],
                "operationId": "getSchemaRevision",
                "summary": "The database's schema revision and the head this code migrates to.",
                "responses": {
                    "200": {
                        "description": "The revisions.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["revision", "head", "behind"],
                                    "properties": {
                                        "revision": {
                                            "type": ["string", "null"],
                                            "description": "The Alembic revision applied in "
                                            "the database (null: never migrated).",
                                        },
                                        "head": {
                                            "type": ["string", "null"],
                                            "description": "The newest revision this code has.",
                                        },
                                        "behind": {
                                            "type": "boolean",
                                            "description": "Whether `labelhive db upgrade` "
                                            "would bring the database forward.",
                                        },
                                    },
                                },
                            },
                        },
                    },
                    "401": _ERROR,
                    "403": _ERROR,
                },
            },
        },
    },
)
