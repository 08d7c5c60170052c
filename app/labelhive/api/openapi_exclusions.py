"""The OpenAPI description of annotator exclusions (:mod:`labelhive.api.exclusions`), added with
:func:`~labelhive.api.openapi.add_paths`."""

from __future__ import annotations

from typing import Any

from labelhive.api.openapi import COMPONENTS
from labelhive.api.openapi import add_paths

_ERROR = {"$ref": "#/components/responses/Error"}
_PROJECT_ID = {"$ref": "#/components/parameters/ProjectId"}
_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "description": "The excluded annotator's user id.",
    "schema": {"type": "integer", "minimum": 1},
}
_EXCLUSION = {"$ref": "#/components/schemas/AnnotatorExclusion"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


COMPONENTS["schemas"]["AnnotatorExclusion"] = {
    "type": "object",
    "required": ["user_id", "name", "excluded_by", "excluded_at"],
    "properties": {
        "user_id": {"type": "integer"},
        "name": {"type": "string"},
        "excluded_by": {"type": ["integer", "null"], "description": "Who excluded them."},
        "excluded_by_name": {"type": ["string", "null"]},
        "excluded_at": {"type": "string", "description": "ISO 8601, UTC, no time zone."},
        "job_id": {
            "type": "string",
            "description": "The consensus recomputation asked for (a new exclusion only).",
        },
    },
}

add_paths(
    "exclusions",
    "Annotators whose answers are left out of consensus (spammers); their answers stay "
    "stored, and including them again counts them (managers only).",
    {
        "/project/{project_id}/exclusions": {
            "get": {
                "tags": ["exclusions"],
                "operationId": "listExclusions",
                "summary": "The project's excluded annotators: who, by whom, when.",
                "parameters": [_PROJECT_ID],
                "responses": {
                    "200": {
                        "description": "The exclusions, oldest first.",
                        "content": _json({"type": "array", "items": _EXCLUSION}),
                    },
                    **_errors(401, 403, 404),
                },
            },
            "post": {
                "tags": ["exclusions"],
                "operationId": "excludeAnnotator",
                "summary": "Leave an annotator's answers out of consensus and recompute it.",
                "description": "Idempotent: an annotator already excluded gives 200. A user "
                "with no answers in the project is refused (400).",
                "parameters": [_PROJECT_ID],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["user_id"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "user_id": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "maximum": 2**31 - 1,
                                        }
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {"name": {"type": "string", "minLength": 1}},
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "Excluded.", "content": _json(_EXCLUSION)},
                    "200": {"description": "Already excluded.", "content": _json(_EXCLUSION)},
                    **_errors(400, 401, 403, 404, 415),
                },
            },
        },
        "/project/{project_id}/exclusions/{user_id}": {
            "delete": {
                "tags": ["exclusions"],
                "operationId": "includeAnnotator",
                "summary": "Count the annotator's answers in consensus again, and recompute it.",
                "parameters": [_PROJECT_ID, _USER_ID],
                "responses": {"204": {"description": "Done."}, **_errors(401, 403, 404)},
            }
        },
    },
)
