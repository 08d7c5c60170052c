"""Test support: server-side apply field ownership (``metadata.managedFields``), simplified.

The emulator (:mod:`tests.operator.emulator`) merges an apply like a merge-patch. With
``Emulator.manage_fields_of`` naming a plural, its objects also get the part of server-side
apply that decides whether a field *stays*: who owns it.

- every write records its field manager (``?fieldManager=``, else the User-Agent's product, as
  the API server does) in ``metadata.managedFields``, one entry per (manager, operation), in the
  API server's ``FieldsV1`` shape (``{"f:spec": {"f:replicas": {}}}``);
- an **Apply** owns every field it sends; a field the same manager applied before and now leaves
  out loses that owner, and is **removed from the object when no other manager owns it** (this is
  what drops an unowned ``replicas`` to the default of 1); a field another manager owns with a
  different value is a conflict: 409 without ``force``, taken over with it; the same value is
  shared;
- an **Update** (POST, merge-patch, JSON patch) takes every field it adds or changes from
  whoever owned it (an Update never conflicts) and drops the fields it removes.

Simplified against a real API server (structured-merge-diff), so tests must not lean on these:

- **lists are atomic**: a list is one field, owned and compared whole. The API server tracks
  lists by their schema's list type: ``map`` lists by key (``containers`` by ``name``, ``ports``
  by ``containerPort`` + ``protocol``, ``env`` by ``name``), ``set`` lists per value; two managers
  owning different containers, or an apply that leaves out one env entry, are not emulated;
- no schema: no per-type merge strategy (``x-kubernetes-map-type: atomic`` maps are walked like
  any map), no defaulting, so a removed ``replicas`` is simply absent (the API server would
  default it to 1: tests read an absent count as 1), no ``".": {}`` markers for owned map entries;
- ownership of ``status`` and of subresources (``/status``, ``/scale``: an HPA's write shows as
  its manager with ``subresource: scale``) is not tracked; ``metadata`` fields the server sets
  (``uid``, ``resourceVersion``, ...) are never owned;
- the removal of a field an apply left out applies to that exact field only (a parent map left
  empty stays as ``{}``); an Update's removed fields leave every manager;
- no apply-configuration validation and no managedFields reset by a client.
"""

from __future__ import annotations

import datetime
from typing import Any

#: metadata fields the API server sets; nobody owns them
SERVER_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "managedFields",
        "selfLink",
    }
)

Path = tuple[str, ...]
Owners = dict[tuple[str, str], set[Path]]
_MISSING = object()


class ApplyConflict(Exception):
    """An apply without ``force`` would change fields another manager owns."""

    def __init__(self, manager: str, conflicts: list[tuple[str, Path]]) -> None:
        self.conflicts = conflicts
        desc = "; ".join(f".{'.'.join(p)} (owned by {m})" for m, p in conflicts)
        super().__init__(f"Apply failed with {len(conflicts)} conflict(s) for {manager}: {desc}")


def leaves(obj: dict[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Return the fields of ``obj`` that can be owned, as ``path → value``.

    Maps are walked, a list or a scalar (or an empty map) is one field.
    """
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if not prefix and key in ("apiVersion", "kind", "status"):
            continue
        if prefix == ("metadata",) and key in SERVER_META:
            continue
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """Return ``paths`` as ``FieldsV1`` (``{"f:spec": {"f:replicas": {}}}``)."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def from_fields_v1(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """Return the paths a ``FieldsV1`` tree owns (the inverse of :func:`to_fields_v1`)."""
    out: set[Path] = set()
    for key, sub in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        if isinstance(sub, dict) and any(k.startswith("f:") for k in sub):
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def owners_of(obj: dict[str, Any]) -> Owners:
    """Return the object's ``managedFields`` as ``(manager, operation) → paths``."""
    out: Owners = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        key = (entry["manager"], entry["operation"])
        out[key] = out.get(key, set()) | from_fields_v1(entry.get("fieldsV1") or {})
    return out


def _write(obj: dict[str, Any], owners: Owners, now: str) -> None:
    old = {
        (e["manager"], e["operation"]): e
        for e in (obj.get("metadata") or {}).get("managedFields") or []
    }
    entries = []
    for (manager, operation), paths in owners.items():
        if not paths:
            continue  # the API server drops entries that own nothing
        fields = to_fields_v1(paths)
        prev = old.get((manager, operation))
        same = prev is not None and prev.get("fieldsV1") == fields
        entries.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": obj.get("apiVersion", ""),
                "time": prev["time"] if same and prev else now,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        )
    obj.setdefault("metadata", {})["managedFields"] = entries


def _remove(obj: dict[str, Any], path: Path) -> None:
    node: Any = obj
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strip(data: Any) -> Any:
    """Drop ``metadata.managedFields`` from a request body (the server keeps its own)."""
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        data = {
            **data,
            "metadata": {k: v for k, v in data["metadata"].items() if k != "managedFields"},
        }
    return data


def apply(
    old: dict[str, Any] | None,
    applied: dict[str, Any],
    merged: dict[str, Any],
    manager: str,
    force: bool,
) -> dict[str, Any]:
    """Record an Apply of ``applied`` by ``manager``; return ``merged`` with fields pruned.

    :param old: the live object before the request (``None``: the apply creates it).
    :param applied: the apply configuration sent.
    :param merged: ``old`` with ``applied`` merged in (the emulator's merge).
    :raise ApplyConflict: without ``force``, when a field another manager owns would change.
    """
    owners = owners_of(old or {})
    live = leaves(old or {})
    sent = leaves(applied)
    conflicts: list[tuple[str, Path]] = []
    for (other, operation), paths in owners.items():
        if (other, operation) == (manager, "Apply"):
            continue
        clash = {p for p in paths & sent.keys() if live.get(p, _MISSING) != sent[p]}
        conflicts += [(other, p) for p in sorted(clash)]
        owners[(other, operation)] = paths - clash
    if conflicts and not force:
        raise ApplyConflict(manager, conflicts)
    given_up = owners.get((manager, "Apply"), set()) - sent.keys()
    owners[(manager, "Apply")] = set(sent)
    owned = set().union(*owners.values())
    for path in given_up:
        if not any(o[: len(path)] == path for o in owned):
            _remove(merged, path)
    _write(merged, owners, _now())
    return merged


def update(old: dict[str, Any] | None, new: dict[str, Any], manager: str) -> dict[str, Any]:
    """Record an Update by ``manager`` that turned ``old`` into ``new``; return ``new``."""
    owners = owners_of(old or {})
    before, after = leaves(old or {}), leaves(new)
    changed = {p for p, v in after.items() if before.get(p, _MISSING) != v}
    removed = set(before) - set(after)
    for key in owners:
        owners[key] -= changed | removed
    owners[(manager, "Update")] = (owners.get((manager, "Update"), set()) | changed) - removed
    _write(new, owners, _now())
    return new
