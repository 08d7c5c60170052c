"""Background jobs: the registry, the Redis connection, queues, job records, worker and scheduler.

Generic: this package imports no domain. Domains register their jobs with :func:`job` and raise
:class:`UserError` for failures their user can fix; :mod:`labelhive.wiring` lists the modules
that register jobs, and :mod:`labelhive.starters` starts every job.
"""

from __future__ import annotations

from flask import Flask

from labelhive.jobs.registry import UserError as UserError
from labelhive.jobs.registry import job as job


def init_app(app: Flask) -> None:
    # imported here: they import the extensions, which must not load before the app's config
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
