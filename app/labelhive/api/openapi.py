"""``GET /api/openapi.json``: the OpenAPI 3.1 description of the REST API.

The document is built from plain dicts: :data:`COMPONENTS` holds what every endpoint shares
(the error envelope, the API-key security schemes, paging parameters), and each group of
endpoints adds its paths with :func:`add_paths`. Other resources extend it the same way; a test
validates the whole document with ``openapi-spec-validator``.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from labelhive.api.blueprint import bp
from labelhive.api.query import MAX_LIMIT

OPENAPI_VERSION = "3.1.0"

_ERROR = {"$ref": "#/components/responses/Error"}
_PROJECT_ID = {"$ref": "#/components/parameters/ProjectId"}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "apiKeyQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "api_key",
            "description": "The user's API key as a query parameter (PYBOSSA clients).",
        },
        "apiKeyHeader": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "The user's API key in the Authorization header (raw or Bearer).",
        },
    },
    "parameters": {
        "ProjectId": {
            "name": "project_id",
            "in": "path",
            "required": True,
            "description": "The project's id.",
            "schema": {"type": "integer", "minimum": 1},
        },
        "Limit": {
            "name": "limit",
            "in": "query",
            "description": f"Page size (at most {MAX_LIMIT}).",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
        },
        "LastId": {
            "name": "last_id",
            "in": "query",
            "description": "Keyset paging: the last id of the previous page.",
            "schema": {"type": "integer", "minimum": 0},
        },
    },
    "schemas": {
        "Error": {
            "type": "object",
            "description": "PYBOSSA's error envelope, used for every error under /api.",
            "required": [
                "status",
                "status_code",
                "target",
                "action",
                "exception_cls",
                "exception_msg",
            ],
            "properties": {
                "status": {"type": "string", "const": "failed"},
                "status_code": {"type": "integer"},
                "target": {"type": "string", "description": "The resource the path names."},
                "action": {"type": "string", "description": "The HTTP method."},
                "exception_cls": {"type": "string", "examples": ["NotFound", "Forbidden"]},
                "exception_msg": {"type": "string"},
            },
        },
        "Job": {
            "type": "object",
            "required": ["id", "kind", "status"],
            "properties": {
                "id": {"type": "string"},
                "kind": {"type": "string"},
                "project_id": {"type": ["integer", "null"]},
                "status": {"type": "string", "enum": ["queued", "running", "finished", "failed"]},
                "attempts": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many times a worker started the job.",
                },
                "runs": {
                    "type": "array",
                    "description": (
                        "Why the job was asked for, each request merged into it, and each time"
                        " the scheduler enqueued it again (a lost job), oldest first."
                    ),
                    "items": {
                        "type": "object",
                        "required": ["at", "reason"],
                        "properties": {
                            "at": {"type": "string", "format": "date-time"},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "follow_up": {
                    "type": ["string", "null"],
                    "description": (
                        "Asked for again while it ran: the reason for the one run that follows"
                        " it (a consensus recomputation runs once per project at a time)."
                    ),
                },
                "done": {"type": ["integer", "null"]},
                "total": {"type": ["integer", "null"]},
                "result": {"type": ["object", "null"]},
                "error": {"type": ["string", "null"]},
                "created": {"type": ["string", "null"], "format": "date-time"},
                "updated": {"type": ["string", "null"], "format": "date-time"},
                "finished": {"type": ["string", "null"], "format": "date-time"},
                "download": {
                    "type": ["string", "null"],
                    "description": "A finished export's file (GET it with the same key).",
                },
            },
        },
        "Counts": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
            "description": "A count per answer option.",
        },
        "Probabilities": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
            "description": "A probability per answer option.",
        },
        "ConsensusItem": {
            "type": "object",
            "required": ["item_id", "label", "confidence", "method", "votes", "n_answers"],
            "properties": {
                "item_id": {"type": "integer", "description": "The task's id."},
                "task_id": {"type": "integer"},
                "label": {"type": ["string", "null"]},
                "confidence": {
                    "type": "number",
                    "description": "Dawid-Skene's posterior of the label, the majority's "
                    "share of the answers for majority vote, the label's share of the "
                    "weights for the gold-weighted vote, 1 for gold items.",
                },
                "method": {
                    "type": "string",
                    "enum": ["dawid_skene", "majority_vote", "gold_weighted", "gold"],
                },
                "votes": {"$ref": "#/components/schemas/Counts"},
                "n_answers": {"type": "integer"},
                "agreement": {"type": "number"},
                "mv_label": {"type": ["string", "null"]},
                "posterior": {"$ref": "#/components/schemas/Probabilities"},
                "gold": {"type": "boolean"},
                "computed_at": {"type": "string", "format": "date-time"},
            },
        },
        "Annotator": {
            "type": "object",
            "required": ["user_id", "name", "n_answers"],
            "properties": {
                "user_id": {"type": "integer"},
                "name": {"type": "string"},
                "n_answers": {"type": "integer"},
                "gold_seen": {"type": "integer"},
                "gold_correct": {"type": "integer"},
                "gold_accuracy": {"type": ["number", "null"]},
                "agreement_with_consensus": {"type": ["number", "null"]},
                "confusion": {
                    "type": "object",
                    "description": "Dawid-Skene's confusion matrix: confusion[true][answered].",
                    "additionalProperties": {"$ref": "#/components/schemas/Probabilities"},
                },
                "agreement_by_day": {"$ref": "#/components/schemas/AgreementByDay"},
            },
        },
        "AgreementByDay": {
            "type": "array",
            "description": "Agreement with the consensus per UTC day, oldest first, over the "
            "project's last 30 days with answers (only the days this annotator answered; gold "
            "items left out).",
            "items": {
                "type": "object",
                "required": ["day", "answers", "agreeing"],
                "properties": {
                    "day": {"type": "string", "format": "date"},
                    "answers": {"type": "integer", "description": "Compared with consensus."},
                    "agreeing": {"type": "integer"},
                },
            },
        },
        "ExcludedAnnotator": {
            "type": "object",
            "description": "An annotator whose answers were left out of this consensus, "
            "compared with it.",
            "required": ["user_id", "name", "n_answers", "agreement_by_day"],
            "properties": {
                "user_id": {"type": "integer"},
                "name": {"type": ["string", "null"], "description": "Null: a deleted user."},
                "n_answers": {"type": "integer"},
                "n_compared": {"type": "integer"},
                "agreement_with_consensus": {"type": ["number", "null"]},
                "agreement_by_day": {"$ref": "#/components/schemas/AgreementByDay"},
            },
        },
        "ConsensusSummary": {
            "type": ["object", "null"],
            "description": "The last recomputation (null before the first).",
            "properties": {
                "method": {"type": "string"},
                "n_items": {"type": "integer"},
                "n_answers": {"type": "integer"},
                "computed_at": {"type": "string", "format": "date-time"},
                "seconds": {"type": "number"},
                "stale": {"type": "boolean", "description": "Answers arrived since."},
                "labels": {"type": "array", "items": {"type": "string"}},
                "class_counts": {"$ref": "#/components/schemas/Counts"},
                "agreement": {
                    "type": "object",
                    "properties": {
                        "alpha": {"type": ["number", "null"]},
                        "fleiss_kappa": {"type": ["number", "null"]},
                        "fleiss_items": {"type": "integer"},
                        "fleiss_raters": {"type": "integer"},
                        "per_class": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "label": {"type": "string"},
                                    "count": {"type": "integer"},
                                    "fleiss_kappa": {"type": ["number", "null"]},
                                    "alpha": {"type": ["number", "null"]},
                                },
                            },
                        },
                    },
                },
                "confusion": {
                    "type": "object",
                    "description": "Answers per (consensus label, answered label).",
                    "additionalProperties": {"$ref": "#/components/schemas/Counts"},
                },
                "used_gold": {"type": "boolean"},
            },
        },
    },
    "responses": {
        "Error": {
            "description": "An error, in PYBOSSA's envelope.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    },
}

_PATHS: dict[str, dict[str, Any]] = {}
_TAGS: dict[str, str] = {}


def add_paths(tag: str, description: str, paths: dict[str, dict[str, Any]]) -> None:
    """Add a group of endpoints (OpenAPI path items, paths relative to ``/api``)."""
    _TAGS[tag] = description
    for path, item in paths.items():
        _PATHS.setdefault(path, {}).update(item)


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


add_paths(
    "consensus",
    "Consensus labels, annotator quality and the labeled dataset (managers only).",
    {
        "/project/{project_id}/consensus": {
            "get": {
                "tags": ["consensus"],
                "operationId": "listConsensus",
                "summary": "The stored consensus label of each item, in item id order.",
                "parameters": [
                    _PROJECT_ID,
                    {"$ref": "#/components/parameters/Limit"},
                    {"$ref": "#/components/parameters/LastId"},
                ],
                "responses": {
                    "200": {
                        "description": "One page of items.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/ConsensusItem"},
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 404, 415),
                },
            },
            "post": {
                "tags": ["consensus"],
                "operationId": "recomputeConsensus",
                "summary": "Start recomputing the project's consensus in the background.",
                "parameters": [_PROJECT_ID],
                "responses": {
                    "202": {
                        "description": "The job (an unfinished one is returned if running).",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                        },
                    },
                    **_errors(401, 403, 404),
                },
            },
        },
        "/project/{project_id}/annotators": {
            "get": {
                "tags": ["consensus"],
                "operationId": "listAnnotators",
                "summary": "Quality per annotator, and the project's agreement figures.",
                "parameters": [_PROJECT_ID],
                "responses": {
                    "200": {
                        "description": "Annotators, most answers first.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["project_id", "consensus", "annotators"],
                                    "properties": {
                                        "project_id": {"type": "integer"},
                                        "consensus": {
                                            "$ref": "#/components/schemas/ConsensusSummary"
                                        },
                                        "annotators": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Annotator"},
                                        },
                                        "excluded_annotators": {
                                            "type": "array",
                                            "items": {
                                                "$ref": "#/components/schemas/ExcludedAnnotator"
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 404),
                },
            },
        },
        "/project/{project_id}/dataset.{format}": {
            "get": {
                "tags": ["consensus"],
                "operationId": "downloadDataset",
                "summary": "The labeled dataset: one row per item, streamed.",
                "description": "Columns: item_id, image, label, confidence, method, n_answers, "
                "agreement, gold, gold_answer, split, and per option votes_<option> and "
                "p_<option> (CSV, Parquet) or votes/posterior objects (JSON Lines).",
                "parameters": [
                    _PROJECT_ID,
                    {
                        "name": "format",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["csv", "jsonl", "parquet"]},
                    },
                    {
                        "name": "validation",
                        "in": "query",
                        "description": "Share of items in the validation split.",
                        "schema": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The dataset file.",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "application/vnd.apache.parquet": {
                                "schema": {
                                    "type": "string",
                                    "contentMediaType": "application/vnd.apache.parquet",
                                }
                            },
                        },
                    },
                    **_errors(401, 403, 404, 415),
                },
            },
        },
        "/project/{project_id}/dataset/imagefolder": {
            "post": {
                "tags": ["consensus"],
                "operationId": "copyImageFolder",
                "summary": "Copy the labeled S3 images into an ImageFolder tree, with a manifest.",
                "description": "Server-side copies (CopyObject) of each labeled item whose image "
                "is an s3:// object, and <prefix>/manifest.jsonl (item_id, source, key, label, "
                "confidence, method, split). Re-running moves relabeled items. The job's result "
                "counts copied, unlabeled, not_s3, refused, missing and removed objects.",
                "parameters": [_PROJECT_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["destination"],
                                "additionalProperties": False,
                                "properties": {
                                    "destination": {
                                        "type": "string",
                                        "description": "s3://bucket/prefix/, or a prefix in "
                                        "the configured S3_BUCKET.",
                                    },
                                    "validation": {
                                        "type": "number",
                                        "minimum": 0,
                                        "maximum": 1,
                                        "default": 0.2,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "The job (a queued or running copy to the same "
                        "destination is returned).",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                        },
                    },
                    **_errors(400, 401, 403, 404, 415),
                },
            },
        },
    },
)


_JOB = {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's id (returned when it was started).",
    "schema": {"type": "string", "maxLength": 96},
}
_S3_PREFIX = {
    "type": "object",
    "required": ["bucket"],
    "properties": {
        "bucket": {"type": "string"},
        "prefix": {"type": "string", "default": ""},
        "extensions": {
            "description": "Keep keys ending with these (comma-separated or a list); "
            "empty for every object.",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
    },
}

add_paths(
    "jobs",
    "Background imports and exports: start them, follow their progress, download the files "
    "(managers only).",
    {
        "/job/{job_id}": {
            "get": {
                "tags": ["jobs"],
                "operationId": "getJob",
                "summary": "A job's status, progress (done of total), result and error.",
                "parameters": [_JOB_ID],
                "responses": {"200": {"description": "The job.", "content": _JOB}}
                | _errors(401, 403, 404),
            },
        },
        "/job/{job_id}/download": {
            "get": {
                "tags": ["jobs"],
                "operationId": "downloadJobFile",
                "summary": "A finished export's file.",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": {
                        "description": "The file (CSV, JSON, JSON Lines or Parquet).",
                        "content": {
                            media: {"schema": {"type": "string"}}
                            for media in (
                                "text/csv",
                                "application/json",
                                "application/x-ndjson",
                                "application/vnd.apache.parquet",
                            )
                        },
                    },
                    **_errors(401, 403, 404),
                },
            },
        },
        "/project/{project_id}/jobs": {
            "get": {
                "tags": ["jobs"],
                "operationId": "listProjectJobs",
                "summary": "The project's recent jobs, newest first.",
                "parameters": [
                    _PROJECT_ID,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The jobs.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Job"},
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 404, 415),
                },
            },
        },
        "/project/{project_id}/import": {
            "post": {
                "tags": ["jobs"],
                "operationId": "startImport",
                "summary": "Start importing tasks: rows, or every object under an S3 prefix.",
                "description": "Rows are checked before the job starts (a bad row is a 400). "
                "An S3 import adds only the keys the project does not have yet.",
                "parameters": [_PROJECT_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "tasks": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"type": "object"},
                                        "description": "Rows as in a JSON import file.",
                                    },
                                    "s3": _S3_PREFIX,
                                    "n_answers": {"type": "integer", "minimum": 1},
                                    "key": {
                                        "type": "string",
                                        "description": "Idempotency key for rows: a retry "
                                        "with the same key returns the first job.",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"202": {"description": "The job.", "content": _JOB}}
                | _errors(400, 401, 403, 404, 415),
            },
        },
        "/project/{project_id}/export": {
            "post": {
                "tags": ["jobs"],
                "operationId": "startExport",
                "summary": "Start building an export file; download it when the job ends.",
                "parameters": [_PROJECT_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["what", "format"],
                                "properties": {
                                    "what": {
                                        "type": "string",
                                        "enum": ["tasks", "answers", "results", "dataset"],
                                    },
                                    "format": {
                                        "type": "string",
                                        "enum": ["csv", "json", "jsonl", "parquet"],
                                        "description": "csv, json or jsonl; the dataset: "
                                        "csv, jsonl or parquet.",
                                    },
                                    "validation": {
                                        "type": "number",
                                        "minimum": 0,
                                        "maximum": 1,
                                        "description": "Dataset only: the validation share.",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "The job (an unfinished one of the same file is "
                        "returned if there is one).",
                        "content": _JOB,
                    },
                    **_errors(400, 401, 403, 404, 415),
                },
            },
        },
    },
)


def document(server_url: str = "/api") -> dict[str, Any]:
    """The OpenAPI document, with ``server_url`` as the one server."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "LabelHive API",
            "version": "1",
            "description": "PYBOSSA-compatible REST API with LabelHive extensions. Errors use "
            "PYBOSSA's envelope (components.schemas.Error). Authenticate with an API key.",
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKeyQuery": []}, {"apiKeyHeader": []}, {}],
        "tags": [{"name": name, "description": text} for name, text in sorted(_TAGS.items())],
        "paths": copy.deepcopy(_PATHS),
        "components": copy.deepcopy(COMPONENTS),
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document(request.script_root + "/api"))
