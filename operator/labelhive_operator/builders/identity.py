"""The web container's sign-in settings from ``spec.identity`` (pure).

Secrets (the OpenID client secret, the LDAP bind password, the directory's CA) are passed by
reference (``valueFrom.secretKeyRef``): their values never appear in a manifest.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator.builders.common import secret_env
from labelhive_operator.spec import Project


def env(project: Project) -> list[dict[str, Any]]:
    """Return the ``env`` entries the app reads (``labelhive.config``); none without
    ``spec.identity``.

    The web and worker containers get them all (the worker runs the OpenID recheck of
    leavers); the scheduler only those without a Secret (:func:`scheduler_env`).
    """
    identity = project.spec.identity
    if identity is None:
        return []
    out: list[dict[str, Any]] = []

    def value(name: str, text: str) -> None:
        if text:
            out.append({"name": name, "value": text})

    if identity.oidc is not None:
        oidc = identity.oidc
        value("OIDC_ISSUER", oidc.issuer)
        value("OIDC_CLIENT_ID", oidc.client_id)
        out.append(
            secret_env(
                "OIDC_CLIENT_SECRET", oidc.client_secret_ref.name, oidc.client_secret_ref.key
            )
        )
        value("OIDC_SCOPES", oidc.scopes)
        value("OIDC_GROUPS_CLAIM", oidc.groups_claim)
        value("OIDC_GROUP_ROLES", oidc.group_roles)
        value("OIDC_PROVIDER_NAME", oidc.provider_name)
        # written even when empty: "" asks for no offline scope
        out.append({"name": "OIDC_OFFLINE_SCOPE", "value": oidc.offline_scope})
        value("OIDC_RECHECK_INTERVAL", str(oidc.recheck_interval_seconds))
        if oidc.max_age_without_refresh_seconds is not None:
            value("OIDC_MAX_AGE_WITHOUT_REFRESH", str(oidc.max_age_without_refresh_seconds))
    if identity.ldap is not None:
        ldap = identity.ldap
        value("LDAP_URL", ldap.url)
        value("LDAP_USER_BASE", ldap.user_base)
        value("LDAP_USER_FILTER", ldap.user_filter)
        value("LDAP_GROUP_BASE", ldap.group_base)
        value("LDAP_GROUP_FILTER", ldap.group_filter)
        value("LDAP_GROUP_ROLES", ldap.group_roles)
        value("LDAP_BIND_DN", ldap.bind_dn)
        if ldap.bind_password_ref is not None:
            ref = ldap.bind_password_ref
            out.append(secret_env("LDAP_BIND_PASSWORD", ref.name, ref.key))
        if ldap.ca_ref is not None:
            out.append(secret_env("LDAP_CA_CERT", ldap.ca_ref.name, ldap.ca_ref.key))
    value("LABELHIVE_BREAK_GLASS_ADMINS", ",".join(identity.break_glass_admins))
    value("LABELHIVE_IDENTITY_SESSION_SECONDS", str(identity.session_seconds))
    return out


def scheduler_env(project: Project) -> list[dict[str, Any]]:
    """The scheduler's: what tells it to enqueue the recheck, and no secret (it runs no job)."""
    return [e for e in env(project) if "valueFrom" not in e]
