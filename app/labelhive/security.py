"""Security headers on every response, and small shared guards against hostile input.

- headers (below), registered by :func:`init_app`;
- who a request counts against in the rate limits (:func:`rate_limit_key`: the resolved
  account, else the client address);
- the sign-in rate limits' values and keys (:func:`signin_limit`, :func:`signin_limit_key` per
  address and login; :func:`signin_address_limit`, :func:`signin_address_key` per address
  across logins, against password spraying), used by ``accounts.views.signin``;
- :func:`check_json_depth` (JSON from users nests at most :data:`MAX_JSON_DEPTH` deep),
  :func:`has_dot_segments` (no ``..`` in proxied S3 keys), and a 413 that names the limit.

Every response gets a Content-Security-Policy (with ``frame-ancestors``), ``X-Frame-Options``,
``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``. A response that already carries
its own policy keeps it: the presenter frame (:mod:`labelhive.tasks.presenter`) and uploaded
helping materials set stricter, sandboxed policies themselves.

With ``HSTS_SECONDS`` (``LABELHIVE_HSTS_SECONDS``) set, a response to an HTTPS request (as the
trusted proxies report it, ``LABELHIVE_PROXY_FIX``) also gets ``Strict-Transport-Security``;
never one to plain HTTP, where browsers ignore it and a laptop's ``labelhive serve`` must stay
reachable.

The site's pages load scripts and styles only from this origin (no inline scripts: ``label.js``
and ``presenter-host.js`` are files). Task images are plain ``<img>`` loads from the URLs the
owner imported (any ``http``/``https`` host, or this site's S3 proxy), so ``img-src`` allows
them; the browser fetches them, never the server. The presenter page frames only this origin.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import current_app
from flask import request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

SITE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # the presenter page sizes its iframe with a style attribute
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' http: https: data: blob:",
        "media-src 'self' http: https: data: blob:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
# the JSON API and downloads are never rendered as documents
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

SIGNIN_LIMIT_DEFAULT = "10 per minute"
SIGNIN_ADDRESS_LIMIT_DEFAULT = "50 per hour"

# how deep JSON from users (task info, answers, project info) may nest; deeper is refused with
# a 400 before it reaches code that recurses (json itself, serialisers, the database)
MAX_JSON_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self, what: str = "The JSON") -> None:
        super().__init__(
            f"{what} is nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and lists."
        )


def check_json_depth(value: Any, what: str = "The JSON") -> Any:
    """Return ``value`` if it nests at most :data:`MAX_JSON_DEPTH` deep (checked without
    recursion).

    :raise TooDeep: deeper.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise TooDeep(what)
        stack.extend((child, depth + 1) for child in children)
    return value


def has_dot_segments(path: str) -> bool:
    """Whether a URL path or object key has ``.`` or ``..`` segments, also percent-encoded:
    a browser resolves them, so ``/s3/bucket/../../x`` would leave the proxy prefix."""
    lowered = path.lower().replace("%2e", ".").replace("%2f", "/").replace("\\", "/")
    return any(segment in (".", "..") for segment in lowered.split("/"))


def too_large_message() -> str:
    """The sentence a 413 carries: what the limit is."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    return f"The request is too large: uploads and bodies may be at most {size}."


def _too_large(_exc: RequestEntityTooLarge) -> Any:
    if _is_api():
        # raised before the API blueprint's handlers apply (an app-wide hook read the body)
        from labelhive.api.errors import envelope

        return envelope(413, "RequestEntityTooLarge", too_large_message())
    from labelhive.pages import render_error

    return render_error(413, too_large_message())


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


# (name, lower-case name, value) of the headers a response gets unless it sets its own;
# frame-ancestors (in the CSP) is the modern control, X-Frame-Options covers old browsers
_DEFAULT_HEADERS = tuple(
    (name, name.lower(), value)
    for name, value in (
        ("X-Frame-Options", "SAMEORIGIN"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    )
)


def _headers(response: Response) -> Response:
    headers = response.headers
    # one pass over the response's headers, not one per name (werkzeug's lookups are linear
    # and case-folding: five of them were a sixth of a plain JSON request's time in Flask)
    present = {name.lower() for name in headers.keys()}
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", API_CSP if _is_api() else SITE_CSP)
    for name, lowered, value in _DEFAULT_HEADERS:
        if lowered not in present:
            headers.add(name, value)
    hsts = current_app.config.get("HSTS_SECONDS") or 0
    if hsts and request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", f"max-age={int(hsts)}")
    return response


def rate_limit_key() -> str:
    """Who a request counts against: the account its API key or session resolves to.

    A key that resolves to no account (wrong, random, disabled) counts as anonymous, against
    the client address: varying the key, its spacing or its ``Bearer`` prefix gives no fresh
    bucket. Behind the Ingress and the HAProxy sidecar many people share an address, so known
    accounts count on their own. Keys are resolved through the per-process key cache
    (:func:`labelhive.accounts.services.api_key_owner`), sessions through the session cache.
    """
    from labelhive.accounts.services import api_key_owner
    from labelhive.api.auth import presented_keys

    keys = presented_keys(request.headers.get("Authorization"), request.args.get("api_key"))
    if keys:
        for key in keys:
            owner = api_key_owner(key)
            if owner is not None:
                return f"user:{owner.id}"
        return get_remote_address()
    from flask import session

    from labelhive.accounts.services import session_owner

    # the session's user through the session cache: the labeling page's endpoints load no
    # ORM user at all (labelhive.tasks.views)
    owner = session_owner(session.get("_user_id")) if "_user_id" in session else None
    if owner is not None:
        return f"user:{owner.id}"
    return get_remote_address()


def signin_limit() -> str:
    """The sign-in limit (``RATELIMIT_SIGNIN``), read per request so tests can set it."""
    return str(current_app.config.get("RATELIMIT_SIGNIN") or SIGNIN_LIMIT_DEFAULT)


def signin_limit_key() -> str:
    """Sign-in attempts count per client address and the login name being tried, so one
    attacker can neither guess one account's password quickly nor lock everyone out."""
    login = (request.form.get("login") or "").strip().lower()[:200]
    return f"signin:{get_remote_address()}:{login}"


def signin_address_limit() -> str:
    """Sign-in attempts per client address over every login (``RATELIMIT_SIGNIN_ADDRESS``)."""
    return str(current_app.config.get("RATELIMIT_SIGNIN_ADDRESS") or SIGNIN_ADDRESS_LIMIT_DEFAULT)


def signin_address_key() -> str:
    """One address trying one password on many accounts (password spraying) is counted here,
    whatever the login names."""
    return f"signin-address:{get_remote_address()}"


def init_app(app: Flask) -> None:
    """Add the security headers to every response; explain 413s."""
    app.after_request(_headers)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
