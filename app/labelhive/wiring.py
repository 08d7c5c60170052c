"""Which modules register background jobs: one list, imported once per process.

:mod:`labelhive.jobs` is generic and imports no domain; each domain registers its jobs with
``@jobs.job(name, queue=...)`` when its module is imported. ``create_app`` calls
:func:`register_jobs`, so the web processes (in-process jobs, starters), the scheduler and the
RQ worker (before it forks a work horse) know every job by name.
"""

from __future__ import annotations

import importlib

# every module that declares an ``@job``; a job missing here cannot be run by name
JOB_MODULES = (
    "labelhive.tasks.jobs",
    "labelhive.consensus.jobs",
    "labelhive.exports.jobs",
    "labelhive.exports.imagefolder",
    "labelhive.imports.jobs",
    "labelhive.accounts.identity.jobs",
)


def register_jobs() -> None:
    """Import the modules of :data:`JOB_MODULES`, and give the scheduler its domain query
    (idempotent)."""
    from labelhive.answers import activity
    from labelhive.jobs import scheduler

    for name in JOB_MODULES:
        importlib.import_module(name)
    scheduler.active_projects = activity.projects_answered_since
