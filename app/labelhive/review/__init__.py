"""Review: items consensus is unsure of, the reviewers who settle them, the results browser."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from labelhive.review import views

    app.register_blueprint(views.bp)
