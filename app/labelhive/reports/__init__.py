"""Problem reports: an annotator reports a task they cannot answer (its image failed to load)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from labelhive.reports import views

    app.register_blueprint(views.bp)
