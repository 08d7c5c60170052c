"""A project named in a URL, resolved to the little the labeling page's endpoints need.

Those endpoints are called on every answer; loading the project row each time was one of the
two reads the page made beyond the API's. What they need (id, short name, owner, published) is
kept per process for ``API_KEY_CACHE_SECONDS``, as API keys and sessions are. Nothing is
authorized from it alone: the annotation service checks the project again in its own
statements (a draft or deleted project is refused there), so a stale entry can only answer
with an older name or storage prefix, for a few seconds. A change to a project flushed by
this process empties the cache at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from flask import current_app
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelhive.extensions import read_one
from labelhive.projects.models import Project

_MAX = 10_000
_MAX_ID = 2**31 - 1  # the id column's type
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class ProjectRef:
    """What the access rules and the storage scope read of a project."""

    id: int
    short_name: str
    owner_id: int
    published: bool


def _cache() -> dict[str, tuple[ProjectRef | None, float]]:
    return current_app.extensions.setdefault("labelhive.project_refs", {})


def resolve(ref: str, *, now: float | None = None) -> ProjectRef | None:
    """The project ``ref`` names (its id or short name), or ``None``; cached per process."""
    now = time.monotonic() if now is None else now
    cache = _cache()
    cached = cache.get(ref)
    if cached is not None and cached[1] > now:
        return cached[0]
    by_id = ref.isascii() and ref.isdigit()
    if (by_id and int(ref) > _MAX_ID) or "\x00" in ref:
        return None  # no project has such an id, and PostgreSQL's text holds no NUL
    column = Project.id if by_id else Project.short_name
    value: Any = int(ref) if by_id else ref
    row = read_one(
        select(Project.id, Project.short_name, Project.owner_id, Project.published).where(
            column == value
        )
    )
    found = None if row is None else ProjectRef(row[0], row[1], row[2], bool(row[3]))
    ttl = float(current_app.config.get("API_KEY_CACHE_SECONDS", 5))
    if ttl > 0 and found is not None:
        with _lock:
            if len(cache) >= _MAX:
                cache.clear()
            cache[ref] = (found, now + ttl)
    return found


def forget() -> None:
    """Empty this process's cache (a project changed)."""
    with _lock:
        _cache().clear()


def _after_flush(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if has_app_context() and any(isinstance(o, Project) for o in changed):
        forget()


def install() -> None:
    """Hook the session event once per process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
