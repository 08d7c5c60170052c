"""Deployment settings: who may sign up.

The sign-up policy is one of ``open`` (anyone), ``closed`` (invite-only: admins create accounts),
``domains`` (only e-mail addresses in the listed domains) or ``identity`` (accounts come from the
OpenID Connect or LDAP sign-in only; passwords only for break-glass admins). The first account
can always be created, so a fresh deployment cannot lock itself out.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from labelhive.extensions import db
from labelhive.settings.models import Setting

SIGNUP_POLICIES = ("open", "closed", "domains", "identity")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class SettingsError(ValueError):
    """A setting value is invalid; the message says why."""


@dataclasses.dataclass(frozen=True)
class SignupPolicy:
    mode: str = "open"
    domains: tuple[str, ...] = ()

    def refusal(self, email: str | None) -> str | None:
        """Why an address may not sign up under this policy, or ``None`` when it may."""
        if self.mode == "closed":
            return "Sign-up is closed on this site: ask an administrator for an account."
        if self.mode == "identity":
            return "Accounts on this site come from your organisation's sign-in: use it instead."
        if self.mode == "domains":
            domain = (email or "").rpartition("@")[2].lower()
            if not email or domain not in self.domains:
                allowed = ", ".join(self.domains)
                return f"Sign-up is restricted to e-mail addresses at: {allowed}."
        return None


def get(key: str, default: Any = None) -> Any:
    row = db.session.get(Setting, key)
    return default if row is None else row.value


def put(key: str, value: Any) -> None:
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    db.session.flush()


def parse_domains(text: str) -> tuple[str, ...]:
    """Split a comma/space/newline separated list of e-mail domains and check each.

    :raise SettingsError: a malformed domain.
    """
    domains = []
    for raw in re.split(r"[\s,;]+", text or ""):
        domain = raw.strip().lstrip("@").lower()
        if not domain:
            continue
        if not DOMAIN_RE.match(domain):
            raise SettingsError(f"{raw!r} is not an e-mail domain (like example.org).")
        if domain not in domains:
            domains.append(domain)
    return tuple(domains)


def signup_policy() -> SignupPolicy:
    value = get("signup") or {}
    mode = value.get("mode") if isinstance(value, dict) else None
    domains = value.get("domains") if isinstance(value, dict) else None
    return SignupPolicy(
        mode=mode if mode in SIGNUP_POLICIES else "open",
        domains=tuple(str(d) for d in domains) if isinstance(domains, list) else (),
    )


def set_signup_policy(mode: str, domains: tuple[str, ...] = ()) -> SignupPolicy:
    """Store the sign-up policy.

    :raise SettingsError: unknown mode, or ``domains`` mode without a domain.
    """
    if mode not in SIGNUP_POLICIES:
        raise SettingsError(f"Sign-up must be one of {', '.join(SIGNUP_POLICIES)}.")
    if mode == "domains" and not domains:
        raise SettingsError("List at least one e-mail domain to restrict sign-up to.")
    put("signup", {"mode": mode, "domains": list(domains)})
    return SignupPolicy(mode, domains)
