"""Users: creation (the first becomes admin), look-up by API key, key rotation."""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.accounts.models import new_api_key
from labelhive.extensions import db

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AccountError(ValueError):
    """A user could not be created or changed; the message says why."""


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def by_api_key(api_key: str | None) -> User | None:
    if not api_key:
        return None
    user = db.session.scalar(select(User).where(User.api_key == api_key))
    return user if user is not None and user.enabled else None


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
) -> User:
    """Create a user.

    :param admin: ``None`` makes the user an admin when the deployment has none yet, so the
        first person to sign up administers it.

    :raise AccountError: the name is malformed or taken, or the password is too short.
    """
    if not NAME_RE.match(name or ""):
        raise AccountError(
            f"User name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    if by_name(name) is not None:
        raise AccountError(f"User name {name!r} is already taken.")
    if email and db.session.scalar(select(User.id).where(User.email_addr == email)):
        raise AccountError(f"E-mail address {email!r} is already registered.")
    if password is not None and len(password) < 8:
        raise AccountError("Passwords must have at least 8 characters.")
    if api_key is not None and (len(api_key) < 20 or len(api_key) > 64):
        raise AccountError("An API key must have 20 to 64 characters.")
    user = User(
        name=name,
        fullname=fullname or name,
        email_addr=email or None,
        admin=(not has_admin()) if admin is None else admin,
        api_key=api_key or new_api_key(),
    )
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def regenerate_api_key(user: User) -> str:
    user.api_key = new_api_key()
    db.session.flush()
    return user.api_key


def by_name_or_email(login: str) -> User | None:
    """The user signing in with their user name or e-mail address."""
    login = (login or "").strip()
    if "@" in login:
        return db.session.scalar(select(User).where(func.lower(User.email_addr) == login.lower()))
    return by_name(login)


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
    return user
