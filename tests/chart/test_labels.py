"""Standard app.kubernetes.io labels everywhere; selectors minimal and unchanged by any value."""

from __future__ import annotations

from typing import Any

import pytest

from labelhive_operator import settings
from tests.chart.conftest import RELEASE
from tests.chart.conftest import Rendered
from tests.chart.conftest import load
from tests.chart.conftest import maximal_values
from tests.chart.conftest import render

STANDARD = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
}
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


@pytest.mark.parametrize("which", ["default_objects", "maximal_objects"])
def test_every_object_has_the_standard_labels(request: pytest.FixtureRequest, which: str) -> None:
    objs: list[Rendered] = request.getfixturevalue(which)
    for r in objs:
        labels = r.obj["metadata"]["labels"]
        assert STANDARD <= labels.keys(), (r.kind, r.name)
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "labelhive"
        assert all(len(v) <= 63 for v in labels.values())


def selectors(objs: list[Rendered]) -> dict[tuple[str, str], dict[str, str]]:
    """Return the label selector of every workload, by (kind, name)."""
    return {
        (r.kind, r.name): r.obj["spec"]["selector"]["matchLabels"]
        for r in objs
        if r.kind in {"Deployment", "StatefulSet", "DaemonSet"}
    }


def test_selectors_use_only_name_and_instance(default_objects: list[Rendered]) -> None:
    sel = selectors(default_objects)
    assert sel == {
        ("Deployment", "lh-operator"): {
            "app.kubernetes.io/name": "labelhive-operator",
            "app.kubernetes.io/instance": RELEASE,
        }
    }
    for r in default_objects:
        if r.kind == "Deployment":
            pod_labels = r.obj["spec"]["template"]["metadata"]["labels"]
            assert sel[(r.kind, r.name)].items() <= pod_labels.items()


def test_operator_pods_carry_the_label_the_project_network_policies_allow(
    maximal_objects: list[Rendered],
) -> None:
    (deployment,) = [r.obj for r in maximal_objects if r.kind == "Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert settings.OPERATOR_POD_LABELS.items() <= pod_labels.items()
    assert pod_labels["example.com/team"] == "platform"  # podLabels, outside the selector


UPGRADES: list[dict[str, Any]] = [
    {},
    {"nameOverride": "other"},
    {"labelhive-operator": {"image": {"tag": "9.9.9"}, "podLabels": {"a": "b"}}},
    {"labelhive-operator": {"rbac": {"scope": "namespace"}}},
]


@pytest.mark.parametrize("values", UPGRADES)
def test_selectors_are_immutable_across_upgrades(
    default_objects: list[Rendered], values: dict[str, Any]
) -> None:
    # a selector that changes makes `helm upgrade` fail (Deployment selectors are immutable)
    upgraded = render(load(), values, is_upgrade=True)
    assert selectors(upgraded) == selectors(default_objects)


def test_maximal_values_keep_the_selector_too() -> None:
    values = maximal_values()
    values["labelhive-operator"].pop("fullnameOverride")
    sel = selectors(render(load(), values))
    assert list(sel.values()) == [
        {"app.kubernetes.io/name": "labelhive-operator", "app.kubernetes.io/instance": RELEASE}
    ]
    assert all(set(s) == SELECTOR_KEYS for s in sel.values())
