"""``/api/openapi.json`` describes every route of the REST API, and is a valid document.

The URL map is the truth: a new API route without an OpenAPI description fails here, so the
fuzzing in ``test_api_fuzz.py`` (which follows the document) cannot miss it.
"""

from __future__ import annotations

import re

from flask import Flask
from openapi_spec_validator import validate

# werkzeug's catch-all that answers unknown /api paths with the JSON envelope
UNDOCUMENTED = {"api.unknown_route"}
_PARAM = re.compile(r"<(?:[^:<>]+:)?[^<>]+>|\{[^{}]+\}")


def _template(path: str) -> str:
    # parameter names may differ (<int:oid> vs {project_id}); their places must not
    return _PARAM.sub("{}", path)


def api_rules(app: Flask) -> set[tuple[str, str]]:
    rules = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in UNDOCUMENTED:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            rules.add((_template(rule.rule[len("/api") :]), method.lower()))
    return rules


def test_every_api_route_is_documented(client) -> None:  # noqa: ANN001
    document = client.get("/api/openapi.json").get_json()
    documented = {
        (_template(path), method) for path, item in document["paths"].items() for method in item
    }
    rules = api_rules(client.application)
    assert len(rules) > 40  # the enumeration itself works
    missing = sorted(rules - documented)
    assert not missing, f"API routes missing from /api/openapi.json: {missing}"
    # and nothing is documented that the server does not serve
    assert not sorted(documented - rules)


def test_document_is_valid_openapi(client) -> None:  # noqa: ANN001
    document = client.get("/api/openapi.json").get_json()
    validate(document)
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))
