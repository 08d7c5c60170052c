"""Refresh tokens sealed at rest: Fernet (AES-CBC + HMAC) with a key derived from SECRET_KEY.

The key is derived with HKDF-SHA256 for this one use, so the stored token is useless without
the app's secret, and the secret itself is never used as an encryption key. A token sealed
under a key listed in ``SECRET_KEY_FALLBACKS`` (a rotation under way) still opens; one that
opens under no key (the secret was replaced) counts as no token at all.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_SALT = b"labelhive.accounts.identity.sealing"
_INFO = b"oidc refresh token v1"


def _fernet(secret: str | bytes) -> Fernet:
    raw = secret.encode() if isinstance(secret, str) else secret
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(raw)
    return Fernet(base64.urlsafe_b64encode(key))


def _keys(secrets: Iterable[str | bytes]) -> MultiFernet:
    """The first secret seals; every one of them opens."""
    fernets = [_fernet(s) for s in secrets if s]
    if not fernets:
        raise RuntimeError("SECRET_KEY is unset: refresh tokens cannot be sealed")
    return MultiFernet(fernets)


def seal_with(secrets: Iterable[str | bytes], token: str) -> str:
    """``token`` encrypted and authenticated under the first of ``secrets`` (pure)."""
    return _keys(secrets).encrypt(token.encode()).decode("ascii")


def open_with(secrets: Iterable[str | bytes], sealed: str | None) -> str | None:
    """The token ``sealed`` holds, or ``None`` when there is none or no secret opens it."""
    if not sealed:
        return None
    try:
        return _keys(secrets).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        return None


def app_secrets() -> list[str | bytes]:
    """The app's ``SECRET_KEY``, then its ``SECRET_KEY_FALLBACKS`` (Flask's rotation list)."""
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS") or ()
    return [current_app.secret_key or "", *fallbacks]


def seal(token: str) -> str:
    return seal_with(app_secrets(), token)


def unseal(sealed: str | None) -> str | None:
    return open_with(app_secrets(), sealed)
