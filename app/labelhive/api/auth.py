"""Who is calling the API: API key or session cookie, with CSRF checks for cookies.

- The ``Authorization`` header's raw value is the API key (``Bearer <key>`` is accepted too);
  otherwise the ``api_key`` query parameter. The header wins over the parameter.
- A request that presents a key is judged by that key alone: an unknown (or disabled) key is
  an anonymous caller, as in PYBOSSA, even if a session cookie is also sent.
- Without a key, the Flask-Login session cookie authenticates. Cookies are sent by browsers
  on cross-site requests too, so an unsafe request (POST, PUT, DELETE) authenticated by cookie
  must carry the CSRF token (``X-CSRFToken`` header). API-key requests need none: a third
  party's page cannot know the key.
- A key is resolved to a :class:`~labelhive.accounts.services.KeyOwner` (id, admin) without
  the ORM, from a per-process cache of a few seconds; the ORM ``User`` is loaded only when a
  view asks for it (:func:`user`). The hot paths (``newtask``, ``POST /api/taskrun``) use
  :func:`caller` and never load it.
"""

from __future__ import annotations

from flask import current_app
from flask import g
from flask import request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from labelhive.accounts import services as accounts
from labelhive.accounts.models import User
from labelhive.api import errors
from labelhive.extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_keys(authorization: str | None, api_key_param: str | None) -> list[str]:
    """The API keys a request presents, in the order to try them (pure).

    The header wins over the parameter; a ``Bearer`` header is tried raw, then without the
    scheme. An empty list means no key was presented.
    """
    header = (authorization or "").strip()
    if header:
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return [header, rest.strip()]
        return [header]
    return [api_key_param] if api_key_param else []


def authenticate() -> None:
    """``before_request`` of the API: set the caller; refuse cookie writes without CSRF token.

    :raise errors.ApiError: 400 ``CSRFError`` for an unsafe cookie request without a valid
        token.
    """
    keys = presented_keys(request.headers.get("Authorization"), request.args.get("api_key"))
    g.api_user = None
    g.api_owner = None
    g.api_by_cookie = False
    if keys:
        for key in keys:
            owner = accounts.api_key_owner(key)
            if owner is not None:
                g.api_owner = owner
                break
        return
    if current_user.is_authenticated and current_user.enabled:
        g.api_user = current_user._get_current_object()
        g.api_owner = g.api_user
        g.api_by_cookie = True
        if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                csrf.protect()
            except CSRFError as exc:
                raise errors.ApiError(400, "CSRFError", exc.description) from None


def caller() -> accounts.KeyOwner | User | None:
    """The caller for authorization (``id``, ``admin``), without loading the ORM ``User``."""
    return g.get("api_owner")


def require_caller() -> accounts.KeyOwner | User:
    """:func:`caller`, required.

    :raise errors.ApiError: 401 for an anonymous caller.
    """
    owner = caller()
    if owner is None:
        raise errors.unauthorized()
    return owner


def user() -> User | None:
    """The calling user, or ``None`` for an anonymous caller (loaded on first use)."""
    loaded = g.get("api_user")
    if loaded is None and g.get("api_owner") is not None:
        loaded = accounts.load_user(str(g.api_owner.id))
        if loaded is None or not loaded.enabled:
            # disabled or deleted since the key was cached
            g.api_owner = None
            return None
        g.api_user = loaded
    return loaded


def require_user() -> User:
    """The calling user.

    :raise errors.ApiError: 401 for an anonymous caller.
    """
    caller = user()
    if caller is None:
        raise errors.unauthorized()
    return caller
