"""Tasks: the items to label, the lease sweep, and the labeling page (claim/submit: annotation/)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: the engine and models import this package, and the views import them
    from labelhive.tasks import presenter
    from labelhive.tasks import views

    app.register_blueprint(views.bp)
    app.register_blueprint(presenter.bp)
