"""The API server's request attributes and its RBAC authorizer, over rendered RBAC objects.

Pure logic (no I/O): :func:`attributes` reads a request as the API server does (verb, API group,
resource, subresource, namespace, name); :func:`authorize` answers it from the Roles,
ClusterRoles, RoleBindings and ClusterRoleBindings given, the way the RBAC authorizer does:
a ClusterRoleBinding grants its ClusterRole's rules everywhere, a RoleBinding grants its Role's
(or ClusterRole's) rules in its own namespace only; nothing is granted that no rule allows.

What it does not do: aggregated ClusterRoles (``aggregationRule``: their rules are filled by a
controller, so here they grant nothing), the built-in roles other than discovery (every
authenticated user may GET non-resource paths such as ``/api`` and ``/version``), the
``escalate``/``bind``/``impersonate`` checks, ``resourceNames`` on list/watch, Node and Webhook
authorizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@dataclass(frozen=True)
class Attributes:
    """What the authorizer is asked about one request."""

    verb: str
    path: str
    resource: str = ""  # "" for a non-resource path (discovery, /version)
    group: str = ""
    subresource: str = ""
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if not self.resource:
            return f"{self.verb} {self.path}"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        group = f".{self.group}" if self.group else ""
        where = f" in namespace {self.namespace!r}" if self.namespace else " (cluster scope)"
        return f"{self.verb} {what}{group}{' ' + repr(self.name) if self.name else ''}{where}"


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """Read a request's attributes as the API server's request-info resolver does."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    method = method.upper()
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        rest, group = [], ""
    if not rest:
        return Attributes(verb=method.lower(), path=path)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and name:
        namespace = name
    if method in ("GET", "HEAD"):
        watching = str(query.get("watch", "")).lower() in ("1", "true")
        verb = "get" if name else ("watch" if watching else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return Attributes(verb, path, resource, group, sub, namespace, name)


def _rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return "*" in values or value in values

    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    names = rule.get("resourceNames") or []
    return (
        has("apiGroups", attrs.group)
        and has("resources", resource)
        and has("verbs", attrs.verb)
        and (not names or attrs.name in names)
    )


def _subject_is(subject: Mapping[str, Any], user: str, default_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or default_ns
        return user == f"system:serviceaccount:{ns}:{subject.get('name')}"
    if kind == "User":
        return user == subject.get("name")
    if kind == "Group" and user.startswith("system:serviceaccount:"):
        ns = user.split(":")[2]
        return subject.get("name") in ("system:serviceaccounts", f"system:serviceaccounts:{ns}")
    return False


def authorize(
    user: str, attrs: Attributes, objects: Iterable[Mapping[str, Any]], default_ns: str
) -> tuple[bool, str]:
    """Allow or deny one request of ``user`` (``system:serviceaccount:<ns>:<name>``).

    :param objects: every object applied (only the RBAC kinds are read).
    :param default_ns: the namespace of namespaced objects that name none.
    :return: (allowed, the reason: the binding that allowed it, or what was denied).
    """
    if not attrs.resource:
        return attrs.verb in ("get", "head"), "discovery"
    rbac = [o for o in objects if o.get("kind") in RBAC_KINDS]
    roles = {
        (
            o["kind"],
            (o["metadata"].get("namespace") or default_ns) if o["kind"] == "Role" else "",
            o["metadata"]["name"],
        ): o
        for o in rbac
        if o["kind"] in ("Role", "ClusterRole")
    }
    for binding in rbac:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(_subject_is(s, user, default_ns) for s in binding.get("subjects") or []):
            continue
        meta = binding["metadata"]
        where = meta.get("namespace") or default_ns
        if binding["kind"] == "RoleBinding" and attrs.namespace != where:
            continue
        ref = binding["roleRef"]
        role_ns = where if ref["kind"] == "Role" else ""
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        for rule in (role or {}).get("rules") or []:
            if _rule_allows(rule, attrs):
                return True, f"{binding['kind']} {meta['name']}"
    return False, f'User "{user}" cannot {attrs}'
