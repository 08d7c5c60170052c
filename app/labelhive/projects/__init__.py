"""Projects: what to label, how many answers each task needs, who owns it."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: models and services of other domains import this package
    from labelhive import web
    from labelhive.projects import importing  # noqa: F401  (adds the import pages to bp)
    from labelhive.projects import refs
    from labelhive.projects import views

    refs.install()

    app.register_blueprint(views.bp)
    app.context_processor(web.template_helpers)
