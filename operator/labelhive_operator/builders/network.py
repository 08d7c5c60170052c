"""NetworkPolicies: default deny, Redis/Sentinel only from the project's own Pods.

RQ pickles jobs, so whoever reaches Redis can run code in the workers: auth is not enough on its
own, the network must also refuse every Pod that is not part of this project.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.builders.web import s3_upstream
from labelhive_operator.spec import NetworkPolicy
from labelhive_operator.spec import Project

#: components that may talk to Redis and Sentinel
REDIS_CLIENTS = ["web", "worker", "scheduler", "migration", "redis", "sentinel"]
APP_COMPONENTS = ["web", "worker", "scheduler", "migration"]


def _project_pods(project: Project, components: list[str] | None = None) -> dict[str, Any]:
    sel: dict[str, Any] = {
        "matchLabels": {
            settings.LABEL_NAME: settings.APP_NAME,
            settings.LABEL_INSTANCE: project.name,
        }
    }
    if components:
        sel["matchExpressions"] = [
            {"key": settings.LABEL_COMPONENT, "operator": "In", "values": components}
        ]
    return sel


def _ingress_peers(np: NetworkPolicy) -> list[dict[str, Any]]:
    """Return who may reach the web port besides the operator: the ingress controller.

    Namespace and Pod labels in one peer are ANDed (those Pods in those namespaces); CIDRs are for
    load balancers that connect from outside any Pod. With none of them set, the controller's
    location is unknown and Pods of every namespace may connect (still only on :8080).
    """
    peers: list[dict[str, Any]] = []
    if np.ingress_namespace_labels or np.ingress_pod_labels:
        peer: dict[str, Any] = {
            "namespaceSelector": {"matchLabels": dict(np.ingress_namespace_labels)}
        }
        if np.ingress_pod_labels:
            peer["podSelector"] = {"matchLabels": dict(np.ingress_pod_labels)}
        peers.append(peer)
    peers += [{"ipBlock": {"cidr": cidr}} for cidr in np.ingress_cidrs]
    return peers or [{"namespaceSelector": {}}]


def _policy(project: Project, suffix: str, spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": common.metadata(project, common.child_name(project, suffix), "network"),
        "spec": spec,
    }


def policies(project: Project) -> list[Manifest]:
    """Return the project's NetworkPolicies (none when ``spec.networkPolicy.enabled`` is false)."""
    np = project.spec.network_policy
    if not np.enabled:
        return []
    spec = project.spec
    web_from: list[dict[str, Any]] = [
        # the operator's own Pods sync spec.labeling through the app's API
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": dict(settings.OPERATOR_POD_LABELS)},
        },
        *_ingress_peers(np),
    ]
    egress_ports = [{"protocol": "TCP", "port": spec.database.port}]
    upstream = s3_upstream(project)
    if upstream is not None:
        egress_ports.append({"protocol": "TCP", "port": upstream[1]})
    egress_app: dict[str, Any] = {"ports": egress_ports}
    if np.egress_cidrs:
        # the database and the S3 endpoint live outside the cluster: their addresses, if known
        egress_app["to"] = [{"ipBlock": {"cidr": cidr}} for cidr in np.egress_cidrs]
    return [
        _policy(
            project,
            "default-deny",
            {"podSelector": _project_pods(project), "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            project,
            "redis",
            {
                "podSelector": _project_pods(project, ["redis", "sentinel"]),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": _project_pods(project, REDIS_CLIENTS)}],
                        "ports": [
                            {"protocol": "TCP", "port": settings.REDIS_PORT},
                            {"protocol": "TCP", "port": settings.SENTINEL_PORT},
                        ],
                    }
                ],
            },
        ),
        _policy(
            project,
            "web",
            {
                "podSelector": _project_pods(project, ["web"]),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": web_from,
                        "ports": [{"protocol": "TCP", "port": settings.HAPROXY_PORT}],
                    }
                ],
            },
        ),
        _policy(
            project,
            "egress-internal",
            {
                "podSelector": _project_pods(project),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ]
                    },
                    {"to": [{"podSelector": _project_pods(project)}]},
                ],
            },
        ),
        _policy(
            project,
            "egress-app",
            {
                "podSelector": _project_pods(project, APP_COMPONENTS),
                "policyTypes": ["Egress"],
                "egress": [egress_app],
            },
        ),
    ]
