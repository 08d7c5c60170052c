"""The account of someone the identity provider vouched for: found, linked or created, with
the roles their groups grant.

- An identity already linked (same source, issuer and subject) is that account.
- Otherwise an existing account is linked only when the provider verified the e-mail address
  and the account has the same address; a new account is made from the claims otherwise.
- An OpenID sign-in's refresh token is kept, sealed (:mod:`.sealing`), for the recheck
  (:mod:`.recheck`), which asks the provider between sign-ins.
- With a group mapping, the roles are re-read at every sign-in. A role removed ends every
  session of the account (:func:`~labelhive.accounts.services.end_sessions`); someone in no
  mapped group is refused, and their account is disabled (sessions and API key end) until an
  allowed sign-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labelhive.accounts import services as accounts
from labelhive.accounts.identity import sealing
from labelhive.accounts.identity.models import UsedSignInValue
from labelhive.accounts.identity.models import UserIdentity
from labelhive.accounts.identity.roles import roles_for
from labelhive.accounts.models import User
from labelhive.db import utcnow
from labelhive.extensions import db

# used states and nonces are kept this long (an authorization request expires within an hour)
USED_VALUE_DAYS = 2


class IdentityRefused(Exception):
    """Sign-in through the identity provider is refused; shown as a page with ``status``."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclasses.dataclass(frozen=True)
class Profile:
    """Who the identity provider says someone is (from verified claims or the directory)."""

    source: str  # "oidc" or "ldap"
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    username: str
    fullname: str
    groups: tuple[str, ...]
    # OpenID only: what the recheck asks the provider with; never shown (repr) nor logged
    refresh_token: str | None = dataclasses.field(default=None, repr=False)


def consume_once(kind: str, value: str) -> None:
    """Record that ``value`` (a ``state`` or ``nonce``) was used.

    :raise IdentityRefused: it was used before (a replayed sign-in answer).
    """
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
    cutoff = utcnow() - dt.timedelta(days=USED_VALUE_DAYS)
    db.session.execute(delete(UsedSignInValue).where(UsedSignInValue.created < cutoff))
    try:
        with db.session.begin_nested():
            db.session.add(UsedSignInValue(digest=digest))
    except IntegrityError:
        raise IdentityRefused(
            f"This sign-in answer ({kind}) was already used once: start again from the sign-in "
            "page.",
            400,
        ) from None


def sign_in(profile: Profile, mapping: dict[str, str]) -> User:
    """The account ``profile`` signs in to, with its roles applied.

    :param mapping: group → role (:func:`~labelhive.accounts.identity.roles.parse_mapping`);
        empty: roles are not managed by the provider.
    :raise IdentityRefused: outside the allowed groups, an unverified address where one is
        needed, an account an admin disabled.
    """
    identity = db.session.scalar(
        select(UserIdentity).where(
            UserIdentity.source == profile.source,
            UserIdentity.issuer == profile.issuer,
            UserIdentity.subject == profile.subject,
        )
    )
    roles = roles_for(profile.groups, mapping) if mapping else None
    if mapping and roles is None:
        if identity is not None:
            block(identity)
        raise IdentityRefused(
            "Your account at the identity provider is not in a group that may use LabelHive: "
            "ask your administrator to add you to one."
        )
    if identity is None:
        identity = _link_or_create(profile, admin=roles.admin if roles else None)
    user = db.session.get(User, identity.user_id)
    if user is None:  # cannot happen: the foreign key cascades
        raise IdentityRefused("This account no longer exists.", 409)
    if identity.blocked:
        user.enabled, identity.blocked = True, False
    if not user.enabled:
        raise IdentityRefused("This account is disabled: ask an administrator.")
    if roles is not None:
        apply_roles(user, roles.admin, roles.create_projects)
    if profile.refresh_token:
        identity.refresh_token = sealing.seal(profile.refresh_token)
    identity.last_sign_in = utcnow()
    db.session.flush()
    return user


def block(identity: UserIdentity) -> None:
    """Someone left the allowed groups: disable the account until an allowed sign-in.

    Their sessions and API key end at once; the refresh token kept for them is dropped.
    """
    identity.refresh_token = None
    user = db.session.get(User, identity.user_id)
    if user is not None and user.enabled:
        user.enabled, identity.blocked = False, True
        accounts.end_sessions(user)
        accounts.forget_api_keys()
    db.session.flush()


def apply_roles(user: User, admin: bool, create_projects: bool) -> None:
    """Set the roles; a role taken away ends every session and API key cache entry."""
    removed = (user.admin and not admin) or (user.can_create_projects and not create_projects)
    user.admin, user.can_create_projects = admin, create_projects
    if removed:
        # the other sessions of this person still act with the old role: end them
        accounts.end_sessions(user)
        accounts.forget_api_keys()


def _link_or_create(profile: Profile, admin: bool | None) -> UserIdentity:
    user = accounts.by_email(profile.email) if profile.email else None
    if user is not None and not profile.email_verified:
        raise IdentityRefused(
            f"An account with the address {profile.email} exists, but the identity provider "
            "has not verified that this address is yours, so it cannot be linked.",
        )
    if user is None:
        if profile.email and not profile.email_verified:
            raise IdentityRefused(
                "The identity provider has not verified your e-mail address: verify it there, "
                "then sign in again."
            )
        user = accounts.create_user(
            _free_name(profile.username or (profile.email or "").partition("@")[0]),
            email=profile.email,
            fullname=profile.fullname[:200],
            admin=admin,
        )
    identity = UserIdentity(
        user_id=user.id, source=profile.source, issuer=profile.issuer, subject=profile.subject
    )
    db.session.add(identity)
    db.session.flush()
    return identity


def _free_name(wanted: str) -> str:
    """A user name like ``wanted`` that is valid and not taken (``ann``, ``ann-2``, ...)."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", wanted or "").strip("-._")[:56] or "user"
    name, n = base, 1
    while accounts.by_name(name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


@dataclasses.dataclass(frozen=True)
class Recheck:
    """What a re-check of linked accounts changed."""

    checked: int
    disabled: int
    roles_removed: int


def recheck(
    source: str,
    issuer: str,
    groups_of: Callable[[list[str]], dict[str, tuple[str, ...] | None]],
    mapping: dict[str, str],
) -> Recheck:
    """Apply the groups of now to every enabled account linked to ``issuer``, between sign-ins.

    An account whose entry is gone, or whose groups no longer allow it, is disabled (sessions
    and API key end); a removed role is taken away (sessions end). Nothing is granted or enabled
    here: that waits for the person's next sign-in.
    """
    rows = db.session.execute(
        select(UserIdentity, User)
        .join(User, User.id == UserIdentity.user_id)
        .where(UserIdentity.source == source, UserIdentity.issuer == issuer, User.enabled)
    ).all()
    now = groups_of([identity.subject for identity, _user in rows])
    disabled = removed = 0
    for identity, user in rows:
        groups = now.get(identity.subject)
        roles = roles_for(groups, mapping) if mapping and groups is not None else None
        if groups is None or (mapping and roles is None):
            block(identity)
            disabled += 1
        elif roles is not None:
            admin = user.admin and roles.admin
            create = user.can_create_projects and roles.create_projects
            if (admin, create) != (user.admin, user.can_create_projects):
                apply_roles(user, admin, create)
                removed += 1
    db.session.flush()
    return Recheck(checked=len(rows), disabled=disabled, roles_removed=removed)
