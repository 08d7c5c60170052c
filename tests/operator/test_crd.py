"""The CRD file: examples validate against its own schema, and its defaults match the models."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from labelhive_operator.spec import ProjectSpec
from tests.operator.conftest import load_example


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Apply structural-schema ``default``s the way the API server does (objects only)."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    for key, sub in (schema.get("properties") or {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = apply_defaults(sub, value[key])
    return value


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_examples_validate_against_the_crd_schema(crd_schema: dict[str, Any], example: str) -> None:
    jsonschema.Draft7Validator(crd_schema).validate(load_example(example))


def test_schema_rejects_out_of_bounds_values(crd_schema: dict[str, Any]) -> None:
    body = load_example("minimal")
    body["spec"]["workers"] = {"replicas": -1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema).validate(body)
    body = load_example("minimal")
    body["spec"]["deletionPolicy"] = "Destroy"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema).validate(body)


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_model_defaults_equal_crd_defaults(crd_schema: dict[str, Any], example: str) -> None:
    spec = load_example(example)["spec"]
    defaulted = apply_defaults(crd_schema["properties"]["spec"], copy.deepcopy(spec))
    assert defaulted != spec  # defaults were applied
    assert ProjectSpec.model_validate(defaulted) == ProjectSpec.model_validate(spec)


def test_crd_shape(crd: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "labelingprojects.labelhive.io"
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["lp"] and names["categories"] == ["labelhive"]
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    assert version["name"] == "v1alpha1" and crd["spec"]["scope"] == "Namespaced"
    scale = version["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.workers.replicas",
        "statusReplicasPath": ".status.workers.replicas",
        "labelSelectorPath": ".status.workers.selector",
    }
    assert version["subresources"]["status"] == {}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["workers"]["properties"]["selector"]["type"] == "string"
    cols = [c["name"] for c in version["additionalPrinterColumns"]]
    assert cols == [
        "Ready",
        "Reason",
        "Web",
        "Workers",
        "Progress %",
        "Imported",
        "Import",
        "URL",
        "Age",
    ]
    rules = str(version["schema"])
    assert "self.sentinel.quorum <= self.sentinel.replicas" in rules
    assert "!(has(self.tag) && has(self.digest))" in rules
    assert "self == oldSelf" in rules
