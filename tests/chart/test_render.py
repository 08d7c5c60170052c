"""The chart renders with the real Helm engine, lints strictly, and every object is valid."""

from __future__ import annotations

from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.chart.conftest import CRD_FILE
from tests.chart.conftest import ROOT
from tests.chart.conftest import Rendered
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import maximal_values
from tests.chart.conftest import render

KUBE_VERSIONS = ["1.29.0", "1.33.0"]


def kinds(objs: list[Rendered]) -> list[tuple[str, str]]:
    return sorted((r.kind, r.name) for r in objs)


def test_default_values_install_the_operator_rbac_and_crd(default_objects: list[Rendered]) -> None:
    assert kinds(default_objects) == [
        ("ClusterRole", "lh-operator"),
        ("ClusterRole", "lh-operator-cleanup"),
        ("ClusterRole", "lh-operator-edit"),
        ("ClusterRole", "lh-operator-view"),
        ("ClusterRoleBinding", "lh-operator"),
        ("ClusterRoleBinding", "lh-operator-cleanup"),
        ("CustomResourceDefinition", "labelingprojects.labelhive.io"),
        ("Deployment", "lh-operator"),
        ("Job", "lh-operator-cleanup"),
        ("Service", "lh-operator-metrics"),
        ("ServiceAccount", "lh-operator"),
        ("ServiceAccount", "lh-operator-cleanup"),
    ]


def test_maximal_values_render_namespaced_rbac_and_a_project(
    maximal_objects: list[Rendered],
) -> None:
    assert kinds(maximal_objects) == [
        ("ClusterRole", "hive-operator-edit"),
        ("ClusterRole", "hive-operator-view"),
        ("CustomResourceDefinition", "labelingprojects.labelhive.io"),
        ("Deployment", "hive-operator"),
        ("Job", "hive-operator-cleanup"),
        ("LabelingProject", "birds"),
        ("Role", "hive-operator"),
        ("Role", "hive-operator"),
        ("Role", "hive-operator-cleanup"),
        ("Role", "hive-operator-cleanup"),
        ("RoleBinding", "hive-operator"),
        ("RoleBinding", "hive-operator"),
        ("RoleBinding", "hive-operator-cleanup"),
        ("RoleBinding", "hive-operator-cleanup"),
        ("Service", "hive-operator-metrics"),
        ("ServiceAccount", "hive-operator-cleanup"),
        ("ServiceAccount", "hive-operator-sa"),
    ]


def test_operator_and_crd_can_be_left_out(chart: helm_python.Chart) -> None:
    objs = render(chart, {"labelhive-operator": {"enabled": False}})
    assert objs == []
    objs = render(load(), {"labelhive-operator": {"crd": {"install": False}}})
    assert "CustomResourceDefinition" not in {r.kind for r in objs}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("which", ["default_objects", "maximal_objects"])
def test_every_builtin_object_is_valid_kubernetes(
    request: pytest.FixtureRequest, which: str, version: str
) -> None:
    objs: list[Rendered] = request.getfixturevalue(which)
    builtin = [r for r in objs if r.kind != "LabelingProject"]
    assert builtin
    for r in builtin:
        # strict: a misspelled or misplaced field is an error, not ignored
        kubernetes_validate.validate(r.obj, version, strict=True)


def test_strict_validation_catches_a_misplaced_field(default_objects: list[Rendered]) -> None:
    (deployment,) = by_kind(default_objects, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["replicas"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)
    del deployment["spec"]["template"]["spec"]["containers"][0]["replicas"]


def test_the_project_validates_against_the_crd_schema(maximal_objects: list[Rendered]) -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    validator = jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])
    (project,) = by_kind(maximal_objects, "LabelingProject")
    assert project["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
    validator.validate(project)
    # every spec field of the values file reaches the object
    assert project["spec"] == maximal_values()["project"]["spec"]
    bad = {**project, "spec": {**project["spec"], "deletionPolicy": "Destroy"}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)


def lint_messages(values: dict[str, Any] | None, kube_version: str) -> list[str]:
    report = helm_python.lint(
        ROOT, values, strict=True, with_subcharts=True, kube_version=f"v{kube_version}"
    )
    assert report["errors"] == []
    # severity 1 is "info" (e.g. "icon is recommended"); warnings (2) and errors (3) fail
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_helm_lint_strict_is_clean(version: str) -> None:
    assert lint_messages(None, version) == []
    assert lint_messages(maximal_values(), version) == []


def test_helm_lint_strict_reports_bad_values() -> None:
    # proves the lint runs the schema: a typo is an error, not silently ignored
    report = helm_python.lint(ROOT, {"projekt": {}}, strict=True, with_subcharts=True)
    found = report["errors"] + [m["error"] for m in report["messages"] if m["severity"] >= 2]
    assert any("projekt" in message for message in found), report
