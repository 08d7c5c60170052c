"""The job registry: background jobs by stable name, and the error a user can act on.

A domain registers each job where it defines it::

    @job("export_file", queue=queues.LOW)
    def export_file(job_id: str, project_id: int, what: str, fmt: str) -> dict | None: ...

A :class:`~labelhive.jobs.models.JobRecord` stores the job's name (``export_file``), never the
function's Python path, and RQ is given :func:`perform` with the name as first argument, so
renaming or moving the function leaves every stored record and queued job runnable: only the
name is the contract. Records written before the registry hold a dotted path; they are mapped to
names in one table, :data:`LEGACY_PATHS`, where they are read (:func:`lookup`).

This package imports no domain: the domains register themselves when their modules are imported,
and :mod:`labelhive.wiring` lists those modules (imported once per process, by ``create_app``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

# queue names are part of the contract (DESIGN.md): per-answer follow-ups, imports and
# consensus, exports
HIGH = "high"
DEFAULT = "default"
LOW = "low"
QUEUES = (HIGH, DEFAULT, LOW)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# the dotted paths that records stored before jobs had names, mapped once to those names
LEGACY_PATHS = {
    "labelhive.tasks.jobs.import_file": "import_file",
    "labelhive.tasks.jobs.sweep_leases": "sweep_leases",
    "labelhive.tasks.jobs.refresh_stats": "refresh_stats",
    "labelhive.results.jobs.export_file": "export_file",
    "labelhive.results.jobs.export_dataset": "export_dataset",
    "labelhive.results.jobs.refresh_consensus": "refresh_consensus",
    "labelhive.results.jobs.cleanup_exports": "cleanup_exports",
    "labelhive.storage.jobs.import_s3": "import_s3",
    "labelhive.results.imagefolder.export_imagefolder": "export_imagefolder",
}


class UserError(Exception):
    """A job cannot do its work for a reason its user can act on; ``str()`` says which.

    The message is shown to the user as the job's error, and the job is not retried. Anything
    else a job raises is an internal error: logged, and shown as "Internal error".
    """


class UnknownJob(LookupError):
    """No job is registered under this name (or legacy path)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """A registered job: callable like the function it wraps."""

    name: str
    queue: str
    func: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)


_JOBS: dict[str, Job] = {}


def job(name: str, *, queue: str) -> Callable[[Callable[..., Any]], Job]:
    """Register the decorated function as the job ``name``, run on ``queue``.

    :param name: the stable name stored in job records; never reuse one for other work.
    :param queue: one of :data:`QUEUES`.
    :raise ValueError: a malformed name or queue, or a name registered by another function.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"Job name {name!r}: lower-case letters, digits and '_'.")
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}; use one of {', '.join(QUEUES)}.")

    def register(func: Callable[..., Any]) -> Job:
        registered = Job(name, queue, func)
        known = _JOBS.get(name)
        if known is not None and _where(known.func) != _where(func):
            raise ValueError(f"Job {name!r} is already registered by {_where(known.func)}.")
        _JOBS[name] = registered
        return registered

    return register


def lookup(name: str) -> Job:
    """The job registered as ``name``, or as the legacy dotted path a record holds.

    :raise UnknownJob: when nothing is registered under it.
    """
    found = _JOBS.get(LEGACY_PATHS.get(name, name))
    if found is None:
        raise UnknownJob(f"No job is registered as {name!r}.")
    return found


def names() -> list[str]:
    """Every registered job name, sorted."""
    return sorted(_JOBS)


def perform(name: str, *args: Any) -> Any:
    """What RQ runs: the job registered as ``name``, with the record's arguments.

    Its dotted path (``labelhive.jobs.registry.perform``) is the only one stored in Redis.
    """
    return lookup(name)(*args)


def _where(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"
