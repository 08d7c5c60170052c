"""The API's rate limit, as PYBOSSA keeps it: one bucket per resource for all its methods.

PYBOSSA limits each API view (``api.api_task`` serves GET, HEAD, POST, PUT and DELETE on
``/api/task``) to 300 requests per 900 s and sends ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (the window's end, epoch seconds) on every
limited response. ``pbs`` reads those from ``HEAD /api/task`` and sleeps until the reset when
ten or fewer requests remain. Flask-Limiter (configured in :func:`labelhive.create_app`) counts
and writes the headers; this module gives the API its shared per-resource limit
(``RATELIMIT_API``) in place of the site's default.

Callers are counted by :func:`labelhive.security.rate_limit_key`: per account when a key or
session is presented, else per address. ``pbs`` sends its ``HEAD /api/task`` without a key, so
that request counts against the address; pbs sends one HEAD per POST, so both buckets advance
together and the HEAD's numbers stay within pbs's ten-request margin of the POSTs' bucket.
"""

from __future__ import annotations

from flask import Blueprint
from flask import current_app

from labelhive.api import errors
from labelhive.extensions import limiter


def api_limit() -> str:
    """The configured limit, read per request so tests and deployments can set it."""
    return str(current_app.config.get("RATELIMIT_API") or "300 per 900 seconds")


def scope(endpoint: str) -> str:
    """The bucket of a request: its resource (``/api/task/5`` and ``/api/task`` share one)."""
    return f"api:{errors.target()}"


_installed: set[str] = set()


def install(bp: Blueprint) -> None:
    """Limit every route of the API blueprint (before it is registered).

    The limiter and the blueprint live as long as the process, and every app a test creates
    calls this again: the limit is attached once.
    """
    if bp.name in _installed:
        return
    limiter.shared_limit(api_limit, scope=scope)(bp)
    _installed.add(bp.name)
