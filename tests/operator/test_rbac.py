"""The operator's RBAC allows every request it makes: the emulator's request log vs the chart.

The real operator runs a project's life (install, migration, readiness, scaling, a deletion
policy switched, a new image whose migration fails, deletion) against the emulator, which
records each request of the operator (not of the test's own client) as the authorization
checks the API server would make (:func:`tests.operator.emulator.rbac_checks`). Every check
must be granted by the rules the chart renders, cluster-wide and namespaced. What the emulator
cannot show: requests that only a real cluster provokes (a conflict retried differently, GC).
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from tests.chart.conftest import ROOT
from tests.chart.conftest import render
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.emulator import RbacRequest
from tests.operator.emulator import rbac_checks
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import install
from tests.operator.test_operator import make_ready

DISCOVERY = ("/api", "/apis", "/version")


def _rules(values: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    objs = render(helm_python.Chart.load(ROOT), values)
    (role,) = [
        r.obj for r in objs if r.kind == kind and r.obj["metadata"]["name"].endswith("-operator")
    ]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def cluster_rules() -> list[dict[str, Any]]:
    return _rules(None, "ClusterRole")


def namespace_rules() -> list[dict[str, Any]]:
    values = {
        "labelhive-operator": {"rbac": {"scope": "namespace"}, "watchNamespaces": [NAMESPACE]}
    }
    return _rules(values, "Role")


def denied(rules: list[dict[str, Any]], checks: set[RbacRequest], namespaced: bool) -> list[str]:
    """Return the checks no rule grants (a Role grants nothing cluster-scoped)."""
    out = []
    for c in sorted(checks, key=str):
        res = f"{c.resource}/{c.subresource}" if c.subresource else c.resource
        granted = (c.namespace is not None or not namespaced) and any(
            c.group in r.get("apiGroups", [])
            and res in r.get("resources", [])
            and c.verb in r.get("verbs", [])
            for r in rules
        )
        if not granted:
            out.append(str(c))
    return out


@pytest.fixture(scope="module")
def rules() -> dict[str, list[dict[str, Any]]]:
    return {"cluster": cluster_rules(), "namespace": namespace_rules()}


def test_every_request_of_a_project_life_is_allowed(
    cluster: Cluster, rules: dict[str, list[dict[str, Any]]]
) -> None:
    install(cluster, deletionPolicy="Retain")
    make_ready(cluster)
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"replicas": 3}}})
    cluster.patch(f"{LP}/{NAME}", {"spec": {"deletionPolicy": "Delete"}})
    cluster.wait(
        "Secrets owned",
        lambda: cluster.objects("secrets")["demo-app-secrets"]["metadata"].get("ownerReferences"),
    )
    cluster.patch(f"{LP}/{NAME}", {"spec": {"image": {"tag": "1.1.0"}}})
    cluster.wait("new migration job", lambda: len(cluster.objects("jobs")) == 2)
    cluster.client.request("DELETE", f"{LP}/{NAME}")
    cluster.wait("CR gone", lambda: cluster.cr(NAME) is None)
    checks, paths = cluster.emu.rbac_log()
    # the log is the operator's: it watched, applied, patched status and posted Events
    for expected in (
        RbacRequest("watch", "labelhive.io", "labelingprojects", "", NAMESPACE),
        RbacRequest("patch", "labelhive.io", "labelingprojects", "status", NAMESPACE),
        RbacRequest("watch", "apps", "deployments", "", NAMESPACE),
        RbacRequest("patch", "", "secrets", "", NAMESPACE),
        RbacRequest("update", "labelhive.io", "labelingprojects", "finalizers", NAMESPACE),
        RbacRequest("create", "", "events", "", NAMESPACE),
    ):
        assert expected in checks
    assert denied(rules["cluster"], checks, namespaced=False) == []
    assert denied(rules["namespace"], checks, namespaced=True) == []
    # non-resource URLs: discovery only (the built-in system:discovery role allows them)
    assert all(p in DISCOVERY or p.startswith(("/api/v1", "/apis/")) for p in paths), paths


def test_the_comparison_finds_a_missing_rule(rules: dict[str, list[dict[str, Any]]]) -> None:
    # the owner-reference permission check that OpenShift-style admission makes
    (check,) = [
        c
        for c in rbac_checks(
            "PATCH",
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-web",
            {},
            "application/apply-patch+yaml",
            {
                "metadata": {
                    "ownerReferences": [
                        {
                            "apiVersion": "labelhive.io/v1alpha1",
                            "kind": "LabelingProject",
                            "blockOwnerDeletion": True,
                        }
                    ]
                }
            },
        )
        or []
        if c.subresource == "finalizers"
    ]
    assert denied(rules["cluster"], {check}, namespaced=False) == []
    without = [r for r in rules["cluster"] if "labelingprojects/finalizers" not in r["resources"]]
    assert denied(without, {check}, namespaced=False) == [str(check)]
    # a Role cannot grant what is cluster-scoped
    listing = RbacRequest("list", "", "namespaces", "", None)
    assert denied(rules["namespace"], {listing}, namespaced=True) == [str(listing)]


def test_requests_are_checked_as_the_api_server_checks_them() -> None:
    ns = NAMESPACE
    assert rbac_checks("GET", f"/api/v1/namespaces/{ns}/secrets/x", {}, "", None) == [
        RbacRequest("get", "", "secrets", "", ns)
    ]
    assert rbac_checks(
        "GET", f"/apis/apps/v1/namespaces/{ns}/deployments", {"watch": "true"}, "", None
    ) == [RbacRequest("watch", "apps", "deployments", "", ns)]
    assert rbac_checks("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/j", {}, "", None) == [
        RbacRequest("delete", "batch", "jobs", "", ns)
    ]
    assert rbac_checks("GET", "/api/v1/namespaces", {}, "", None) == [
        RbacRequest("list", "", "namespaces", "", None)
    ]
    assert rbac_checks("GET", "/apis/apps/v1", {}, "", None) is None
