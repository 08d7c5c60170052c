"""Results: the results page (consensus, annotators, activity, charts, downloads).

The page reads consensus/ and exports/; this package holds its views and what they show.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: the engine imports this package's models
    from labelhive.results import views

    app.register_blueprint(views.bp)
