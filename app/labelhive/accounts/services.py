"""Users: creation (the first becomes admin), sign-in, look-up by API key, key rotation,
password changes and the session version.

API keys are stored as hashes (:func:`labelhive.accounts.models.hash_api_key`); the plain key
exists only on the ``User`` object that made it, to be shown once. Every session cookie carries
the user's ``session_version`` (:meth:`User.get_id`): signing out everywhere, changing the
password and making a new API key bump it, which ends every other session at once.

API keys are looked up on every API request, so :func:`api_key_owner` answers from a small
per-process cache (keyed by a hash of the key, never the key itself) for
``API_KEY_CACHE_SECONDS`` (default 5). Rotating a key or disabling a user empties this
process's cache at once; the other processes stop accepting the old key within that bound.
The labeling page's endpoints, called on every answer, resolve the session cookie the same way
(:func:`session_owner`), under the same bound: ending a user's sessions or disabling them
empties this process's cache too.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
import threading
import time
from typing import Any

from flask import current_app
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.accounts.models import new_api_key
from labelhive.extensions import db
from labelhive.extensions import read_one

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AccountError(ValueError):
    """A user could not be created or changed; the message says why."""


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's user loader: ``id:version`` from the cookie, refused when the user's
    session version moved on (a bare ``id``, from before versions, is version 0)."""
    user_id, _, version = session_id.partition(":")
    user = load_user(user_id)
    if user is None or not user.is_active:
        return None
    if not (version or "0").isdigit() or int(version or "0") != (user.session_version or 0):
        return None
    return user


def end_sessions(user: User) -> None:
    """End every session of ``user`` (other browsers' cookies are refused from now on)."""
    user.session_version = (user.session_version or 0) + 1
    db.session.flush()
    forget_api_keys()


def by_api_key(api_key: str | None) -> User | None:
    if not api_key:
        return None
    user = db.session.scalar(select(User).where(User.api_key_hash == hash_api_key(api_key)))
    return user if user is not None and user.is_active else None


@dataclasses.dataclass(frozen=True)
class KeyOwner:
    """The enabled user an API key belongs to: what authorization needs, no ORM object."""

    id: int
    admin: bool
    is_authenticated: bool = True


DEFAULT_API_KEY_CACHE_SECONDS = 5.0
_KEY_CACHE_MAX = 10_000
_key_cache_lock = threading.Lock()


def _key_cache() -> dict[bytes, tuple[KeyOwner, float]]:
    """This app's cache (one per app: tests run many apps, on many databases, in a process):
    sha256(key) -> (owner, monotonic expiry); only keys that authenticated are kept."""
    return current_app.extensions.setdefault("labelhive.api_keys", {})


def _session_cache() -> dict[str, tuple[KeyOwner, float]]:
    """This app's cache of sessions: ``id:version`` -> (owner, monotonic expiry)."""
    return current_app.extensions.setdefault("labelhive.sessions", {})


def forget_api_keys() -> None:
    """Empty this process's caches of API keys and sessions (a key was rotated, a user
    disabled, or their sessions ended)."""
    with _key_cache_lock:
        _key_cache().clear()
        _session_cache().clear()


def _cache_ttl() -> float:
    return float(current_app.config.get("API_KEY_CACHE_SECONDS", DEFAULT_API_KEY_CACHE_SECONDS))


def _owner(
    cache: dict[Any, tuple[KeyOwner, float]], key: Any, now: float, *where: Any
) -> KeyOwner | None:
    """The enabled user matching ``where``, from ``cache`` while fresh, else one Core query
    (remembered for ``API_KEY_CACHE_SECONDS``; a miss is not remembered)."""
    cached = cache.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    row = read_one(
        select(User.id, User.admin).where(
            *where, User.enabled.is_(True), User.verification_pending.is_(False)
        )
    )
    if row is None:
        with _key_cache_lock:
            cache.pop(key, None)
        return None
    owner = KeyOwner(id=row.id, admin=bool(row.admin))
    ttl = _cache_ttl()
    if ttl > 0:
        with _key_cache_lock:
            if len(cache) >= _KEY_CACHE_MAX:
                cache.clear()
            cache[key] = (owner, now + ttl)
    return owner


def session_owner(session_id: str | None, *, now: float | None = None) -> KeyOwner | None:
    """The enabled user of a session cookie's ``id:version``, or ``None``; cached per process
    for ``API_KEY_CACHE_SECONDS``, as API keys are.

    What :func:`load_session_user` decides (the user exists, is enabled and verified, and the
    cookie's session version is the user's), in one Core query on a miss and without the ORM:
    for endpoints that need only who asks.
    """
    user_id, _, version = (session_id or "").partition(":")
    version = version or "0"
    if not (user_id + version).isascii() or not user_id.isdigit() or not version.isdigit():
        return None
    now = time.monotonic() if now is None else now
    return _owner(
        _session_cache(),
        f"{int(user_id)}:{int(version)}",
        now,
        User.id == int(user_id),
        func.coalesce(User.session_version, 0) == int(version),
    )


def api_key_owner(api_key: str | None, *, now: float | None = None) -> KeyOwner | None:
    """The enabled user of ``api_key``, or ``None``; cached per process for a few seconds.

    One Core query on a miss (no ORM object, no session transaction); unknown keys are not
    cached, so a new key works at once. ``API_KEY_CACHE_SECONDS`` bounds how long a rotated
    key or a disabled user's key keeps working in the processes that did not make the change.
    """
    if not api_key:
        return None
    now = time.monotonic() if now is None else now
    hashed = hash_api_key(api_key)
    return _owner(_key_cache(), bytes.fromhex(hashed), now, User.api_key_hash == hashed)


def by_name(name: str) -> User | None:
    return db.session.scalar(select(User).where(User.name == name))


def has_admin() -> bool:
    return db.session.scalar(select(User.id).where(User.admin.is_(True)).limit(1)) is not None


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def create_user(
    name: str,
    *,
    password: str | None = None,
    email: str | None = None,
    fullname: str = "",
    admin: bool | None = None,
    api_key: str | None = None,
    verification_pending: bool = False,
) -> User:
    """Create a user.

    :param admin: ``None`` makes the user an admin when the deployment has none yet, so the
        first person to sign up administers it.

    :param api_key: the key to give (``--api-key-from-env``), else a new random one; only
        its hash is stored, the plain key is ``user.api_key`` on the returned object.
    :param verification_pending: the user must confirm the e-mail address before doing
        anything (sign-up under the e-mail domain restriction).

    :raise AccountError: the name is malformed or taken, or the password is too short.
    """
    if not NAME_RE.match(name or ""):
        raise AccountError(
            f"User name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    if by_name(name) is not None:
        raise AccountError(f"User name {name!r} is already taken.")
    if email and by_email(email) is not None:
        raise AccountError(f"E-mail address {email!r} is already registered.")
    if password is not None and len(password) < 8:
        raise AccountError("Passwords must have at least 8 characters.")
    if api_key is not None:
        check_api_key(api_key)
    user = User(
        name=name,
        fullname=fullname or name,
        email_addr=email or None,
        admin=(not has_admin()) if admin is None else admin,
        verification_pending=verification_pending,
    )
    user.set_api_key(api_key or new_api_key())
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def check_api_key(api_key: str) -> None:
    """:raise AccountError: ``api_key`` is too short or too long to be given to a user."""
    if len(api_key) < 20 or len(api_key) > 64:
        raise AccountError("An API key must have 20 to 64 characters.")


def regenerate_api_key(user: User, api_key: str | None = None) -> str:
    """Give ``user`` a new API key (``api_key``, else a random one) and end their sessions.

    :return: the plain key, to be shown once: only its hash is stored.
    """
    if api_key is not None:
        check_api_key(api_key)
    key = user.set_api_key(api_key or new_api_key())
    end_sessions(user)
    forget_api_keys()
    return key


def change_password(user: User, current: str, new: str) -> None:
    """Change ``user``'s password and end every session (the caller signs the user in again).

    :raise AccountError: ``current`` is wrong, or ``new`` is too short.
    """
    if not user.check_password(current or ""):
        raise AccountError("The current password is wrong.")
    if len(new or "") < 8:
        raise AccountError("Passwords must have at least 8 characters.")
    user.set_password(new)
    end_sessions(user)


def by_email(email: str) -> User | None:
    """The user with this e-mail address, whatever its case."""
    return db.session.scalar(select(User).where(func.lower(User.email_addr) == email.lower()))


def by_name_or_email(login: str) -> User | None:
    """The user signing in with their user name or e-mail address."""
    login = (login or "").strip()
    if "@" in login:
        return by_email(login)
    return by_name(login)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the login names nobody, so an unknown login costs what a known
    one does and the answer's timing does not tell which accounts exist (same method and
    cost as real hashes: werkzeug's default)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(login: str, password: str) -> User | None:
    """The enabled user whose login and password these are, else ``None``; the same password
    hash check runs whether or not the login exists.

    A user whose e-mail verification is pending is returned too: the caller says what is left.
    """
    user = by_name_or_email(login)
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not user.check_password(password or ""):
        return None
    return user if user.enabled else None


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.id)))


def set_flags(
    actor: User, user: User, *, admin: bool | None = None, enabled: bool | None = None
) -> User:
    """Change a user's admin and enabled flags (an admin's action).

    :raise AccountError: an admin tried to demote or disable themselves (a deployment must keep
        an admin who can undo it).
    """
    if user.id == actor.id and (admin is False or enabled is False):
        raise AccountError("You cannot remove your own admin rights or disable your own account.")
    if admin is not None:
        user.admin = admin
    if enabled is not None:
        user.enabled = enabled
    db.session.flush()
    forget_api_keys()
    return user
