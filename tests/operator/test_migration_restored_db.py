"""A database restored from a backup taken before the migration is found and migrated again.

The real operator runs against the emulator and reaches the real LabelHive app (served from
a thread, on SQLite) with the admin key it generated, as it does in a cluster. The app's
``GET /api/admin/schema`` reports the database's revision; "restored" is the database's
revision going back one migration (Alembic's downgrade, as a pre-migration dump holds it).
The emulator has no Job controller or kubelet: the test plays the new attempt's Pod by running
the migrations itself (what ``labelhive db upgrade`` does), then marks the Job complete.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask
from werkzeug.serving import make_server

from labelhive import migrate
from labelhive.accounts.services import create_user
from labelhive.accounts.services import regenerate_api_key
from labelhive.extensions import db
from tests.conftest import make_app
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.test_operator import NAME
from tests.operator.test_operator import _condition
from tests.operator.test_operator import _deploy_ready
from tests.operator.test_operator import _job_done
from tests.operator.test_operator import install

LABELING = {
    "storage": {"bucket": "birds", "region": "eu-west-1", "roleArn": "arn:aws:iam::1:role/r"},
    "labeling": {
        "title": "Birds",
        "shortName": "birds",
        "question": "Which bird?",
        "answers": ["sparrow", "robin"],
    },
}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The real app on a migrated SQLite database, served over HTTP; the operator's URL."""
    app = make_app(f"sqlite:///{tmp_path / 'labelhive.db'}", RATELIMIT_ENABLED=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LABELHIVE_OPERATOR_APP_URL", f"http://127.0.0.1:{server.server_port}")
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)
        with app.app_context():
            db.engine.dispose()


def _admin_key(cluster: Cluster) -> str:
    """Return the operator's generated admin key.

    Plays the API server's write of ``stringData`` into ``data`` (the emulator keeps what was
    sent), so the operator reads the key back on every reconcile, as in a cluster.
    """
    secret = cluster.objects("secrets")["demo-app-secrets"]
    plain = secret.get("stringData") or {
        k: base64.b64decode(v).decode() for k, v in secret["data"].items()
    }
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in plain.items()}
    cluster.patch(
        f"/api/v1/namespaces/{NAMESPACE}/secrets/demo-app-secrets",
        {"data": encoded, "stringData": None},
    )
    return str(plain["admin-api-key"])


def _schema_change(app: Flask, downgrade: bool) -> None:
    """Take the database back one migration (a restored backup), or forward to head (the
    new attempt's ``labelhive db upgrade``)."""
    with app.app_context():
        if downgrade:
            cfg = migrate.alembic_config(db.engine)
            with db.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "-1")
        else:
            migrate.upgrade(db.engine)
        db.engine.dispose()


def _record(cluster: Cluster) -> dict[str, Any]:
    raw = ((cluster.cr(NAME) or {})["metadata"].get("annotations") or {})["labelhive.io/migrated"]
    return dict(json.loads(raw))


def test_a_restored_older_database_is_migrated_again(cluster: Cluster, app: Flask) -> None:
    install(cluster, **LABELING)
    (first,) = cluster.objects("jobs")
    with app.app_context():
        # what the migration Job's admin-user container does
        user = create_user("labelhive-operator", email="op@example.org", admin=True)
        regenerate_api_key(user, _admin_key(cluster))
        db.session.commit()
        head = migrate.head_revision(db.engine)
    _deploy_ready(cluster, "Deployment", "demo-web")
    cluster.wait(
        "the app reached",
        lambda: (_condition(cluster.cr(NAME), "LabelingSynced") or {}).get("status") == "True",
    )
    assert (_condition(cluster.cr(NAME), "Migrated") or {})["status"] == "True"
    assert set(cluster.objects("jobs")) == {first}

    _schema_change(app, downgrade=True)
    second = f"{first}-2"
    cluster.wait("attempt 2", lambda: second in cluster.objects("jobs"))
    cond = cluster.wait(
        "Migrated=False/DatabaseBehind",
        lambda: (c := _condition(cluster.cr(NAME), "Migrated")) and c["status"] == "False" and c,
    )
    assert cond["reason"] == "DatabaseBehind"
    assert f"behind the image's {head}" in cond["message"]
    assert f"attempt 2 (job {second})" in cond["message"]
    events = [e for e in cluster.objects("events").values() if e["reason"] == "DatabaseBehind"]
    assert len(events) == 1 and events[0]["type"] == "Warning"
    # the workloads keep running (the same image): only the database is migrated again
    assert {"demo-web", "demo-worker", "demo-scheduler"} <= set(cluster.objects("deployments"))
    assert _record(cluster)["job"] == first and first in cluster.objects("jobs")

    _schema_change(app, downgrade=False)
    _job_done(cluster, second)
    cond = cluster.wait(
        "Migrated=True",
        lambda: (c := _condition(cluster.cr(NAME), "Migrated")) and c["status"] == "True" and c,
    )
    assert cond["reason"] == "MigrationSucceeded" and "attempt 2" in cond["message"]
    assert _record(cluster) == {"job": second, "image": "ghcr.io/labelhive/labelhive:1.0.0"}
    cluster.wait("attempt 1 removed", lambda: set(cluster.objects("jobs")) == {second})
    # at head again: nothing more is started
    cluster.wait("status", lambda: (cluster.cr(NAME) or {})["status"]["migration"]["attempt"] == 2)
    assert set(cluster.objects("jobs")) == {second}
