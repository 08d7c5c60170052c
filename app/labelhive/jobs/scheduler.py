"""``labelhive scheduler``: enqueue the periodic jobs, and re-enqueue jobs that were lost.

A small loop rather than RQ's ``CronScheduler``: RQ's gives every run a random job id (two
scheduler Pods during a rolling update would both enqueue each run) and its loop ends on the
first Redis error that outlasts the retries. Here each run of a periodic job has a
deterministic id, ``<name>-<period number>`` (``<name>-<project>-<period>`` per project), and
its :class:`~labelhive.jobs.models.JobRecord` insert decides who enqueues it; every error is
logged and the next tick tries again, so the loop outlives a Redis failover or a database
restart without being restarted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from flask import Flask

from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import queues
from labelhive.jobs import records

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Periodic:
    """A job to enqueue every ``every`` seconds; per project: for projects with new answers.

    ``job`` is the job's registered name (:mod:`labelhive.jobs.registry`).
    """

    name: str
    job: str
    every: int
    queue: str
    per_project: bool = False


PERIODIC = (
    Periodic("sweep", "sweep_leases", 30, queues.HIGH),
    # behind every import and export (labelhive.jobs.queues); one queued per project at most
    Periodic("consensus", "refresh_consensus", 300, queues.LOW, True),
    Periodic("cleanup", "cleanup_exports", 3600, queues.LOW),
)

# the ids of the projects that received an answer since a time (naive UTC); set by
# labelhive.wiring, as this package imports no domain
ActiveProjects = Callable[[dt.datetime], list[int]]
active_projects: ActiveProjects | None = None


def schedule(config: Mapping[str, Any]) -> tuple[Periodic, ...]:
    """The periodic jobs, with intervals overridden by ``JOB_SCHEDULE`` (``{name: seconds}``)."""
    overrides = config.get("JOB_SCHEDULE") or {}
    return tuple(
        dataclasses.replace(p, every=int(overrides.get(p.name, p.every)))
        for p in PERIODIC + _oidc_recheck(config)
    )


def _oidc_recheck(config: Mapping[str, Any]) -> tuple[Periodic, ...]:
    """The OpenID recheck (labelhive.accounts.identity.jobs), when OpenID is configured, every
    ``OIDC_RECHECK_INTERVAL`` seconds (default 300; 0: never)."""
    interval = config.get("OIDC_RECHECK_INTERVAL")
    interval = 300 if interval is None else int(interval)
    if not config.get("OIDC_ISSUER") or interval <= 0:
        return ()
    return (Periodic("oidc_recheck", "oidc_recheck", interval, queues.DEFAULT),)


def tick(app: Flask, now: float | None = None) -> list[str]:
    """Enqueue the periodic runs due at ``now`` (seconds since the epoch), then recover.

    Safe to call from several schedulers at once, and as often as wanted: a run is enqueued
    once per period.

    :return: the ids of the jobs this call enqueued.
    """
    now = time.time() if now is None else now
    enqueued: list[str] = []
    for periodic in schedule(app.config):
        period = int(now // periodic.every)
        if not periodic.per_project:
            job_id = f"{periodic.name}-{period}"
            if records.submit_once(
                job_id, periodic.job, job_id, kind=periodic.name, queue=periodic.queue
            ):
                enqueued.append(job_id)
            continue
        since = dt.datetime.fromtimestamp((period - 1) * periodic.every, dt.UTC)
        for project_id in _active_projects()(since.replace(tzinfo=None)):
            job_id = f"{periodic.name}-{project_id}-{period}"
            if records.submit_once(
                job_id,
                periodic.job,
                job_id,
                project_id,
                kind=periodic.name,
                queue=periodic.queue,
                project_id=project_id,
                reason="periodic refresh: new answers since the last period",
            ):
                enqueued.append(job_id)
    enqueued.extend(records.recover(app, utcnow()))
    return enqueued


def _active_projects() -> ActiveProjects:
    if active_projects is None:
        raise LookupError("no active-projects query: labelhive.wiring.register_jobs() not run")
    return active_projects


def run(app: Flask, *, stop: threading.Event | None = None) -> None:
    """Tick every ``SCHEDULER_TICK_SECONDS`` until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    interval = float(app.config["SCHEDULER_TICK_SECONDS"])
    failures = 0
    jobs = schedule(app.config)
    log.info("scheduler started: %s", ", ".join(f"{p.name}/{p.every}s" for p in jobs))
    while not stop.is_set():
        with app.app_context():
            try:
                for job_id in tick(app):
                    log.info("enqueued %s", job_id)
                failures = 0
            except Exception:  # noqa: BLE001 - Redis or the database is away: try again
                failures += 1
                log.warning("scheduler tick failed (%d in a row)", failures, exc_info=True)
                db.session.rollback()
            finally:
                db.session.remove()
        stop.wait(interval if failures == 0 else min(interval, 1.0 * failures))
    log.info("scheduler stopped")
