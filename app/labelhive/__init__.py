"""LabelHive: crowd labeling with exact redundancy.

:func:`create_app` builds the Flask application; each domain's ``init_app`` is called in a fixed
order, and nothing connects to a database or Redis at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from labelhive import config as config_module


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the LabelHive application.

    :param test_config: overrides applied after the environment; a ``DATABASE_URL`` key is
        treated as that environment variable.
    """
    app = Flask(__name__)
    # request.get_json() refuses NaN, Infinity, NUL and lone surrogates (400), as the API does
    from labelhive.api.strict_json import StrictJSONProvider

    app.json = StrictJSONProvider(app)
    overrides = dict(test_config or {})
    environ = dict(os.environ)
    if "DATABASE_URL" in overrides:
        # tests name their database like a deployment does, so the same URL handling applies
        environ["DATABASE_URL"] = overrides.pop("DATABASE_URL")
        environ.setdefault("SECRET_KEY", "test-secret-key")
    app.config.from_mapping(config_module.from_environ(environ))
    app.config.from_mapping(overrides)
    _trust_proxies(app)

    from labelhive import extensions
    from labelhive import models  # noqa: F401  (registers every table)

    extensions.db.init_app(app)
    if not app.config["EMBEDDED"]:
        from labelhive.db import ping_when_idle

        with app.app_context():
            ping_when_idle(extensions.db.engine, float(app.config["DB_PING_IDLE_SECONDS"]))
    extensions.csrf.init_app(app)
    extensions.login_manager.init_app(app)

    from labelhive import accounts
    from labelhive import api
    from labelhive import health
    from labelhive import helping
    from labelhive import jobs
    from labelhive import outage
    from labelhive import pages
    from labelhive import plural
    from labelhive import projects
    from labelhive import reports
    from labelhive import results
    from labelhive import review
    from labelhive import security
    from labelhive import tasks
    from labelhive import wiring

    wiring.register_jobs()
    jobs.init_app(app)
    extensions.limiter.init_app(app)
    accounts.init_app(app)
    health.init_app(app)
    outage.init_app(app)
    api.init_app(app)
    projects.init_app(app)
    tasks.init_app(app)
    results.init_app(app)
    review.init_app(app)
    reports.init_app(app)
    helping.init_app(app)
    security.init_app(app)
    pages.init_app(app)
    plural.init_app(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Take the client's address, scheme and host from the proxies' ``X-Forwarded-*`` headers.

    ``PROXY_FIX`` (``LABELHIVE_PROXY_FIX``) is the number of proxies that each append to
    ``X-Forwarded-For``: 2 in Kubernetes (the ingress, then the HAProxy sidecar). Only the
    outermost one (the ingress) sets ``X-Forwarded-Proto``/``-Host``/``-Port``, the sidecar
    passes them on, so one value of those is trusted. 0 (the default) trusts no header.
    """
    hops = int(app.config.get("PROXY_FIX") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
