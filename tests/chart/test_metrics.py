"""The operator's own metrics in the chart: the container port, its Service, the ServiceMonitor."""

from __future__ import annotations

from typing import Any

import pytest

from labelhive_operator import settings
from tests.chart.conftest import NAMESPACE
from tests.chart.conftest import Rendered
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import maximal_values
from tests.chart.conftest import render

MONITORING = ["monitoring.coreos.com/v1"]


def operator_container(objs: list[Rendered]) -> dict[str, Any]:
    (deployment,) = by_kind(objs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_the_service_reaches_the_port_the_operator_serves(
    default_objects: list[Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    (deployment,) = by_kind(default_objects, "Deployment")
    container = operator_container(default_objects)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # the operator binds the port the chart tells it (and the chart's default is the operator's)
    monkeypatch.setenv(
        "LABELHIVE_OPERATOR_METRICS_PORT", env_of(container)["LABELHIVE_OPERATOR_METRICS_PORT"]
    )
    assert settings.metrics_port() == ports["metrics"] == settings.METRICS_PORT
    assert ports["health"] != ports["metrics"]
    (service,) = by_kind(default_objects, "Service")
    assert service["metadata"]["name"] == "lh-operator-metrics"
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics" and port["port"] == ports["metrics"]
    # the selector picks the operator's Pods (the hook Job's share the labels, not the port)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_no_service_monitor_unless_asked_and_served() -> None:
    # asked for, but prometheus-operator's API is not served: nothing the API server would refuse
    asked = {"labelhive-operator": {"metrics": {"serviceMonitor": {"enabled": True}}}}
    assert by_kind(render(load(), asked), "ServiceMonitor") == []
    # served, but not asked for (the default)
    assert by_kind(render(load(), api_versions=MONITORING), "ServiceMonitor") == []


def test_the_service_monitor_scrapes_the_metrics_service() -> None:
    values = maximal_values()
    objs = render(load(), values, api_versions=MONITORING)
    (monitor,) = by_kind(objs, "ServiceMonitor")
    (service,) = by_kind(objs, "Service")
    wanted = values["labelhive-operator"]["metrics"]["serviceMonitor"]
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": wanted["interval"]}
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
    assert (
        service["spec"]["ports"][0]["port"]
        == 9200
        == values["labelhive-operator"]["metrics"]["port"]
    )
    labels = monitor["metadata"]["labels"]
    assert labels["release"] == "prometheus"
    assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_extra_labels_do_not_replace_the_standard_ones() -> None:
    extra = {"app.kubernetes.io/name": "mine", "team": "ml"}
    values = {
        "labelhive-operator": {"metrics": {"serviceMonitor": {"enabled": True, "labels": extra}}}
    }
    (monitor,) = by_kind(render(load(), values, api_versions=MONITORING), "ServiceMonitor")
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == "labelhive-operator"
    assert monitor["metadata"]["labels"]["team"] == "ml"


def test_metrics_off_leaves_out_the_port_the_service_and_the_monitor() -> None:
    values = {
        "labelhive-operator": {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}
    }
    objs = render(load(), values, api_versions=MONITORING)
    assert by_kind(objs, "Service") == [] and by_kind(objs, "ServiceMonitor") == []
    container = operator_container(objs)
    assert [p["name"] for p in container["ports"]] == ["health"]
    # port 0: the operator serves no metrics at all
    assert env_of(container)["LABELHIVE_OPERATOR_METRICS_PORT"] == "0"
