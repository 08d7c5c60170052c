"""Sync ``spec.labeling`` into the app through its PYBOSSA-shaped REST API.

The operator authenticates as the ``labelhive-operator`` admin user whose API key it generated
(the migration Job creates that user with ``--api-key-from-env``). The key travels only in the
``Authorization`` header and is never logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from labelhive_operator.spec import Project


@dataclass(frozen=True)
class Progress:
    """What the app reports about the declared project."""

    project_id: int
    tasks: int
    completed: int
    answers: int


class LabelingError(Exception):
    """The app could not be reached or refused a call (message is safe to show).

    :param code: the HTTP status when the app answered, else ``None``.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def desired_body(project: Project) -> dict[str, Any]:
    """Return the app-side project fields for ``spec.labeling``."""
    lab = project.spec.labeling
    assert lab is not None
    return {
        "name": lab.title,
        "short_name": project.labeling_short_name,
        "description": lab.question,
        "default_n_answers": lab.redundancy,
        "info": {
            "question": lab.question,
            "answers": list(lab.answers),
            "source_prefix": lab.source_prefix,
        },
    }


def _call(base: str, key: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Authorization": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (in-cluster URL)
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise LabelingError(f"{method} {path}: HTTP {e.code}", e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise LabelingError(f"{method} {path}: {getattr(e, 'reason', e)}") from None
    return json.loads(raw) if raw else None


def sync(project: Project, base_url: str, api_key: str) -> Progress:
    """Create or update the declared project in the app and return its progress.

    :param project: the project with ``spec.labeling`` set.
    :param base_url: the app's in-cluster URL.
    :param api_key: the operator's admin API key.
    :return: the app's counters for the project.
    :raise LabelingError: when the app is unreachable or answers with an error.
    """
    want = desired_body(project)
    query = urllib.parse.urlencode({"short_name": want["short_name"], "all": 1})
    found = _call(base_url, api_key, "GET", f"/api/project?{query}") or []
    if found:
        current = found[0]
        pid = int(current["id"])
        # only send an update when something declared differs (no write on a steady state)
        drift = any(current.get(k) != v for k, v in want.items() if k != "info") or any(
            (current.get("info") or {}).get(k) != v for k, v in want["info"].items()
        )
        if drift:
            _call(base_url, api_key, "PUT", f"/api/project/{pid}", want)
    else:
        created = _call(base_url, api_key, "POST", "/api/project", want)
        pid = int(created["id"])
        _call(base_url, api_key, "PUT", f"/api/project/{pid}", {"published": True})
    stats = (_call(base_url, api_key, "GET", f"/api/project/{pid}?stats=1") or {}).get(
        "stats"
    ) or {}
    return Progress(
        project_id=pid,
        tasks=int(stats.get("n_tasks", 0)),
        completed=int(stats.get("n_completed_tasks", 0)),
        answers=int(stats.get("n_answers", 0)),
    )


def start_import(
    base_url: str, api_key: str, project_id: int, bucket: str, prefix: str, extensions: str
) -> dict[str, Any]:
    """Start the app's S3 prefix import job for a project; return the app's job record.

    The app returns its unfinished import of the same prefix instead of starting another.
    """
    body = {"s3": {"bucket": bucket, "prefix": prefix, "extensions": extensions}}
    job: dict[str, Any] = _call(
        base_url, api_key, "POST", f"/api/project/{project_id}/import", body
    )
    return job


def import_job(base_url: str, api_key: str, job_id: str) -> dict[str, Any] | None:
    """Return the app's record of a job (``status``, ``result``, ``error``, ``finished``).

    :return: ``None`` when the app has no such job.
    """
    try:
        job: dict[str, Any] = _call(
            base_url, api_key, "GET", f"/api/job/{urllib.parse.quote(job_id, safe='')}"
        )
    except LabelingError as e:
        if e.code == 404:
            return None
        raise
    return job


def schema_state(base_url: str, api_key: str) -> dict[str, Any]:
    """Return the app's schema revisions (``GET /api/admin/schema``).

    :return: ``revision`` (the database's), ``head`` (the image's) and ``behind``.
    :raise LabelingError: when the app is unreachable or answers with an error.
    """
    state: dict[str, Any] = _call(base_url, api_key, "GET", "/api/admin/schema") or {}
    return state
