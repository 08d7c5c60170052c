"""The OpenID recheck: what the provider's answer of now means for a linked account.

:func:`decide` is the rule (pure); :func:`linked` and :func:`apply` read and write the
accounts (the caller commits, one account at a time, and asks the provider in between, with
no transaction open: :mod:`.jobs`).

- The provider refused the refresh token → the account is disabled, as when someone leaves
  the allowed groups (:func:`~labelhive.accounts.identity.services.block`): sessions and API
  key end; an allowed sign-in enables it again.
- The provider answered → the roles are re-derived from the groups of now, exactly as at a
  sign-in (the answer is a freshly signed ID token for that person); outside every mapped
  group → disabled.
- No usable refresh token (signed in before refresh tokens were asked for, or the provider
  issues none) → kept, and reported; with ``OIDC_MAX_AGE_WITHOUT_REFRESH``, disabled once
  their last sign-in is older than that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from labelhive.accounts.identity import sealing
from labelhive.accounts.identity import services
from labelhive.accounts.identity.models import UserIdentity
from labelhive.accounts.identity.oidc import Refreshed
from labelhive.accounts.identity.oidc import Revoked
from labelhive.accounts.identity.roles import Roles
from labelhive.accounts.identity.roles import roles_for
from labelhive.accounts.models import User
from labelhive.extensions import db

KEEP = "keep"
ROLES = "roles"
DISABLE = "disable"
UNTRACKED = "untracked"  # no refresh token: kept until a sign-in (or the max age)


@dataclasses.dataclass(frozen=True)
class Linked:
    """An enabled account linked to the provider, as read before asking the provider."""

    identity_id: int
    user_name: str
    subject: str
    sealed_token: str | None = dataclasses.field(repr=False)
    last_sign_in: dt.datetime


@dataclasses.dataclass(frozen=True)
class Decision:
    action: str  # KEEP, ROLES, DISABLE or UNTRACKED
    reason: str
    roles: Roles | None = None


def decide(
    answer: Refreshed | Revoked | None,
    mapping: dict[str, str],
    *,
    last_sign_in: dt.datetime,
    max_age: int | None,
    now: dt.datetime,
) -> Decision:
    """What to do with an account, given the provider's ``answer`` (``None``: no token).

    :param mapping: group → role; empty: the provider's groups do not decide roles.
    :param max_age: seconds after ``last_sign_in`` before an account without a refresh token
        is disabled; ``None``: never.
    """
    if answer is None:
        if max_age is not None and now - last_sign_in > dt.timedelta(seconds=max_age):
            return Decision(DISABLE, f"no refresh token, and no sign-in for over {max_age} s")
        return Decision(UNTRACKED, "no refresh token: kept until the next sign-in")
    if isinstance(answer, Revoked):
        return Decision(DISABLE, "the provider refused the refresh token (invalid_grant)")
    if not mapping:
        return Decision(KEEP, "the provider still vouches for them")
    roles = roles_for(answer.groups, mapping)
    if roles is None:
        return Decision(DISABLE, "no longer in a group that may use LabelHive")
    return Decision(ROLES, "roles from the groups of now", roles)


def linked(issuer: str) -> list[Linked]:
    """The enabled accounts linked to the OpenID provider ``issuer``, by identity id."""
    rows = db.session.execute(
        select(UserIdentity, User.name)
        .join(User, User.id == UserIdentity.user_id)
        .where(UserIdentity.source == "oidc", UserIdentity.issuer == issuer, User.enabled)
        .order_by(UserIdentity.id)
    ).all()
    return [
        Linked(
            identity_id=identity.id,
            user_name=name,
            subject=identity.subject,
            sealed_token=identity.refresh_token,
            last_sign_in=identity.last_sign_in,
        )
        for identity, name in rows
    ]


def apply(identity_id: int, decision: Decision, rotated: str | None = None) -> bool:
    """Carry out ``decision`` on the account of ``identity_id``.

    :param rotated: a new refresh token the provider sent (sealed before it is stored).
    :return: whether the account changed (disabled, or its roles changed).
    """
    identity = db.session.get(UserIdentity, identity_id)
    user = db.session.get(User, identity.user_id) if identity is not None else None
    if identity is None or user is None or not user.enabled:
        return False  # unlinked, deleted or disabled since it was read: nothing to do
    if decision.action == DISABLE:
        services.block(identity)
        return True
    if rotated:
        identity.refresh_token = sealing.seal(rotated)
    changed = False
    if decision.roles is not None:
        wanted = (decision.roles.admin, decision.roles.create_projects)
        changed = wanted != (user.admin, user.can_create_projects)
        if changed:
            services.apply_roles(user, *wanted)
    db.session.flush()
    return changed
