"""``/healthz`` (the process is up), ``/readyz`` (dependencies reachable), ``/metrics``."""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from prometheus_client.registry import Collector
from sqlalchemy import text

from labelhive import metrics
from labelhive.extensions import csrf
from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.jobs import connection
from labelhive.jobs import monitoring

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = checks["database"] == "ok"
    if connection.settings(current_app.config).configured:
        # reported, not required: answers never touch Redis, so a failover must not take the
        # web Pods out of the Service (jobs wait in the database and are enqueued again)
        checks["redis"] = connection.check(current_app.config)
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics_view() -> Response:
    from labelhive.projects.monitoring import ProjectCollector

    collectors: list[Collector] = [ProjectCollector()]
    if connection.settings(current_app.config).configured:
        collectors.append(monitoring.QueueCollector(current_app.config))
    body, content_type = metrics.render(collectors)
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    # probes and scrapes come every few seconds from one address
    limiter.exempt(bp)
    app.register_blueprint(bp)
