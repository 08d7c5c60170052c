"""The only module that talks to the Kubernetes API.

Children are written with server-side apply (``PATCH`` ``application/apply-patch+yaml``) under
one fixed field manager, with ``force=true``: the operator owns the fields it sets and takes them
back from anyone who changed them by hand (drift). Generated Secrets are the one exception: they
are created once (``POST``) and never re-applied, so their random values stay stable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import kubernetes
from kubernetes.client import ApiClient

from labelhive_operator import optional_apis
from labelhive_operator import settings

#: (apiVersion, kind) → plural, for every kind the operator reads or writes
RESOURCES: dict[tuple[str, str], str] = {
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("batch/v1", "Job"): "jobs",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("networking.k8s.io/v1", "Ingress"): "ingresses",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    (settings.API_VERSION, settings.KIND): settings.PLURAL,
    **optional_apis.RESOURCES,
}

#: kinds the operator lists to find its children (never Secrets: no list/watch on Secrets);
#: the optional kinds are listed only where discovery shows them (:meth:`Client.served`)
CHILD_KINDS: list[tuple[str, str]] = [
    k for k in RESOURCES if k[1] not in ("Secret", settings.KIND) and k not in optional_apis.ALL
]


class ApiError(Exception):
    """A non-2xx answer of the API server.

    :param status: the HTTP status.
    :param reason: the ``Status.reason`` (``NotFound``, ``AlreadyExists``, ...) if any.
    :param message: the ``Status.message``; never contains request bodies.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


def new_api_client() -> ApiClient:
    """Return an API client configured in-cluster, else from ``$KUBECONFIG`` (read now)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config()
        return ApiClient()
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=os.environ.get("KUBECONFIG") or None, client_configuration=config
    )
    return ApiClient(configuration=config)


def path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """Return the REST path of a namespaced collection or object."""
    plural = RESOURCES[(api_version, kind)]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    base = f"{root}/namespaces/{namespace}/{plural}"
    return f"{base}/{name}" if name else base


@dataclass
class Client:
    """A thin JSON client over :class:`kubernetes.client.ApiClient` (auth, TLS, proxies).

    :param api: the configured API client.
    :param writes: how many write requests this client sent (reported in logs and tests).
    """

    api: ApiClient
    writes: int = 0
    reads: int = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request and return the decoded JSON answer.

        :raise ApiError: on any non-2xx status.
        """
        if method == "GET":
            self.reads += 1
        else:
            self.writes += 1
        serialized = self.api.param_serialize(
            method,
            url,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(*serialized)
        raw = resp.read()
        data = json.loads(raw) if raw else None
        if not 200 <= resp.status < 300:
            data = data if isinstance(data, dict) else {}
            raise ApiError(resp.status, str(data.get("reason", "")), str(data.get("message", "")))
        return data

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Return one object, or ``None`` when it does not exist."""
        try:
            obj: dict[str, Any] = self.request("GET", path(api_version, kind, namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise
        return obj

    def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[Any]:
        """Return the objects of one kind in a namespace that match a label selector."""
        data = self.request(
            "GET", path(api_version, kind, namespace), query=[("labelSelector", selector)]
        )
        items: list[Any] = data.get("items") or []
        return items

    def served(self) -> frozenset[tuple[str, str]]:
        """Return the optional kinds (:mod:`.optional_apis`) the API server serves (discovery).

        One ``GET /apis/<group>/<version>`` per group version; a 404 means not installed.
        """
        found = set()
        for group_version in optional_apis.GROUP_VERSIONS:
            try:
                data = self.request("GET", f"/apis/{group_version}")
            except ApiError as e:
                if e.status == 404:
                    continue
                raise
            kinds = {r.get("kind") for r in (data or {}).get("resources") or []}
            found |= {k for k in optional_apis.ALL if k[0] == group_version and k[1] in kinds}
        return frozenset(found)

    def apply(
        self, obj: dict[str, Any], field_manager: str = settings.FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` with a field manager (the operator's own unless told).

        ``force=true``: the manager takes the fields it sets from anyone who changed them.
        """
        meta = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        out: dict[str, Any] = self.request(
            "PATCH",
            url,
            query=[("fieldManager", field_manager), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return out

    def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch one object (the operator's own record on its ``LabelingProject``)."""
        out: dict[str, Any] = self.request(
            "PATCH",
            path(api_version, kind, namespace, name),
            body=body,
            content_type="application/merge-patch+json",
        )
        return out

    def create(self, obj: dict[str, Any]) -> bool:
        """Create ``obj`` unless it exists.

        :return: ``True`` if created, ``False`` if an object of that name already existed.
        """
        meta = obj["metadata"]
        try:
            self.request(
                "POST",
                path(obj["apiVersion"], obj["kind"], meta["namespace"]),
                query=[("fieldManager", settings.FIELD_MANAGER)],
                body=obj,
            )
        except ApiError as e:
            if e.status == 409:
                return False
            raise
        return True

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete one object (background propagation); a missing object is fine."""
        try:
            self.request(
                "DELETE",
                path(api_version, kind, namespace, name),
                body={
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "propagationPolicy": "Background",
                },
            )
        except ApiError as e:
            if e.status != 404:
                raise


@dataclass
class RecordingClient(Client):
    """A :class:`Client` that keeps the manifests it applied under the operator's own field
    manager: what one reconcile wrote (the metrics count drift and migration Jobs from it).

    :param applied: the manifests, in the order they were applied.
    """

    applied: list[dict[str, Any]] = field(default_factory=list)

    def apply(
        self, obj: dict[str, Any], field_manager: str = settings.FIELD_MANAGER
    ) -> dict[str, Any]:
        """Apply ``obj`` (:meth:`Client.apply`) and keep it if the operator's manager did."""
        out = super().apply(obj, field_manager)
        if field_manager == settings.FIELD_MANAGER:
            self.applied.append(obj)
        return out
