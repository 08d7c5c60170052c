"""E-mail address verification: a signed, expiring link bound to the address it was sent to.

Under the e-mail domain restriction an account is created with ``verification_pending``: it can
neither sign in nor use its API key until its owner opens the link sent to the address (proof
that the address, and so the domain, is theirs) or an admin approves the account. Changing the
address later is held to the same rule (:func:`change_refusal`, :func:`needs_confirming`): a new
address must be in the domains, and the account waits for its link again.
"""

from __future__ import annotations

from flask import current_app
from flask import url_for
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from labelhive.accounts import mail
from labelhive.accounts.models import User
from labelhive.accounts.services import load_user
from labelhive.settings.services import SignupPolicy

SALT = "labelhive.email-verification"
MAX_AGE_SECONDS = 2 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=SALT)


def make_token(user: User) -> str:
    return _serializer().dumps({"id": user.id, "email": (user.email_addr or "").lower()})


def user_for_token(token: str) -> User | None:
    """The pending user a valid, unexpired token names (for the address it was sent to)."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = load_user(str(data.get("id", "")))
    if user is None or (user.email_addr or "").lower() != data.get("email"):
        return None
    return user


def send_link(user: User) -> None:
    """Mail ``user`` the verification link.

    :raise mail.MailError: it could not be sent.
    """
    link = url_for("accounts.verify", token=make_token(user), _external=True)
    mail.send(
        current_app.config,
        user.email_addr or "",
        "Confirm your e-mail address",
        f"Hello {user.name},\n\nopen this link to confirm your address and start using your "
        f"account:\n\n{link}\n\nThe link works for two days. If you did not sign up, ignore "
        "this message.\n",
    )


def change_refusal(policy: SignupPolicy, new_email: str) -> str | None:
    """Why a user may not change their address to ``new_email``, or ``None`` when they may."""
    if policy.mode != "domains":
        return None
    if new_email.rpartition("@")[2].lower() not in policy.domains:
        return f"E-mail addresses on this site must be at: {', '.join(policy.domains)}."
    return None


def needs_confirming(policy: SignupPolicy, old_email: str | None, new_email: str) -> bool:
    """A changed address must be confirmed again under the domain restriction."""
    return policy.mode == "domains" and new_email.lower() != (old_email or "").lower()
