"""Two served versions, one schema: a LabelingProject written as v1alpha1 reads back as v1beta1.

No kube-apiserver runs here, and the emulator (tests/operator/emulator.py) keeps one object per
(resource, version) with no conversion between them, so it cannot say anything about two
versions. The stand-in is the API server's documented pipeline for ``conversion.strategy:
None``, applied with the CRD's own schemas: on write, defaulting and pruning with the request
version's schema; on read, defaulting with the storage version's schema, then only
``apiVersion`` rewritten to the requested version. It does not cover what only a real API
server shows: CEL rules and validation on the wire, ``status.storedVersions``, the scale and
status subresources per version, and ``kubectl get lp.v1beta1.labelhive.io`` printer columns
(the kind e2e test applies the CRD to a real API server).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from labelhive_operator import settings
from labelhive_operator import validate
from tests.operator.conftest import load_example

#: a status as the operator writes it (every kind of field the status schema declares)
STATUS = {
    "observedGeneration": 3,
    "url": "https://labels.example.com",
    "currentImage": "ghcr.io/labelhive/labelhive@sha256:" + "a" * 64,
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "AllComponentsAvailable",
            "message": "",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "observedGeneration": 3,
        }
    ],
    "workers": {"replicas": 2, "readyReplicas": 2, "readyOfDesired": "2/2", "selector": "a=b"},
    "migration": {"image": "x", "job": "demo-migrate-0123456789", "state": "Succeeded"},
}


def versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd["spec"]["versions"]}


def schema_of(crd: dict[str, Any], version: str) -> dict[str, Any]:
    schema: dict[str, Any] = versions(crd)[version]["schema"]["openAPIV3Schema"]
    return schema


def storage_version(crd: dict[str, Any]) -> str:
    (name,) = [v["name"] for v in crd["spec"]["versions"] if v["storage"]]
    return name


def prune(schema: dict[str, Any], value: Any, root: bool = False) -> Any:
    """Drop what a structural schema does not declare, as the API server prunes."""
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [prune(items, v) for v in value]
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    out = {}
    for key, sub in value.items():
        if root and key in ("apiVersion", "kind", "metadata"):
            out[key] = sub  # ObjectMeta and type meta are the API server's, never pruned
        elif props is not None and key in props:
            out[key] = prune(props[key], sub)
        elif isinstance(extra, dict):
            out[key] = prune(extra, sub)
        elif props is None and extra is None:
            out[key] = sub
    return out


def default(schema: dict[str, Any], value: Any) -> Any:
    """Apply the schema's ``default``s, as the API server does on write and on read."""
    if isinstance(value, list):
        return [default(schema.get("items") or {}, v) for v in value]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if key in out:
            out[key] = default(sub, out[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(out) - set(schema.get("properties") or {}):
            out[key] = default(extra, out[key])
    return out


def write(crd: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """Return what the API server stores for ``obj`` (written in its own apiVersion)."""
    version = obj["apiVersion"].split("/")[1]
    assert versions(crd)[version]["served"], f"{version} is not served"
    schema = schema_of(crd, version)
    jsonschema.Draft7Validator(schema).validate(obj)
    stored = prune(schema, default(schema, obj), root=True)
    # conversion None: the stored object is the same object in the storage version
    return {**stored, "apiVersion": f"{settings.GROUP}/{storage_version(crd)}"}


def read(crd: dict[str, Any], stored: dict[str, Any], version: str) -> dict[str, Any]:
    """Return ``stored`` as a client asking for ``version`` gets it (conversion None)."""
    assert versions(crd)[version]["served"], f"{version} is not served"
    obj = default(schema_of(crd, storage_version(crd)), stored)
    converted = {**obj, "apiVersion": f"{settings.GROUP}/{version}"}
    return prune(schema_of(crd, version), converted, root=True)


def objects() -> list[dict[str, Any]]:
    out = []
    for name in ("minimal", "full"):
        body = load_example(name)
        out.append(body)
        out.append({**copy.deepcopy(body), "status": copy.deepcopy(STATUS)})
    return out


def test_two_served_versions_one_storage_version_no_webhook(crd: dict[str, Any]) -> None:
    served = {name: (v["served"], v["storage"]) for name, v in versions(crd).items()}
    assert served == {"v1alpha1": (True, True), "v1beta1": (True, False)}
    # the operator watches the storage version: nothing is converted on its way to it
    assert storage_version(crd) == settings.VERSION
    assert crd["spec"]["conversion"] == {"strategy": "None"}


def test_the_versions_are_identical_but_for_their_names(crd: dict[str, Any]) -> None:
    # what makes conversion None lossless; a divergence needs a conversion webhook first
    alpha, beta = versions(crd)["v1alpha1"], versions(crd)["v1beta1"]
    for key in ("schema", "subresources", "additionalPrinterColumns"):
        assert alpha[key] == beta[key], key
    assert set(alpha) - {"storage"} == set(beta) - {"storage"}


@pytest.mark.parametrize("index", range(4), ids=["minimal", "minimal+status", "full", "full+st"])
def test_written_as_v1alpha1_reads_back_as_v1beta1_unchanged(
    crd: dict[str, Any], index: int
) -> None:
    obj = objects()[index]
    assert obj["apiVersion"] == "labelhive.io/v1alpha1"
    stored = write(crd, obj)
    as_alpha = read(crd, stored, "v1alpha1")
    as_beta = read(crd, stored, "v1beta1")
    assert as_beta["apiVersion"] == "labelhive.io/v1beta1"
    assert {**as_beta, "apiVersion": None} == {**as_alpha, "apiVersion": None}
    # nothing the client wrote was lost on the way (only defaults were added)
    for key in ("metadata", "spec", "status"):
        if key in obj:
            assert prune(schema_of(crd, "v1beta1"), obj, root=True)[key] == obj[key]
    assert default(schema_of(crd, "v1beta1"), obj)["spec"] == as_beta["spec"]
    # and the operator makes the same project of both
    assert validate.parse(_with_uid(as_beta)) == validate.parse(_with_uid(as_alpha))


def test_written_as_v1beta1_reaches_the_operator_as_v1alpha1_unchanged(
    crd: dict[str, Any],
) -> None:
    obj = {**load_example("full"), "apiVersion": "labelhive.io/v1beta1", "status": STATUS}
    seen = read(crd, write(crd, obj), settings.VERSION)
    assert seen == {**default(schema_of(crd, "v1beta1"), obj), "apiVersion": settings.API_VERSION}


def test_the_stand_in_notices_a_version_that_drops_a_field(crd: dict[str, Any]) -> None:
    # the round trip above is not vacuous: a v1beta1 without spec.paused loses it on read
    changed = json.loads(json.dumps(crd))  # the two versions are one object in the loaded YAML
    beta = versions(changed)["v1beta1"]
    del beta["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["paused"]
    obj = {**load_example("minimal")}
    obj["spec"] = {**obj["spec"], "paused": True}
    as_beta = read(changed, write(changed, obj), "v1beta1")
    assert "paused" not in as_beta["spec"]
    assert read(changed, write(changed, obj), "v1alpha1")["spec"]["paused"] is True


def _with_uid(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    return out
