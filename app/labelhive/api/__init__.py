"""The PYBOSSA-shaped REST API at ``/api`` (see ``docs/pybossa-api.md``)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprint, CSRF-exempt as a whole: cookie-authenticated writes are
    checked in :func:`labelhive.api.auth.authenticate` instead."""
    from labelhive.api import categories  # noqa: F401
    from labelhive.api import consensus  # noqa: F401
    from labelhive.api import exclusions  # noqa: F401
    from labelhive.api import exports  # noqa: F401  (each module adds its routes to bp)
    from labelhive.api import helpingmaterials  # noqa: F401
    from labelhive.api import jobs  # noqa: F401
    from labelhive.api import openapi  # noqa: F401
    from labelhive.api import openapi_exclusions  # noqa: F401
    from labelhive.api import openapi_resources  # noqa: F401
    from labelhive.api import openapi_review  # noqa: F401
    from labelhive.api import projects  # noqa: F401
    from labelhive.api import ratelimit
    from labelhive.api import results  # noqa: F401
    from labelhive.api import review  # noqa: F401
    from labelhive.api import scheduling  # noqa: F401
    from labelhive.api import schema  # noqa: F401
    from labelhive.api import taskruns  # noqa: F401
    from labelhive.api import tasks  # noqa: F401
    from labelhive.api import users  # noqa: F401
    from labelhive.api.blueprint import bp
    from labelhive.extensions import csrf

    csrf.exempt(bp)
    ratelimit.install(bp)
    app.register_blueprint(bp)
