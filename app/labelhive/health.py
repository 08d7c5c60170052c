"""``/healthz`` (the process is up), ``/readyz`` (dependencies reachable), ``/metrics``."""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import jsonify
from sqlalchemy import text

from labelhive import metrics
from labelhive.extensions import csrf
from labelhive.extensions import db

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
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics_view() -> Response:
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
