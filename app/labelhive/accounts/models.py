"""Users: annotators, project owners and admins."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask_login import UserMixin
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import true
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from labelhive.db import Base
from labelhive.db import utcnow


def new_api_key() -> str:
    """A new API key: 32 random bytes (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """What is stored of an API key: its SHA-256, hex.

    A fast hash is enough here (no salt, no key stretching): the keys are 256 random bits, so
    a stolen hash cannot be reversed by guessing, unlike a password; and an unsalted hash keeps
    the look-up a single indexed equality.
    """
    return hashlib.sha256(api_key.encode()).hexdigest()


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email_addr: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # the column keeps its old name so the previous release still reads the table during a
    # rollout; since migration 0008 it holds hash_api_key(key), never the key
    # a user made without a key gets the hash of a key nobody was shown (a new key is made
    # by rotating it)
    api_key_hash: Mapped[str] = mapped_column(
        "api_key", String(64), unique=True, default=lambda: hash_api_key(new_api_key())
    )
    admin: Mapped[bool] = mapped_column(default=False)
    # may create projects (everyone, unless the identity provider's groups say otherwise)
    can_create_projects: Mapped[bool] = mapped_column(default=True, server_default=true())
    enabled: Mapped[bool] = mapped_column(default=True)
    # signed up under the e-mail domain restriction and not yet confirmed the address: such an
    # account can neither sign in nor use its API key
    verification_pending: Mapped[bool] = mapped_column(default=False, server_default=false())
    # part of every session cookie (get_id); bumping it ends every session of the user
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # the plain API key, on this object only, right after it was made (never stored; not
    # annotated, so the mapping ignores it)
    api_key = None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        hashed = self.password_hash
        if not hashed:
            return False  # no password set: none matches
        return check_password_hash(hashed, password)

    def set_api_key(self, api_key: str) -> str:
        """Store the hash of ``api_key``; the plain key stays on this object only."""
        self.api_key_hash = hash_api_key(api_key)
        self.api_key = api_key
        return api_key

    def get_id(self) -> str:
        """The session's user id: ``id:session_version`` (Flask-Login stores it in the cookie)."""
        return f"{self.id}:{self.session_version or 0}"

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled users cannot sign in
        return self.enabled and not self.verification_pending

    def __repr__(self) -> str:
        return f"<User {self.id} {self.name!r}>"


# sign-in by e-mail ignores case, so uniqueness must too (migration 0008)
Index("uq_users_email_addr_lower", func.lower(User.email_addr), unique=True)
