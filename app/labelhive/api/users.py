"""``/api/user``: read-only for everyone but the user themselves and admins.

Signed-in callers see others' ``id, name, locale``; the user and admins also the full name,
e-mail address and creation time. The API key and the admin flag are never shown. POST and
DELETE are not served (405, as in PYBOSSA); accounts are made on the sign-up page.

Under the e-mail domain restriction a user changing their own address is held to the sign-up
rule: an address outside the domains is refused, and a new one inside them must be confirmed
again (the account is pending, and can do nothing, until the mailed link is opened). Admins
change addresses freely: they may approve any account anyway.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify

from labelhive.accounts import mail
from labelhive.accounts import services as accounts
from labelhive.accounts import verification
from labelhive.accounts.models import User
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.settings import services as settings

RESERVED = ("id", "created", "api_key", "admin", "enabled", "password_hash")
LIMITS = {"fullname": 200, "locale": 16, "email_addr": 254}


def _dictize(caller: User, user: User) -> dict[str, Any]:
    return serialize.user(user, private=caller.admin or caller.id == user.id)


def _visible(caller: User, user: User) -> bool:
    return caller.admin or user.enabled or caller.id == user.id


@bp.get("/user")
def user_list() -> Response:
    _, rows = listing.page("user")
    caller = auth.require_user()
    return jsonify([_dictize(caller, u) for u in rows if _visible(caller, u)])


@bp.get("/user/<int:oid>")
def user_get(oid: int) -> Response:
    caller = auth.require_user()
    user = listing.one("user", oid)
    if not _visible(caller, user):
        raise errors.not_found(f"User {oid} does not exist.")
    return jsonify(_dictize(caller, user))


@bp.put("/user/<int:oid>")
def user_update(oid: int) -> Response:
    caller = auth.require_user()
    user = listing.one("user", oid)
    if not (caller.admin or caller.id == user.id):
        raise errors.forbidden("Only the user and admins may change an account.")
    values = payload.check_keys(
        listing.body(),
        model_name="User",
        reserved=RESERVED,
        writable=tuple(LIMITS),
        read_only={"name": lambda: user.name, "info": lambda: {}},
    )
    for name, value in values.items():
        if not isinstance(value, str) or len(value) > LIMITS[name]:
            raise errors.bad_request(f"{name} must be a string of at most {LIMITS[name]} letters.")
    email = values.get("email_addr")
    if email is not None:
        if "@" not in email:
            raise errors.bad_request("email_addr must be an e-mail address.")
        if services.email_taken(email, user.id):
            raise errors.unsupported(
                "DBIntegrityError", f"The e-mail address {email!r} is already registered."
            )
    confirm = email is not None and not caller.admin and _must_confirm(user, email)
    for name, value in values.items():
        setattr(user, name, value)
    if confirm:
        user.verification_pending = True
        try:
            verification.send_link(user)
        except mail.MailError as exc:
            db.session.rollback()
            raise errors.ApiError(503, "MailError", f"{exc} Try again later.") from None
    db.session.commit()
    if confirm:
        accounts.forget_api_keys()  # the key stops working now in this process
    return jsonify(_dictize(caller, user))


def _must_confirm(user: User, email: str) -> bool:
    """Whether the new address must be confirmed again.

    :raise ApiError: 400 when the address is outside the domains, or when this site cannot
        mail the link that would confirm it.
    """
    policy = settings.signup_policy()
    refusal = verification.change_refusal(policy, email)
    if refusal:
        raise errors.bad_request(refusal)
    if not verification.needs_confirming(policy, user.email_addr, email):
        return False
    if not mail.configured(current_app.config):
        raise errors.bad_request(
            "This site cannot send e-mail yet, so the address cannot be changed: "
            "ask an administrator."
        )
    return True
