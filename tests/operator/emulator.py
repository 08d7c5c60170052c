"""Test support: kmock's KubernetesEmulator with the fixes kopf needs (operator-bar.md, last part).

kmock 0.8's emulator is "a database over HTTP". kopf needs a little more of the API server's
contract, added here and nothing else:

1. ``uid``, ``resourceVersion``, ``creationTimestamp`` and ``generation`` stamped on create;
   ``resourceVersion`` bumped on every change and ``generation`` on spec changes (kopf guards
   its finalizer JSON-patches with a ``test`` op on ``resourceVersion``).
2. a failed JSON-patch ``test`` answers 422, not 500; a duplicate create answers 409.
3. LIST returns a collection ``resourceVersion``; WATCH subscribes before its snapshot and
   honours ``?resourceVersion=`` by replaying later events (no duplicate ADDED, no lost MODIFIED).
4. ``/status`` patches touch only ``status`` and main-resource patches never touch it, for
   resources that declare the ``status`` subresource.
5. server-side apply (``application/apply-patch+yaml``) of a missing object creates it; on an
   existing object it is merged like a merge-patch (field ownership: item 7 only).
6. ``generateName`` is honoured (kopf posts Events with it).
7. opt-in, per plural (``manage_fields_of``): server-side apply field ownership in
   ``metadata.managedFields``, simplified (:mod:`tests.operator.managed_fields` says how).

Tests can also lose writes on purpose: ``drop_status_of`` answers ``/status`` patches of those
plurals with success and the unchanged object (a status write that never landed).

What it still does not do (the kind end-to-end test covers these): PUT, the scale subresource,
strategic-merge and SSA list semantics (lists are replaced), label selectors (LIST returns the
whole namespace; the operator filters by ownerReference), ownerReference garbage collection,
CRD schema/CEL validation and defaulting, and controllers (no Pods, no Deployment or Job status).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import jsonpatch
import kmock
from kmock._internal import dicts
from kmock._internal import enums
from kmock._internal import rendering

from tests.operator import managed_fields

APPLY = "application/apply-patch+yaml"


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """The stock emulator plus the API-server behaviour kopf relies on."""

    _rv_counter: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _rv: int = attrs.field(default=0, init=False)
    _log: list[tuple[int, Any, dict[str, Any]]] = attrs.field(factory=list, init=False)
    #: answer ``/status`` patches of these plurals as if applied, but drop them (a lost write)
    drop_status_of: set[str] = attrs.field(factory=set, init=False)
    #: track field managers (``managedFields``) of these plurals (:mod:`.managed_fields`)
    manage_fields_of: set[str] = attrs.field(factory=set, init=False)

    def _next_rv(self) -> str:
        self._rv = next(self._rv_counter)
        return str(self._rv)

    async def _publish(self, resource: Any, type_: str, raw: dict[str, Any]) -> None:
        event = {"type": type_, "object": copy.deepcopy(raw)}
        self._log.append((int(raw["metadata"]["resourceVersion"]), resource, event))
        await self._buses[resource].put(event)

    def _has_status(self, resource: Any) -> bool:
        for res in self._get_resources():
            if res == resource and "status" in self._resources[res].subresources:
                return True
        return False

    def _stamp_new(self, request: rendering.Request, data: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(data)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace:
            meta["namespace"] = request.namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()
        return obj

    def _track(
        self, request: rendering.Request, old: Any, sent: Any, new: dict[str, Any]
    ) -> dict[str, Any]:
        """Record the request's field manager on ``new`` (only for ``manage_fields_of``)."""
        if request.resource.plural not in self.manage_fields_of or request.subresource:
            return new
        new.setdefault("metadata", {}).pop("managedFields", None)
        if old is not None:
            new["metadata"]["managedFields"] = old.get("metadata", {}).get("managedFields")
        agent = request.headers.get("User-Agent", "").split("/")[0]
        manager = request.params.get("fieldManager") or agent
        if not request.headers.get("Content-Type", "").startswith(APPLY):
            return managed_fields.update(old, new, manager)
        force = str(request.params.get("force", "")).lower() in ("1", "true")
        try:
            return managed_fields.apply(old, managed_fields.strip(sent), new, manager, force)
        except managed_fields.ApplyConflict as e:
            raise kmock.KubernetesError(status=409, reason="Conflict", message=str(e)) from None

    async def _create(self, request: rendering.Request, data: dict[str, Any]) -> Any:
        obj = self._track(request, None, data, self._stamp_new(request, data))
        meta = obj["metadata"]
        key = (request.resource, meta.get("namespace"), meta["name"])
        if key in self._objects and not self._objects[key].deleted:
            raise kmock.KubernetesError(
                status=409, reason="AlreadyExists", message=f"{meta['name']} already exists"
            )
        if isinstance(request.data, dict):
            # the stock response lookup finds the object by the name in the request body
            request.data.setdefault("metadata", {})["name"] = meta["name"]
        if key in self._objects:
            self._objects[key].create(obj)
        else:
            self._objects[key] = obj
        await self._publish(request.resource, "ADDED", obj)
        return key

    async def _patch(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        data = request.data
        missing = key not in self._objects or self._objects[key].deleted
        if missing and request.headers.get("Content-Type", "").startswith(APPLY):
            return await self._create(request, data)
        if missing:
            raise kmock.KubernetesError(status=404, reason="NotFound", message="not found")
        if request.subresource == "status" and request.resource.plural in self.drop_status_of:
            return key
        old = copy.deepcopy(self._objects[key].raw)
        if isinstance(data, dict) and self._has_status(request.resource):
            if request.subresource == "status":
                data = {"status": data.get("status")}
            else:
                data = {k: v for k, v in data.items() if k != "status"}
        try:
            new = copy.deepcopy(dict(dicts.patch_dict(old, data)))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            raise kmock.KubernetesError(status=422, reason="Invalid", message=str(e)) from None
        new = self._track(request, old, data, new)
        meta = new.setdefault("metadata", {})
        meta["resourceVersion"] = self._next_rv()
        if new.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self._objects[key].create(new)
        await self._publish(request.resource, "MODIFIED", new)
        return key

    async def _delete(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        if key not in self._objects or self._objects[key].deleted:
            raise kmock.KubernetesError(status=404, reason="NotFound", message="not found")
        obj = copy.deepcopy(self._objects[key].raw)
        meta = obj["metadata"]
        if meta.get("finalizers") and not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            meta["resourceVersion"] = self._next_rv()
            self._objects[key].create(obj)
            await self._publish(request.resource, "MODIFIED", obj)
        elif not meta.get("finalizers"):
            meta["resourceVersion"] = self._next_rv()
            self._objects[key].create(obj)
            return key  # removed after the response is rendered
        return None

    async def _handle(self, request: rendering.Request) -> Any:
        gone = None
        if request.resource is not None:
            async with self._lock:
                if request.action == enums.action.CREATE:
                    await self._create(request, request.data)
                elif request.action == enums.action.UPDATE and request.name is not None:
                    key = await self._patch(request)
                    meta = self._objects[key].raw.get("metadata", {})
                    if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                        gone = key
                elif request.action == enums.action.DELETE and request.name is not None:
                    gone = await self._delete(request)
        try:
            # skip the stock emulator's own mutation logic; keep its fetch/list/watch serving
            return await super(kmock.KubernetesEmulator, self)._handle(request)
        finally:
            if gone is not None:
                async with self._lock:
                    raw = self._objects[gone].raw
                    self._objects[gone].delete()
                    await self._publish(gone[0], "DELETED", raw)

    def _matches(self, request: rendering.Request, event: dict[str, Any]) -> bool:
        ns = event["object"].get("metadata", {}).get("namespace")
        return request.namespace is None or ns == request.namespace

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        async with self._lock:
            items = [
                copy.deepcopy(obj.raw)
                for (res, ns, _), obj in self._objects.items()
                if res == request.resource
                and not obj.deleted
                and (request.namespace is None or ns == request.namespace)
            ]
            rv = str(self._rv)
        return {"metadata": {"resourceVersion": rv}, "items": items}

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        yield b""
        bus = self._buses[request.resource]
        since = request.params.get("resourceVersion")
        async with self._lock:
            mark = await bus.mark()
            if since:
                backlog = [
                    ev
                    for rv, res, ev in self._log
                    if res == request.resource and rv > int(since) and self._matches(request, ev)
                ]
            else:
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(obj.raw)}
                    for (res, ns, _), obj in self._objects.items()
                    if res == request.resource
                    and not obj.deleted
                    and (request.namespace is None or ns == request.namespace)
                ]
        try:
            for event in backlog:
                yield event
            async for event in bus.stream(since=mark):
                if self._matches(request, event):
                    yield event
        finally:
            await bus.unmark(mark)

    def rbac_log(self, since: int = 0) -> tuple[set[RbacRequest], set[str]]:
        """Return the RBAC checks of the operator's requests since request ``since``, and the
        non-resource (discovery) paths it read. The tests' own client is left out.
        """
        checks: set[RbacRequest] = set()
        paths: set[str] = set()
        for r in list(self._requests)[since:]:
            if r.headers.get("User-Agent", "").startswith(TEST_USER_AGENT):
                continue
            method = str(r.method).upper().rsplit(".", 1)[-1]
            found = rbac_checks(
                method, r.url.path, r.params, r.headers.get("Content-Type", ""), r.data
            )
            if found is None:
                paths.add(r.url.path)
            else:
                checks.update(found)
        return checks, paths

    def writes(self, since: int = 0) -> list[rendering.Request]:
        """Return the write requests (POST/PATCH/PUT/DELETE) served since request ``since``."""
        return [
            r
            for r in list(self._requests)[since:]
            if str(r.method).upper().rsplit(".", 1)[-1] in {"POST", "PATCH", "PUT", "DELETE"}
        ]


#: the User-Agent of the tests' own client (kubectl and the controllers the emulator lacks):
#: its requests are not the operator's and stay out of :meth:`Emulator.rbac_log`
TEST_USER_AGENT = "labelhive-tests"


@attrs.frozen
class RbacRequest:
    """One authorization check the API server makes for a request (RBAC's attributes)."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str | None

    def __str__(self) -> str:
        res = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {self.group or 'core'}/{res} in {self.namespace or '(cluster)'}"


def rbac_checks(
    method: str, path: str, params: Any, content_type: str, data: Any
) -> list[RbacRequest] | None:
    """Return the RBAC checks the API server makes for one request (``None``: discovery).

    A request is checked as (verb, group, resource, subresource, namespace). A server-side
    apply may create the object, so it needs ``create`` too; an object that names a
    ``LabelingProject`` owner with ``blockOwnerDeletion`` needs ``update`` on its
    ``finalizers`` (the OwnerReferencesPermissionEnforcement admission plugin).
    """
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None  # /api, /apis, /version: non-resource discovery URLs
    if not rest:
        return None  # /api/v1, /apis/<group>/<version>: discovery
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else None, "/".join(rest[2:])
    method = method.upper()
    if method == "GET":
        watch = str(params.get("watch", "")).lower() in ("1", "true")
        verb = "get" if name else ("watch" if watch else "list")
    else:
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update"}.get(method, "")
        verb = verb or ("delete" if name else "deletecollection")
    checks = [RbacRequest(verb, group, resource, sub, namespace)]
    if verb == "patch" and content_type.startswith(APPLY) and not sub:
        checks.append(RbacRequest("create", group, resource, "", namespace))
    refs = (
        ((data or {}).get("metadata") or {}).get("ownerReferences")
        if isinstance(data, dict)
        else None
    )
    for ref in refs or []:
        if ref.get("blockOwnerDeletion") and ref.get("kind") == "LabelingProject":
            grp = str(ref.get("apiVersion", "")).split("/")[0]
            checks.append(RbacRequest("update", grp, "labelingprojects", "finalizers", namespace))
    return checks


async def start_api() -> tuple[Emulator, kmock.Server]:
    """Start the emulator behind a kmock server, with the resources the operator uses.

    The operator's tests and ``bench/operator_reconcile.py`` both run the real operator on it.
    """
    emu = Emulator()
    await emu.__aenter__()
    server = kmock.Server(emu)
    await server.__aenter__()
    emu.resources["labelhive.io/v1alpha1/labelingprojects"] = kmock.ResourceInfo(
        kind="LabelingProject",
        namespaced=True,
        verbs={"get", "list", "watch", "patch"},
        subresources={"status"},
    )
    # the operator watches its children of these kinds (kopf resolves them through discovery)
    for path, kind in (
        ("apps/v1/deployments", "Deployment"),
        ("apps/v1/statefulsets", "StatefulSet"),
        ("batch/v1/jobs", "Job"),
    ):
        emu.resources[path] = kmock.ResourceInfo(
            kind=kind,
            namespaced=True,
            verbs={"get", "list", "watch", "create", "patch", "delete"},
            subresources={"status"},
        )
    emu.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True, verbs={"create"})
    # kopf's observers wait until discovery shows these two (never listed: scanning is off)
    emu.resources["v1/namespaces"] = kmock.ResourceInfo(
        kind="Namespace", namespaced=False, verbs={"list", "watch"}
    )
    emu.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs={"list", "watch"}
    )
    return emu, server
