"""values.schema.json refuses invalid values, and stays in step with the `## @param` docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.chart.conftest import ROOT
from tests.chart.conftest import SUBCHART
from tests.chart.conftest import maximal_values
from tests.chart.conftest import render

DIGEST = "sha256:" + "ab" * 32

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("typo at the root", {"projekt": {"enabled": True}}, "projekt"),
    ("typo in the project", {"project": {"enabeld": True}}, "enabeld"),
    # null deletes a default key in Helm, so the required database is really missing
    ("project spec without database", {"project": {"spec": {"database": None}}}, "database"),
    (
        "project Secret name not a string",
        {"project": {"spec": {"database": {"secretRef": {"name": 5}}}}},
        "name",
    ),
    ("project name too long", {"project": {"name": "x" * 41}}, "name"),
    ("project name not a DNS label", {"project": {"name": "Birds_1"}}, "name"),
    ("operator typo", {"labelhive-operator": {"iamge": {}}}, "iamge"),
    ("operator enabled not a bool", {"labelhive-operator": {"enabled": "yes"}}, "enabled"),
    ("unknown RBAC scope", {"labelhive-operator": {"rbac": {"scope": "global"}}}, "scope"),
    ("bad digest", {"labelhive-operator": {"image": {"digest": "sha256:abc"}}}, "digest"),
    (
        "bad pull policy",
        {"labelhive-operator": {"image": {"pullPolicy": "Sometimes"}}},
        "pullPolicy",
    ),
    (
        "bad namespace",
        {"labelhive-operator": {"rbac": {"scope": "namespace"}, "watchNamespaces": ["Prod"]}},
        "watchNamespaces",
    ),
    (
        "bad quantity",
        {"labelhive-operator": {"resources": {"limits": {"memory": "lots"}}}},
        "memory",
    ),
    ("unknown resources key", {"labelhive-operator": {"resources": {"limit": {}}}}, "limit"),
    ("pull secret without name", {"labelhive-operator": {"imagePullSecrets": [{}]}}, "name"),
    (
        "timer too short",
        {"labelhive-operator": {"timerIntervalSeconds": 1}},
        "timerIntervalSeconds",
    ),
    (
        "metrics on the health port",
        {"labelhive-operator": {"metrics": {"port": 8080}}},
        "port",
    ),
    (
        "metrics interval without a unit",
        {"labelhive-operator": {"metrics": {"serviceMonitor": {"interval": "30"}}}},
        "interval",
    ),
    ("metrics typo", {"labelhive-operator": {"metrics": {"servicemonitor": {}}}}, "servicemonitor"),
]


@pytest.mark.parametrize(
    ("values", "needle"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_invalid_values_are_refused(
    chart: helm_python.Chart, values: dict[str, Any], needle: str
) -> None:
    with pytest.raises(helm_python.HelmError) as err:
        render(chart, values)
    assert needle in str(err.value)


def test_valid_values_pass_the_schema(chart: helm_python.Chart) -> None:
    chart.validate_schema(maximal_values())
    chart.validate_schema({"labelhive-operator": {"image": {"digest": DIGEST}}})


CROSS_FIELD: list[tuple[str, dict[str, Any], str]] = [
    (
        "tag and digest",
        {"labelhive-operator": {"image": {"tag": "0.1.0", "digest": DIGEST}}},
        "set image.tag or image.digest, not both",
    ),
    (
        "namespaces with cluster scope",
        {"labelhive-operator": {"watchNamespaces": ["a"]}},
        "watchNamespaces needs rbac.scope=namespace",
    ),
    (
        "project without a database Secret",
        {"project": {"enabled": True}},
        "project.spec.database.secretRef.name is required",
    ),
    (
        "release name too long for a project",
        {"project": {"enabled": True, "spec": {"database": {"secretRef": {"name": "db"}}}}},
        "longer than 40 characters",
    ),
]


@pytest.mark.parametrize(
    ("values", "message"), [c[1:] for c in CROSS_FIELD], ids=[c[0] for c in CROSS_FIELD]
)
def test_cross_field_rules_fail_the_render(
    chart: helm_python.Chart, values: dict[str, Any], message: str
) -> None:
    name = "r" * 41 if "too long" in message or "40 characters" in message else "lh"
    with pytest.raises(helm_python.HelmError) as err:
        chart.render(values, name=name, namespace="labelhive", is_install=True)
    assert message in str(err.value)


def params(values_yaml: Path) -> dict[str, str]:
    """Return ``{key path: description}`` of every ``## @param`` comment."""
    return dict(re.findall(r"^\s*## @param (\S+) (.*)$", values_yaml.read_text(), re.M))


def described(schema: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Return ``{key path: description}`` of every schema property that has a description."""
    out: dict[str, str] = {}
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        if "description" in sub:
            out[path] = sub["description"]
        out.update(described(sub, f"{path}."))
    return out


@pytest.mark.parametrize("chart_dir", [ROOT, SUBCHART], ids=["root", "labelhive-operator"])
def test_every_param_is_in_the_schema_with_the_same_words(chart_dir: Path) -> None:
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    documented = params(chart_dir / "values.yaml")
    in_schema = {k: v for k, v in described(schema).items() if k in documented}
    assert in_schema == documented
    # typos such as `iamge:` are refused, not ignored
    assert schema["additionalProperties"] is False
