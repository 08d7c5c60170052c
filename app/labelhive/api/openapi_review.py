"""The OpenAPI description of the review queue, decisions, provenance, the results browser and
reviewers (:mod:`labelhive.api.review`), added with :func:`~labelhive.api.openapi.add_paths`."""

from __future__ import annotations

from typing import Any

from labelhive.api.openapi import COMPONENTS
from labelhive.api.openapi import add_paths

_ERROR = {"$ref": "#/components/responses/Error"}
_PROJECT_ID = {"$ref": "#/components/parameters/ProjectId"}
_PAGE = [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/LastId"}]
_TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "description": "The item's (task's) id.",
    "schema": {"type": "integer", "minimum": 1},
}
_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "description": "The reviewer's user id.",
    "schema": {"type": "integer", "minimum": 1},
}
_STATES = ["none", "needs_review", "reviewed", "sent_back"]
# the API's timestamps (PYBOSSA's): ISO 8601 in UTC without a zone, not RFC 3339's date-time
_TIMESTAMP = {"type": ["string", "null"], "description": "ISO 8601, UTC, no time zone."}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_ITEM = {"$ref": "#/components/schemas/ConsensusItem"}

# the consensus item's review fields (labelhive.review), and "reviewed" among its methods
_item = COMPONENTS["schemas"]["ConsensusItem"]
if "reviewed" not in _item["properties"]["method"]["enum"]:
    _item["properties"]["method"]["enum"].append("reviewed")
_item["properties"].update(
    {
        "tie": {"type": "boolean", "description": "Two or more options share the most votes."},
        "review_state": {"type": "string", "enum": _STATES},
        "reviewed_by": {
            "type": ["integer", "null"],
            "description": "Who set the label (method reviewed) or sent the item back.",
        },
        "reviewed_at": _TIMESTAMP,
    }
)

COMPONENTS["schemas"]["Provenance"] = {
    "type": "object",
    "required": ["item_id", "consensus", "answers", "review"],
    "properties": {
        "item_id": {"type": "integer"},
        "task_id": {"type": "integer"},
        "image": {"type": ["string", "null"], "description": "A URL the browser may load."},
        "info": {"description": "The task's info."},
        "gold": {"type": "boolean"},
        "gold_answer": {"type": ["string", "null"]},
        "consensus": {"oneOf": [_ITEM, {"type": "null"}]},
        "answers": {
            "type": "array",
            "description": "Who answered what, in the order the answers arrived.",
            "items": {
                "type": "object",
                "properties": {
                    "user_id": {"type": ["integer", "null"]},
                    "user_name": {"type": ["string", "null"]},
                    "label": {"type": ["string", "null"]},
                    "finish_time": _TIMESTAMP,
                },
            },
        },
        "review": {
            "type": "object",
            "properties": {
                "state": {"type": "string", "enum": _STATES},
                "reasons": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["tie", "low_confidence", "gold_missed"]},
                },
                "reviewed_by": {"type": ["integer", "null"]},
                "reviewer_name": {"type": ["string", "null"]},
                "reviewed_at": _TIMESTAMP,
            },
        },
    },
}

_FILTERS = [
    {"name": "disagreement", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {
        "name": "confidence_below",
        "in": "query",
        "schema": {"type": "number", "minimum": 0, "maximum": 1},
    },
    {"name": "tie", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "gold", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {
        "name": "label",
        "in": "query",
        "description": "The final label.",
        "schema": {"type": "string"},
    },
    {
        "name": "annotator",
        "in": "query",
        "description": "Items this user answered.",
        "schema": {"type": "integer", "minimum": 0},
    },
    {"name": "state", "in": "query", "schema": {"type": "string", "enum": _STATES}},
]

add_paths(
    "review",
    "The review queue and reviewers' decisions (reviewers and managers), provenance, the "
    "per-item results browser and the reviewer role (managers).",
    {
        "/project/{project_id}/review": {
            "get": {
                "tags": ["review"],
                "operationId": "listReviewQueue",
                "summary": "Items that need review (ties, low confidence, missed gold), in "
                "item id order.",
                "parameters": [_PROJECT_ID, *_PAGE],
                "responses": {
                    "200": {
                        "description": "One page of the queue.",
                        "content": _json({"type": "array", "items": _ITEM}),
                    },
                    **_errors(401, 403, 404, 415),
                },
            }
        },
        "/project/{project_id}/review/{task_id}": {
            "post": {
                "tags": ["review"],
                "operationId": "decideReview",
                "summary": "Set an item's final label (method reviewed), or send it back for "
                "one more answer.",
                "description": "A reviewed label is kept by every later recomputation. Sending "
                "back raises the task's redundancy by one (a complete, non-gold task only).",
                "parameters": [_PROJECT_ID, _TASK_ID],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["label"],
                                    "additionalProperties": False,
                                    "properties": {"label": {"type": "string", "minLength": 1}},
                                },
                                {
                                    "type": "object",
                                    "required": ["send_back"],
                                    "additionalProperties": False,
                                    "properties": {"send_back": {"const": True}},
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "The item's provenance after the decision.",
                        "content": _json({"$ref": "#/components/schemas/Provenance"}),
                    },
                    **_errors(400, 401, 403, 404, 409, 415),
                },
            }
        },
        "/project/{project_id}/item/{task_id}": {
            "get": {
                "tags": ["review"],
                "operationId": "getItemProvenance",
                "summary": "An item's consensus, who answered what, and its review.",
                "parameters": [_PROJECT_ID, _TASK_ID],
                "responses": {
                    "200": {
                        "description": "The provenance.",
                        "content": _json({"$ref": "#/components/schemas/Provenance"}),
                    },
                    **_errors(401, 403, 404),
                },
            }
        },
        "/project/{project_id}/items": {
            "get": {
                "tags": ["review"],
                "operationId": "listItems",
                "summary": "The results browser: stored consensus items with their image, "
                "filtered, in item id order (keyset paging).",
                "parameters": [_PROJECT_ID, *_PAGE, *_FILTERS],
                "responses": {
                    "200": {
                        "description": "One page of items.",
                        "content": _json({"type": "array", "items": _ITEM}),
                    },
                    **_errors(400, 401, 403, 404, 415),
                },
            }
        },
        "/project/{project_id}/reviewers": {
            "get": {
                "tags": ["review"],
                "operationId": "listReviewers",
                "summary": "The project's reviewers.",
                "parameters": [_PROJECT_ID],
                "responses": {
                    "200": {
                        "description": "The reviewers.",
                        "content": _json(
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "user_id": {"type": "integer"},
                                        "name": {"type": "string"},
                                        "created": _TIMESTAMP,
                                    },
                                },
                            }
                        ),
                    },
                    **_errors(401, 403, 404),
                },
            },
            "post": {
                "tags": ["review"],
                "operationId": "grantReviewer",
                "summary": "Make a user (by name) a reviewer of the project; idempotent.",
                "parameters": [_PROJECT_ID],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string", "minLength": 1}},
                        }
                    ),
                },
                "responses": {
                    "201": {
                        "description": "The reviewer.",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "user_id": {"type": "integer"},
                                    "name": {"type": "string"},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 403, 404, 415),
                },
            },
        },
        "/project/{project_id}/reviewers/{user_id}": {
            "delete": {
                "tags": ["review"],
                "operationId": "revokeReviewer",
                "summary": "Take the reviewer role away (the decisions made stay).",
                "parameters": [_PROJECT_ID, _USER_ID],
                "responses": {"204": {"description": "Done."}, **_errors(401, 403, 404)},
            }
        },
    },
)
