"""Results: consensus per task, exports of tasks, answers and results."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: the engine imports this package's models
    from labelhive.results import views

    app.register_blueprint(views.bp)
