"""Objects as PYBOSSA's ``dictize()`` shows them, plus its HATEOAS ``link``/``links``.

Each function takes an ORM object or a row mapping (the engine returns mappings), so a task
handed out by a claim and a task read by the API look the same. Timestamps are ISO 8601
without a time zone (UTC), as PYBOSSA writes them: ``2026-11-28T04:40:00.123456``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import request

# the parts of a project's ``info`` that anyone who may see the project may read (PYBOSSA
# shows ``container, thumbnail, thumbnail_url, task_presenter, tutorial, sched``)
PUBLIC_INFO_KEYS = frozenset(
    {
        "question",
        "answers",
        "instructions",
        "task_presenter",
        "tutorial",
        "thumbnail",
        "thumbnail_url",
        "container",
        "sched",
    }
)
# project columns only managers see: the JWT secret, the webhook URL (it may carry a token),
# and the gold rate (annotators should not learn how often they are being tested)
# and how answers are aggregated (settings, not something annotators need)
PROJECT_PRIVATE = (
    "secret_key",
    "webhook",
    "gold_rate",
    "consensus_method",
    "consensus_use_gold",
    "adaptive_redundancy",
    "adaptive_threshold",
    "adaptive_max_answers",
    "review_threshold",
)
PROJECT_FIELDS = (
    "id",
    "created",
    "updated",
    "name",
    "short_name",
    "description",
    "long_description",
    "webhook",
    "allow_anonymous_contributors",
    "published",
    "featured",
    "secret_key",
    "zip_download",
    "contacted",
    "owner_id",
    "category_id",
    "info",
    "default_n_answers",
    "lease_ttl",
    "ordering",
    "gold_rate",
    "use_task_presenter",
    "consensus_method",
    "consensus_use_gold",
    "adaptive_redundancy",
    "adaptive_threshold",
    "adaptive_max_answers",
    "review_threshold",
)
TASK_FIELDS = (
    "id",
    "created",
    "project_id",
    "state",
    "quorum",
    "calibration",
    "priority_0",
    "info",
    "n_answers",
)
ANSWER_FIELDS = (
    "id",
    "created",
    "finish_time",
    "project_id",
    "task_id",
    "user_id",
    "user_ip",
    "external_uid",
    "info",
)
RESULT_FIELDS = ("id", "created", "project_id", "task_id", "task_run_ids", "last_version", "info")
USER_PUBLIC = ("id", "name", "locale")
USER_PRIVATE = ("id", "name", "fullname", "email_addr", "locale", "created")


def iso(value: Any) -> Any:
    """A naive UTC datetime as PYBOSSA's ISO string; other values unchanged."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: iso(_get(obj, name)) for name in names}


def _href(resource: str, oid: Any) -> str:
    return f"{request.host_url.rstrip('/')}/api/{resource}/{oid}"


def link(rel: str, resource: str, oid: Any) -> str:
    """PYBOSSA's HATEOAS link string: ``<link rel='self' title='task' href='…/api/task/5'/>``."""
    return f"<link rel='{rel}' title='{resource}' href='{_href(resource, oid)}'/>"


def _with_links(item: dict[str, Any], resource: str, parents: list[tuple[str, Any]]) -> dict:
    item["link"] = link("self", resource, item["id"])
    item["links"] = [link("parent", name, oid) for name, oid in parents if oid is not None]
    return item


def project(obj: Any, *, manager: bool, stats: dict[str, int] | None = None) -> dict[str, Any]:
    """A project; non-managers get neither the private columns nor private ``info`` keys."""
    item = _fields(obj, PROJECT_FIELDS)
    item["owners_ids"] = [item["owner_id"]]
    item["info"] = dict(item["info"] or {})
    if not manager:
        for name in PROJECT_PRIVATE:
            del item[name]
        item["info"] = {k: v for k, v in item["info"].items() if k in PUBLIC_INFO_KEYS}
    if stats is not None:
        item["stats"] = stats
    return _with_links(item, "project", [])


def task(obj: Any, *, manager: bool) -> dict[str, Any]:
    """A task; the gold answer only for the project's managers."""
    item = _fields(obj, TASK_FIELDS)
    item["fav_user_ids"] = []
    if manager:
        item["gold_answer"] = _get(obj, "gold_answer")
    return _with_links(item, "task", [("project", item["project_id"])])


def answer(obj: Any) -> dict[str, Any]:
    """An answer, as PYBOSSA's task run (LabelHive stores no files, no calibration)."""
    item = _fields(obj, ANSWER_FIELDS)
    item["calibration"] = None
    item["media_url"] = None
    return _with_links(
        item, "taskrun", [("project", item["project_id"]), ("task", item["task_id"])]
    )


def result(obj: Any) -> dict[str, Any]:
    item = _fields(obj, RESULT_FIELDS)
    item["task_run_ids"] = list(item["task_run_ids"] or [])
    return _with_links(item, "result", [("project", item["project_id"]), ("task", item["task_id"])])


def user(obj: Any, *, private: bool) -> dict[str, Any]:
    """A user; the e-mail address only for the user and admins; never the API key."""
    item = _fields(obj, USER_PRIVATE if private else USER_PUBLIC)
    if private:
        item["info"] = {}
    return _with_links(item, "user", [])


CATEGORY_FIELDS = ("id", "created", "name", "short_name", "description", "info")
HELPING_FIELDS = ("id", "created", "project_id", "info", "media_url", "priority")


def category(obj: Any) -> dict[str, Any]:
    item = _fields(obj, CATEGORY_FIELDS)
    item["info"] = dict(item["info"] or {})
    return _with_links(item, "category", [])


def helping_material(obj: Any) -> dict[str, Any]:
    """A helping material; an uploaded file's ``media_url`` is its members-only address."""
    item = _fields(obj, HELPING_FIELDS)
    item["info"] = dict(item["info"] or {})
    if item["media_url"] and item["media_url"].startswith("/"):
        item["media_url"] = request.host_url.rstrip("/") + item["media_url"]
    return _with_links(item, "helpingmaterial", [("project", item["project_id"])])
