"""Group membership → LabelHive roles (pure: no I/O).

A mapping is written ``group=role`` entries separated by ``;`` (LDAP group DNs contain commas),
with the roles ``admin`` (site admin), ``creator`` (may create projects) and ``annotator``
(annotator only)::

    labelhive-admins=admin; labelhive-owners=creator; labelers=annotator

Someone in several groups gets every role they grant. With a mapping, someone in none of its
groups is refused; with no mapping at all, everyone the provider vouches for may sign in and
their roles are left to the admins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

ROLES = ("admin", "creator", "annotator")


class MappingError(ValueError):
    """A group mapping cannot be read; the message names the bad entry."""


@dataclasses.dataclass(frozen=True)
class Roles:
    """What a person may do, as their groups say."""

    admin: bool = False
    create_projects: bool = False


def parse_mapping(text: str, variable: str = "the group mapping") -> dict[str, str]:
    """``group=role; ...`` → ``{group (lower-cased): role}``.

    :raise MappingError: an entry without ``=``, an empty group or an unknown role.
    """
    mapping: dict[str, str] = {}
    for raw in (text or "").replace("\n", ";").split(";"):
        entry = raw.strip()
        if not entry:
            continue
        group, sep, role = entry.rpartition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group:
            raise MappingError(f"{variable}: {entry!r} is not group=role")
        if role not in ROLES:
            raise MappingError(f"{variable}: role {role!r} must be one of {', '.join(ROLES)}")
        mapping[group.lower()] = role
    return mapping


def roles_for(groups: Iterable[str], mapping: dict[str, str]) -> Roles | None:
    """The roles ``groups`` grant under ``mapping``; ``None`` when none of them is mapped.

    Group names compare without case (LDAP DNs and most providers ignore it).
    """
    granted = {mapping[g.strip().lower()] for g in groups if g.strip().lower() in mapping}
    if not granted:
        return None
    admin = "admin" in granted
    return Roles(admin=admin, create_projects=admin or "creator" in granted)


def groups_from_claim(value: object) -> list[str]:
    """The group names of an ID token claim: a list of strings, or one string."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []
