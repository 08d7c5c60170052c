"""LDAP sign-in through ldap3: search, then bind as the person found.

1. bind as the service account (``LDAP_BIND_DN``; anonymous when unset) and search
   ``LDAP_USER_BASE`` with ``LDAP_USER_FILTER`` (``{login}`` is replaced, escaped);
2. exactly one entry must match; bind as that entry with the password typed (an empty password
   is refused before: LDAP treats it as an anonymous bind, which succeeds);
3. the person's groups: ``LDAP_GROUP_FILTER`` under ``LDAP_GROUP_BASE`` (``{dn}`` and
   ``{login}`` replaced), each group known by its DN and its ``cn``.

The connection is encrypted: ``ldaps://`` URLs use TLS from the start, ``ldap://`` ones StartTLS
before any bind (``LDAP_STARTTLS=0`` turns it off, for a directory on the same host only). The
server certificate is checked against ``LDAP_CA_FILE`` or ``LDAP_CA_CERT`` (the PEM text itself,
what the operator passes from a Secret), else the system's CAs.
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE
from ldap3 import SUBTREE
from ldap3 import Connection
from ldap3 import Server
from ldap3 import Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from labelhive.accounts.identity.roles import parse_mapping
from labelhive.accounts.identity.services import IdentityRefused
from labelhive.accounts.identity.services import Profile

TIMEOUT_SECONDS = 10


class WrongCredentials(Exception):
    """The login names nobody, several entries, or the password is wrong (one answer for all)."""


@dataclasses.dataclass(frozen=True)
class LdapSettings:
    url: str
    starttls: bool
    ca_file: str
    ca_cert: str
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    group_base: str
    group_filter: str
    group_roles: dict[str, str]
    email_attribute: str
    fullname_attribute: str


def settings_from(config: dict[str, Any]) -> LdapSettings | None:
    """The LDAP settings of ``config``, or ``None`` when ``LDAP_URL`` is unset.

    :raise RuntimeError: a URL that is not ``ldap://`` or ``ldaps://``, no search base, a
        filter without ``{login}``, a malformed group mapping.
    """
    url = (config.get("LDAP_URL") or "").strip()
    if not url:
        return None
    if urlsplit(url).scheme not in ("ldap", "ldaps"):
        raise RuntimeError(f"LDAP_URL must start with ldap:// or ldaps:// (got {url!r})")
    if not config.get("LDAP_USER_BASE"):
        raise RuntimeError("LDAP_URL is set: LDAP_USER_BASE (where people are) too")
    user_filter = config.get("LDAP_USER_FILTER") or "(uid={login})"
    if "{login}" not in user_filter:
        raise RuntimeError("LDAP_USER_FILTER must contain {login}")
    try:
        group_roles = parse_mapping(config.get("LDAP_GROUP_ROLES") or "", "LDAP_GROUP_ROLES")
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    starttls = str(config.get("LDAP_STARTTLS") or "1").lower() not in ("0", "false", "no")
    return LdapSettings(
        url=url,
        starttls=starttls and url.startswith("ldap://"),
        ca_file=config.get("LDAP_CA_FILE") or "",
        ca_cert=config.get("LDAP_CA_CERT") or "",
        bind_dn=config.get("LDAP_BIND_DN") or "",
        bind_password=config.get("LDAP_BIND_PASSWORD") or "",
        user_base=config["LDAP_USER_BASE"],
        user_filter=user_filter,
        group_base=config.get("LDAP_GROUP_BASE") or "",
        group_filter=config.get("LDAP_GROUP_FILTER") or "(member={dn})",
        group_roles=group_roles,
        email_attribute=config.get("LDAP_EMAIL_ATTRIBUTE") or "mail",
        fullname_attribute=config.get("LDAP_FULLNAME_ATTRIBUTE") or "cn",
    )


def _server(settings: LdapSettings) -> Server:
    parts = urlsplit(settings.url)
    ldaps = parts.scheme == "ldaps"
    # ldap3 checks the host name itself after the handshake (validate=CERT_REQUIRED)
    tls = Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=settings.ca_file or None,
        ca_certs_data=settings.ca_cert or None,
        sni=parts.hostname,
    )
    return Server(
        parts.hostname or "localhost",
        port=parts.port or (636 if ldaps else 389),
        use_ssl=ldaps,
        tls=tls,
        connect_timeout=TIMEOUT_SECONDS,
    )


def _bind(
    server: Server, settings: LdapSettings, dn: str | None, password: str | None
) -> Connection | None:
    """A bound connection, encrypted first; ``None`` when the directory refuses the password."""
    conn = Connection(server, user=dn, password=password, receive_timeout=TIMEOUT_SECONDS)
    conn.open()
    if settings.starttls and not conn.start_tls():
        conn.unbind()
        raise IdentityRefused("The directory refused StartTLS: ask an administrator.", 502)
    if not conn.bind():
        conn.unbind()
        return None
    return conn


def authenticate(settings: LdapSettings, login: str, password: str) -> Profile:
    """The directory's profile of ``login`` after a successful bind with ``password``.

    :raise WrongCredentials: unknown login, ambiguous login or wrong password.
    :raise IdentityRefused: the directory cannot be reached or refuses the service account.
    """
    login = (login or "").strip()
    if not login or not password:
        raise WrongCredentials()
    server = _server(settings)
    try:
        service = _bind(server, settings, settings.bind_dn or None, settings.bind_password or None)
        if service is None:
            raise IdentityRefused(
                "LabelHive cannot search the directory (its bind DN or password is refused): "
                "ask an administrator.",
                502,
            )
        try:
            entry = _find_person(service, settings, login)
            person = _bind(server, settings, entry.entry_dn, password)
            if person is None:
                raise WrongCredentials()
            person.unbind()
            groups = _groups(service, settings, entry.entry_dn, login)
        finally:
            service.unbind()
    except LDAPException as exc:
        # the exception's text is not shown (it may name the server's internals)
        raise IdentityRefused(
            f"The directory cannot be reached right now ({type(exc).__name__}): try again.", 502
        ) from None
    return Profile(
        source="ldap",
        issuer=settings.url,
        subject=_first(entry, "entryUUID") or entry.entry_dn,
        email=_first(entry, settings.email_attribute) or None,
        # the directory's addresses are set by its administrators, not typed by the person
        email_verified=True,
        username=login,
        fullname=_first(entry, settings.fullname_attribute) or login,
        groups=tuple(groups),
    )


def _find_person(conn: Connection, settings: LdapSettings, login: str) -> Any:
    search_filter = settings.user_filter.replace("{login}", escape_filter_chars(login))
    conn.search(
        settings.user_base,
        search_filter,
        SUBTREE,
        attributes=[settings.email_attribute, settings.fullname_attribute, "entryUUID"],
        size_limit=2,
    )
    if len(conn.entries) != 1:
        raise WrongCredentials()
    return conn.entries[0]


def _groups(conn: Connection, settings: LdapSettings, dn: str, login: str) -> list[str]:
    if not settings.group_base:
        return []
    search_filter = settings.group_filter.replace("{dn}", escape_filter_chars(dn)).replace(
        "{login}", escape_filter_chars(login)
    )
    conn.search(settings.group_base, search_filter, SUBTREE, attributes=["cn"])
    groups: list[str] = []
    for entry in conn.entries:
        groups.append(entry.entry_dn)
        if "cn" in entry:
            groups.extend(str(cn) for cn in entry.cn.values)
    return groups


def _first(entry: Any, attribute: str) -> str:
    if attribute not in entry:
        return ""
    values = entry[attribute].values
    return str(values[0]) if values else ""


def groups_of(settings: LdapSettings, subjects: list[str]) -> dict[str, tuple[str, ...] | None]:
    """Each subject's groups now, as the service account sees them; ``None``: the entry is gone.

    :param subjects: ``entryUUID`` values (or DNs, for a directory without them).
    :raise IdentityRefused: the directory cannot be reached or refuses the service account.
    """
    found: dict[str, tuple[str, ...] | None] = {}
    try:
        service = _bind(
            _server(settings), settings, settings.bind_dn or None, settings.bind_password or None
        )
        if service is None:
            raise IdentityRefused("The directory refuses LabelHive's bind DN or password.", 502)
        try:
            for subject in subjects:
                entry = _find_subject(service, settings, subject)
                if entry is None:
                    found[subject] = None
                    continue
                login = _first(entry, "uid")
                found[subject] = tuple(_groups(service, settings, entry.entry_dn, login))
        finally:
            service.unbind()
    except LDAPException as exc:
        raise IdentityRefused(
            f"The directory cannot be reached right now ({type(exc).__name__}).", 502
        ) from None
    return found


def _find_subject(conn: Connection, settings: LdapSettings, subject: str) -> Any:
    if "=" in subject:  # a DN (a directory without entryUUID)
        conn.search(subject, "(objectClass=*)", BASE, attributes=["uid"])
    else:
        subject_filter = f"(entryUUID={escape_filter_chars(subject)})"
        conn.search(settings.user_base, subject_filter, SUBTREE, attributes=["uid"], size_limit=2)
    return conn.entries[0] if len(conn.entries) == 1 else None
