"""The CRD the chart installs is the one file the operator and its tests use."""

from __future__ import annotations

from typing import Any

import helm_python
import yaml

from tests.chart.conftest import CRD_FILE
from tests.chart.conftest import ROOT
from tests.chart.conftest import Rendered
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import render
from tests.operator.conftest import CRD_PATH


def the_crd(objs: list[Rendered]) -> dict[str, Any]:
    (crd,) = by_kind(objs, "CustomResourceDefinition")
    return crd


def test_the_operator_tests_read_the_same_file() -> None:
    assert CRD_PATH == CRD_FILE
    assert CRD_FILE.is_file()


def test_rendered_crd_is_the_file_plus_standard_labels(default_objects: list[Rendered]) -> None:
    source = yaml.safe_load(CRD_FILE.read_text())
    rendered = the_crd(default_objects)
    assert rendered["apiVersion"] == source["apiVersion"]
    assert rendered["kind"] == source["kind"]
    assert rendered["metadata"]["name"] == source["metadata"]["name"]
    assert rendered["metadata"]["annotations"] == source["metadata"]["annotations"]
    # the file's labels are kept, the chart only adds its standard ones
    assert source["metadata"]["labels"].items() <= rendered["metadata"]["labels"].items()
    # the spec is the file's, in meaning and in bytes
    assert rendered["spec"] == source["spec"]
    text = CRD_FILE.read_text()
    spec_text = text[text.index("\nspec:") + 1 :].rstrip("\n")
    (manifest,) = [
        t
        for name, t in helm_python.Chart.load(ROOT)
        .render(None, name="lh", namespace="labelhive", is_install=True)
        .items()
        if name.endswith("templates/crd.yaml")
    ]
    assert spec_text in manifest


def test_crd_is_kept_on_uninstall_and_upgraded_by_helm(default_objects: list[Rendered]) -> None:
    crd = the_crd(default_objects)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # a template (upgraded by `helm upgrade`), not a hook (hooks are not upgraded either)
    assert "helm.sh/hook" not in crd["metadata"]["annotations"]


def test_no_chart_has_a_crds_folder(chart: helm_python.Chart) -> None:
    # Helm would install a crds/ copy first and then refuse the template's (ownership conflict)
    assert chart.crds == []
    assert not list(ROOT.glob("crds")) and not list((ROOT / "charts").glob("*/crds"))


def test_the_project_is_a_post_install_hook_then_an_ordinary_object() -> None:
    values = {"project": {"enabled": True, "spec": {"database": {"secretRef": {"name": "db"}}}}}
    (installed,) = by_kind(render(load(), values, is_install=True), "LabelingProject")
    annotations = installed["metadata"]["annotations"]
    # the CRD comes with the same release: Helm can map the kind only after creating it
    assert annotations["helm.sh/hook"] == "post-install"
    assert "helm.sh/hook-delete-policy" not in annotations  # deleting it deletes the project
    # ownership metadata, so that the next upgrade adopts it
    assert annotations["meta.helm.sh/release-name"] == "lh"
    assert annotations["meta.helm.sh/release-namespace"] == "labelhive"
    assert installed["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    (upgraded,) = by_kind(render(load(), values, is_upgrade=True), "LabelingProject")
    assert "annotations" not in upgraded["metadata"]
    assert upgraded["spec"] == installed["spec"]
