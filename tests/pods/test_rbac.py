"""The Pod tests' RBAC authorizer (tests/pods/rbac.py) on the chart's rendered RBAC: what the API
server would allow the operator's and the uninstall hook's ServiceAccounts. No Docker here.

Not covered: aggregated ClusterRoles and the built-in roles (see the module's docstring).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import load
from tests.chart.conftest import render
from tests.pods.rbac import attributes
from tests.pods.rbac import authorize

NS = "labelhive"
OPERATOR = f"system:serviceaccount:{NS}:lh-operator"
CLEANUP = f"system:serviceaccount:{NS}:lh-operator-cleanup"
PROJECTS = "/apis/labelhive.io/v1alpha1"


@pytest.fixture(scope="module")
def cluster_scope() -> list[dict[str, Any]]:
    return [r.obj for r in render(load())]


@pytest.fixture(scope="module")
def namespace_scope() -> list[dict[str, Any]]:
    values = {"labelhive-operator": {"rbac": {"scope": "namespace"}, "watchNamespaces": ["a"]}}
    return [r.obj for r in render(load(), values)]


def allowed(objs: list[dict[str, Any]], user: str, method: str, path: str, **query: str) -> bool:
    return authorize(user, attributes(method, path, query), objs, NS)[0]


def test_request_attributes_are_read_as_the_api_server_reads_them() -> None:
    a = attributes("GET", f"{PROJECTS}/namespaces/x/labelingprojects", {"watch": "true"})
    assert (a.verb, a.group, a.resource, a.namespace, a.name) == (
        "watch",
        "labelhive.io",
        "labelingprojects",
        "x",
        None,
    )
    a = attributes("PATCH", f"{PROJECTS}/namespaces/x/labelingprojects/p/status", {})
    assert (a.verb, a.resource, a.subresource, a.name) == (
        "patch",
        "labelingprojects",
        "status",
        "p",
    )
    a = attributes("DELETE", "/api/v1/namespaces/x/secrets", {})
    assert (a.verb, a.group, a.resource) == ("deletecollection", "", "secrets")
    assert attributes("GET", "/api/v1/namespaces", {}).verb == "list"
    assert attributes("GET", "/apis", {}).resource == ""


def test_the_chart_grants_the_operator_what_it_does_and_nothing_on_secrets_lists(
    cluster_scope: list[dict[str, Any]],
) -> None:
    objs = cluster_scope
    assert allowed(objs, OPERATOR, "GET", f"{PROJECTS}/labelingprojects", watch="1")
    assert allowed(objs, OPERATOR, "PATCH", f"{PROJECTS}/namespaces/x/labelingprojects/p/status")
    assert allowed(objs, OPERATOR, "PATCH", "/apis/apps/v1/namespaces/x/deployments/web")
    assert allowed(objs, OPERATOR, "GET", "/api/v1/namespaces/x/secrets/s")
    assert not allowed(objs, OPERATOR, "GET", "/api/v1/namespaces/x/secrets")
    assert not allowed(objs, OPERATOR, "GET", "/api/v1/namespaces/x/pods/p/exec")
    # the hook may delete projects, never change them; nobody else gets anything
    assert allowed(objs, CLEANUP, "DELETE", f"{PROJECTS}/namespaces/x/labelingprojects/p")
    assert not allowed(objs, CLEANUP, "PATCH", f"{PROJECTS}/namespaces/x/labelingprojects/p")
    stranger = f"system:serviceaccount:{NS}:default"
    assert not allowed(objs, stranger, "GET", f"{PROJECTS}/labelingprojects")
    assert allowed(objs, stranger, "GET", "/apis")  # discovery


def test_namespace_scope_grants_only_the_watched_namespace(
    namespace_scope: list[dict[str, Any]],
) -> None:
    objs = namespace_scope
    assert allowed(objs, OPERATOR, "GET", f"{PROJECTS}/namespaces/a/labelingprojects")
    assert not allowed(objs, OPERATOR, "GET", f"{PROJECTS}/namespaces/b/labelingprojects")
    assert not allowed(objs, OPERATOR, "GET", f"{PROJECTS}/labelingprojects")
    assert allowed(objs, CLEANUP, "DELETE", f"{PROJECTS}/namespaces/a/labelingprojects/p")
    assert not allowed(objs, CLEANUP, "DELETE", f"{PROJECTS}/namespaces/b/labelingprojects/p")
