"""PYBOSSA's categories and helping materials (tutorial files a project shows its annotators)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: the views import the models and the API's access rules
    from labelhive.helping import uploads
    from labelhive.helping import views

    app.register_blueprint(views.bp)
    # app-level hooks run before the API blueprint's (whose CSRF check may read the form)
    app.before_request(uploads.keep_in_memory)
