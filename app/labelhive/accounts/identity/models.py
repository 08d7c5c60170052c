"""Accounts linked to an identity provider, and sign-in values that may be used only once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow


class UserIdentity(Base):
    """The person ``subject`` at ``issuer`` (an OpenID issuer URL or an LDAP server URL) is
    the LabelHive user ``user_id``."""

    __tablename__ = "user_identity"
    __table_args__ = (UniqueConstraint("source", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(8))  # "oidc" or "ldap"
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    # the account was disabled because its groups no longer allow it (not by an admin): an
    # allowed sign-in enables it again
    blocked: Mapped[bool] = mapped_column(default=False)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # OpenID: the refresh token of the last sign-in, sealed (:mod:`.sealing`); the recheck
    # uses it to ask the provider whether the person may still sign in
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)


class UsedSignInValue(Base):
    """An OpenID ``state`` or ``nonce`` already used (its SHA-256): a replay is refused even
    with an old copy of the session cookie, which still holds the value."""

    __tablename__ = "used_signin_value"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
