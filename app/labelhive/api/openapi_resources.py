"""The OpenAPI description of PYBOSSA's resources, scheduling, exports and the document itself.

Added to :mod:`labelhive.api.openapi` with :func:`~labelhive.api.openapi.add_paths`; together
with the consensus paths there, every rule of the ``api`` blueprint is described (a test
enumerates the URL map against the document). Response schemas name the fields PYBOSSA's
clients read and allow more; errors on every operation are the shared envelope.
"""

from __future__ import annotations

from typing import Any

from labelhive.api.openapi import COMPONENTS
from labelhive.api.openapi import add_paths

_ERROR = {"$ref": "#/components/responses/Error"}
# every operation may answer these with the envelope: bad input (400, 415), authentication
# and authorization (401, 403), missing objects (404), conflicts (409), the rate limit (429)
_COMMON_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429)
_OID = {
    "name": "oid",
    "in": "path",
    "required": True,
    "description": "The object's id.",
    "schema": {"type": "integer", "minimum": 1},
}
_REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "description": "The project's id or short name.",
    "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}
_LIST_PARAMS: list[dict[str, Any]] = [
    {"$ref": "#/components/parameters/Limit"},
    {"$ref": "#/components/parameters/LastId"},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "desc", "in": "query", "schema": {"type": "boolean"}},
    {"name": "all", "in": "query", "schema": {"type": "integer", "enum": [0, 1]}},
]
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_LINKS = {
    "link": {"type": "string"},
    "links": {"type": "array", "items": {"type": "string"}},
}
_TIMESTAMP = {"type": ["string", "null"], "description": "ISO 8601, UTC, no time zone."}


def _obj(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": {**properties, **_LINKS}}


SCHEMAS: dict[str, Any] = {
    "Project": _obj(
        ["id", "name", "short_name", "owner_id", "info", "published", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "updated": _TIMESTAMP,
            "name": {"type": "string"},
            "short_name": {"type": "string"},
            "description": _NULLABLE_STR,
            "long_description": _NULLABLE_STR,
            "owner_id": {"type": "integer"},
            "owners_ids": {"type": "array", "items": {"type": "integer"}},
            "category_id": _NULLABLE_INT,
            "info": {"type": "object"},
            "published": {"type": "boolean"},
            "default_n_answers": {"type": "integer"},
            "lease_ttl": {"type": "integer"},
            "ordering": {"type": "string", "enum": ["depth_first", "breadth_first", "random"]},
            "gold_rate": {"type": ["number", "null"]},
            "use_task_presenter": {"type": ["boolean", "null"]},
            "stats": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    ),
    "ProjectIn": {
        "type": "object",
        "description": "Writable project fields (PUT accepts a GET's object back).",
        "properties": {
            "name": {"type": "string"},
            "short_name": {"type": "string"},
            "description": {"type": "string"},
            "long_description": {"type": "string"},
            "info": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "answers": {"type": "array", "items": {"type": "string"}},
                },
            },
            "published": {"type": "boolean"},
            "default_n_answers": {"type": "integer"},
            "lease_ttl": {"type": "integer"},
            "ordering": {"type": "string"},
            "gold_rate": {"type": "number"},
        },
    },
    "Task": _obj(
        ["id", "project_id", "state", "info", "n_answers", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "project_id": {"type": "integer"},
            "state": {"type": "string", "enum": ["ongoing", "completed"]},
            "quorum": {"type": ["integer", "null"]},
            "calibration": {"type": ["integer", "null"]},
            "priority_0": {"type": ["number", "null"]},
            "info": {},
            "n_answers": {"type": "integer"},
            "fav_user_ids": {"type": "array"},
            "gold_answer": {"description": "Managers only."},
            "image_url": {"type": ["string", "null"]},
        },
    ),
    "TaskIn": {
        "type": "object",
        "properties": {
            "project_id": {"type": "integer"},
            "info": {"type": "object"},
            "n_answers": {"type": "integer"},
            "priority_0": {"type": "number"},
            "gold_answer": {"type": ["string", "null"]},
        },
    },
    "Answer": _obj(
        ["id", "project_id", "task_id", "user_id", "info", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "finish_time": _TIMESTAMP,
            "project_id": {"type": "integer"},
            "task_id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "user_ip": {"type": "null"},
            "external_uid": _NULLABLE_STR,
            "info": {},
            "calibration": {"type": "null"},
            "media_url": {"type": "null"},
        },
    ),
    "AnswerIn": {
        "type": "object",
        "properties": {
            "project_id": {"type": "integer"},
            "task_id": {"type": "integer"},
            "info": {"description": "One of the project's answer options."},
        },
    },
    "Result": _obj(
        ["id", "project_id", "task_id", "task_run_ids", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "project_id": {"type": "integer"},
            "task_id": {"type": "integer"},
            "task_run_ids": {"type": "array", "items": {"type": "integer"}},
            "last_version": {"type": ["boolean", "null"]},
            "info": {},
        },
    ),
    "User": _obj(
        ["id", "name", "link", "links"],
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "locale": _NULLABLE_STR,
            "fullname": _NULLABLE_STR,
            "email_addr": _NULLABLE_STR,
            "created": _TIMESTAMP,
            "info": {"type": "object"},
        },
    ),
    "Category": _obj(
        ["id", "name", "short_name", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "name": {"type": "string"},
            "short_name": {"type": "string"},
            "description": _NULLABLE_STR,
            "info": {"type": "object"},
        },
    ),
    "HelpingMaterial": _obj(
        ["id", "project_id", "link", "links"],
        {
            "id": {"type": "integer"},
            "created": _TIMESTAMP,
            "project_id": {"type": "integer"},
            "info": {"type": "object"},
            "media_url": _NULLABLE_STR,
            "priority": {"type": ["number", "null"]},
        },
    ),
    "Any": {"type": "object", "description": "Any JSON object."},
}
# the user fields never returned, whoever asks (a test checks the server against this)
SCHEMAS["User"]["not"] = {
    "anyOf": [{"required": ["api_key"]}, {"required": ["admin"]}, {"required": ["passwd_hash"]}]
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    tag: str,
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": [tag],
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters or [],
        "responses": {**responses, **{str(code): _ERROR for code in _COMMON_ERRORS}},
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


_DELETED = {"204": {"description": "Deleted (an empty body)."}}


def _crud(
    tag: str, resource: str, schema: str, body: str, *, create: bool = True, update: bool = True
) -> dict[str, dict[str, Any]]:
    """The five PYBOSSA operations on ``/<resource>`` and ``/<resource>/{oid}``."""
    name = schema
    collection: dict[str, Any] = {
        "get": _op(
            tag,
            f"list{name}",
            f"List {resource} objects (filters: any column, info=k::v).",
            {"200": _json({"type": "array", "items": _ref(schema)}, "One page.")},
            parameters=_LIST_PARAMS,
        )
    }
    if create:
        collection["post"] = _op(
            tag,
            f"create{name}",
            f"Create a {resource}.",
            {"200": _json(_ref(schema), "The new object.")},
            body=body,
        )
    item: dict[str, Any] = {
        "get": _op(
            tag,
            f"get{name}",
            f"One {resource}.",
            {"200": _json(_ref(schema), "The object.")},
            parameters=[_OID],
        ),
        "delete": _op(tag, f"delete{name}", f"Delete a {resource}.", _DELETED, parameters=[_OID]),
    }
    if update:
        item["put"] = _op(
            tag,
            f"update{name}",
            f"Change a {resource}.",
            {"200": _json(_ref(schema), "The changed object.")},
            parameters=[_OID],
            body=body,
        )
    return {f"/{resource}": collection, f"/{resource}/{{oid}}": item}


def _register() -> None:
    COMPONENTS["schemas"].update(SCHEMAS)
    add_paths(
        "projects",
        "Projects (PYBOSSA's /api/project).",
        {
            **_crud("projects", "project", "Project", "ProjectIn"),
            "/project/{oid}/stats": {
                "get": _op(
                    "projects",
                    "projectStats",
                    "Counts of tasks, answers, leases and annotators.",
                    {
                        "200": _json(
                            {"type": "object", "additionalProperties": {"type": "integer"}},
                            "The counts.",
                        )
                    },
                    parameters=[_OID],
                )
            },
            "/project/{oid}/export/{filename}": {
                "get": _op(
                    "projects",
                    "exportProject",
                    "A streamed export: <tasks|answers|results>.<csv|json|jsonl>.",
                    {
                        "200": {
                            "description": "The file.",
                            "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/json": {"schema": {"type": "array"}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        }
                    },
                    parameters=[
                        _OID,
                        {
                            "name": "filename",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[^/]+$"},
                        },
                    ],
                )
            },
        },
    )
    add_paths("tasks", "Tasks.", _crud("tasks", "task", "Task", "TaskIn"))
    add_paths(
        "answers",
        "Answers (PYBOSSA's task runs).",
        _crud("answers", "taskrun", "Answer", "AnswerIn"),
    )
    add_paths("results", "Results.", _crud("results", "result", "Result", "Any"))
    users = _crud("users", "user", "User", "Any", create=False)
    del users["/user/{oid}"]["delete"]
    add_paths("users", "Users (never their API key).", users)
    add_paths("categories", "Categories.", _crud("categories", "category", "Category", "Any"))
    add_paths(
        "helping",
        "Helping materials (JSON or a multipart file upload).",
        _crud("helping", "helpingmaterial", "HelpingMaterial", "Any"),
    )
    add_paths(
        "scheduling",
        "Handing out work: claims (leases) and progress.",
        {
            "/project/{ref}/newtask": {
                "get": _op(
                    "scheduling",
                    "newTask",
                    "The task the caller holds, or a new claim; {} when none is left.",
                    {
                        "200": _json(
                            {
                                "oneOf": [
                                    _ref("Task"),
                                    {"type": "object", "maxProperties": 0},
                                    {"type": "array", "maxItems": 1, "items": _ref("Task")},
                                ]
                            },
                            "A task, {} or (with limit > 1) a list of at most one.",
                        )
                    },
                    parameters=[
                        _REF,
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                )
            },
            "/project/{ref}/userprogress": {
                "get": _op(
                    "scheduling",
                    "userProgress",
                    "The caller's answers and the project's tasks.",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["done", "total"],
                                "properties": {
                                    "done": {"type": "integer", "minimum": 0},
                                    "total": {"type": "integer", "minimum": 0},
                                },
                            },
                            "Progress.",
                        )
                    },
                    parameters=[_REF],
                )
            },
            "/task/{oid}/lease/renew": {
                "post": _op(
                    "scheduling",
                    "renewLease",
                    "Extend the caller's lease on a task.",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["task_id", "expires_at"],
                                "properties": {
                                    "task_id": {"type": "integer"},
                                    "expires_at": {"type": "string"},
                                },
                            },
                            "The new expiry.",
                        )
                    },
                    parameters=[_OID],
                )
            },
            "/task/{oid}/lease": {
                "delete": _op(
                    "scheduling",
                    "releaseLease",
                    "Release the caller's lease (skip=1 also skips the task).",
                    _DELETED,
                    parameters=[
                        _OID,
                        {"name": "skip", "in": "query", "schema": {"type": "boolean"}},
                    ],
                )
            },
        },
    )
    add_paths(
        "meta",
        "This document.",
        {
            "/openapi.json": {
                "get": {
                    "tags": ["meta"],
                    "operationId": "openapi",
                    "summary": "The OpenAPI document of the REST API.",
                    "security": [{}],
                    "responses": {
                        "200": _json({"type": "object", "required": ["openapi"]}, "This."),
                        "429": _ERROR,
                    },
                }
            }
        },
    )


_register()
