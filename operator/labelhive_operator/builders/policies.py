"""PodDisruptionBudgets and ServiceAccounts."""

from __future__ import annotations

from typing import Any

from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

PDB_COMPONENTS = ("web", "worker", "redis", "sentinel")


def pdbs(project: Project) -> list[Manifest]:
    """Return ``maxUnavailable: 1`` PDBs for web, worker, Redis and Sentinel.

    ``maxUnavailable`` (not ``minAvailable``) keeps single-replica projects drainable;
    ``AlwaysAllow`` lets crash-looping Pods be evicted. ``spec.podDisruptionBudgets.enabled``
    turns them off.
    """
    if not project.spec.pod_disruption_budgets.enabled:
        return []
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": common.metadata(project, common.child_name(project, c), c),
            "spec": {
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": {"matchLabels": common.selector_labels(project, c)},
            },
        }
        for c in PDB_COMPONENTS
    ]


def service_accounts(project: Project) -> list[Manifest]:
    """Return the two ServiceAccounts: ``-app`` (S3 users, IRSA) and ``-internal`` (the rest).

    Only web and worker touch S3, so only their account carries the IRSA role annotation; the
    CR cannot name an arbitrary ServiceAccount (trust model, operator-bar.md §2.4).
    """
    app: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": common.metadata(project, common.child_name(project, "app"), "app"),
        "automountServiceAccountToken": False,
    }
    st = project.spec.storage
    if st is not None and st.role_arn:
        app["metadata"]["annotations"] = {"eks.amazonaws.com/role-arn": st.role_arn}
    internal = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": common.metadata(project, common.child_name(project, "internal"), "internal"),
        "automountServiceAccountToken": False,
    }
    return [app, internal]
