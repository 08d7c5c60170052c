"""Offline validation of other projects' custom resources against their vendored CRD schemas.

The schemas are vendored (see ``NOTICE`` and ``vendor.py``), not fetched at test time: the tests
run without network. ``jsonschema``'s Draft 7 validator reads the OpenAPI v3 subset the CRDs use
and ignores the ``x-kubernetes-*`` extensions; unknown fields are refused below the way the API
server prunes them, so a misspelled field fails.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent


@cache
def schema(api_version: str, kind_plural: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    return yaml.safe_load((HERE / f"{group}_{kind_plural}_{version}.yaml").read_text())


def _closed(node: Any) -> Any:
    """Return ``node`` with ``additionalProperties: false`` wherever fields are listed."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in node and "additionalProperties" not in node and not preserve:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def validate(obj: dict[str, Any], plural: str) -> None:
    """Validate ``obj`` against its CRD's schema; unknown fields are errors.

    :raise jsonschema.ValidationError: on the first problem.
    """
    closed = _closed(schema(obj["apiVersion"], plural))
    # metadata is the API server's ObjectMeta: the CRD schemas declare it a bare object
    jsonschema.Draft7Validator(closed).validate(obj)
