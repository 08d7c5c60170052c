"""Background jobs: the Redis connection, queues, job records, worker and scheduler."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # imported here: the job modules import the domains, which import the extensions
    from labelhive.jobs import connection
    from labelhive.jobs import queues
    from labelhive.jobs import views

    queues.install()
    app.register_blueprint(views.bp)
    # the rate limiter shares Redis (through Sentinel) and fails open when it is away
    uri, options = connection.limiter_storage(app.config)
    app.config.setdefault("RATELIMIT_STORAGE_URI", uri)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "labelhive")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
