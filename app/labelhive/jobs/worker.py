"""``labelhive worker``: an RQ worker on the Sentinel master, inside one app context.

The app is created once; each job runs in a forked work horse (RQ's default), which opens its
own database connections (the parent's pooled sockets must not be shared across a fork).
Job durations are observed in the parent, where the horse's end is known, and served on
``--metrics-port`` when given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq import Worker
from rq.job import Job

from labelhive import metrics
from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.jobs import queues
from labelhive.jobs import registry

log = logging.getLogger(__name__)


_REDIS_AWAY = (RedisConnectionError, RedisTimeoutError)
_PERFORM = f"{registry.perform.__module__}.{registry.perform.__qualname__}"


class LegacyPathJob(Job):
    """An RQ job that finds the function a release before the registry queued by its path.

    Such a job names its function's dotted path (``labelhive.results.jobs.export_file``), where
    the function may no longer live: :data:`~labelhive.jobs.registry.LEGACY_PATHS` maps it to
    the registered job instead, so moving a job's function never strands a queued job.
    """

    @property
    def func(self) -> Any:
        if self.func_name in registry.LEGACY_PATHS:
            return registry.lookup(self.func_name)
        return super().func


class LabelhiveWorker(Worker):
    """RQ's forking worker, with a fresh database pool per horse and job duration metrics.

    It also outlives a Redis failover longer than the client's retry budget. RQ's dequeue loop
    waits for Redis to come back, but every other Redis call of its work loop — the suspension
    check, registry maintenance, the execution record written before the fork, the heartbeats —
    would raise out of ``work()`` and end the worker. Here each is logged and skipped instead:

    - a missed heartbeat only ages the worker's key (its TTL is minutes);
    - a skipped suspension check or maintenance runs again on the next turn of the loop;
    - a job whose execution could not be recorded is dropped from this worker; its job record
      in the database stays ``queued`` or ``started``, and the scheduler enqueues it again once
      it is stale (jobs are idempotent, see :mod:`labelhive.jobs.scheduler`).

    The dequeue loop's backoff then waits for the promoted master.
    """

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except _REDIS_AWAY as exc:
            log.warning("suspension check skipped, Redis unavailable: %s", exc)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except _REDIS_AWAY as exc:
            log.warning("registry maintenance skipped, Redis unavailable: %s", exc)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            # queued on a pipeline: the caller's execute() is where Redis is reached
            super().heartbeat(timeout, pipeline)
            return
        try:
            super().heartbeat(timeout)
        except _REDIS_AWAY as exc:
            log.warning("heartbeat skipped, Redis unavailable: %s", exc)

    def maintain_heartbeats(self, job: Job, execution: Any) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except _REDIS_AWAY as exc:
            log.warning("heartbeat of job %s skipped, Redis unavailable: %s", job.id, exc)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        # close=False: the sockets stay open for the parent, the horse just stops using them
        db.engine.dispose(close=False)
        super().main_work_horse(job, queue)

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.monotonic()
        try:
            super().execute_job(job, queue)
        except _REDIS_AWAY as exc:
            if self._horse_pid:
                # the horse runs on regardless: reap it before the next job is taken
                self.wait_for_horse()
                self._horse_pid = 0
            log.warning(
                "job %s left to the scheduler, Redis unavailable around its execution: %s",
                job.id,
                exc,
            )
        finally:
            try:
                outcome = str(job.get_status(refresh=True) or "unknown")
            except Exception:  # noqa: BLE001 - Redis failing over: the duration still counts
                outcome = "unknown"
            kind = _kind(job)
            metrics.JOB_SECONDS.labels(kind=kind, outcome=outcome).observe(
                time.monotonic() - started
            )


def _kind(job: Job) -> str:
    """The metric's ``kind``: the registered job's name (a legacy job: its function's)."""
    func_name = job.func_name or "unknown"
    if func_name == _PERFORM and job.args:
        return str(job.args[0])
    return func_name.rpartition(".")[2]


def parse_queues(value: str) -> list[str]:
    """``high,default,low`` → the names, checked against :data:`queues.QUEUES`.

    :raise ValueError: an unknown or missing queue name.
    """
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in queues.QUEUES]
    if unknown or not names:
        raise ValueError(
            f"Unknown queue {', '.join(unknown) or '(none)'}; use {','.join(queues.QUEUES)}."
        )
    return names


def run(app: Flask, names: Sequence[str], *, burst: bool = False, metrics_port: int = 0) -> bool:
    """Work the queues ``names`` (in priority order) until stopped, or empty with ``burst``.

    :return: whether the worker did any job (RQ's ``work()``).
    :raise LookupError: when Redis is not configured.
    """
    client = connection.redis(app)
    if client is None:
        raise LookupError("no Redis configured")
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    # the jobs were registered by create_app (labelhive.wiring), once, before any fork
    with app.app_context():
        worker = LabelhiveWorker(
            [Queue(name, connection=client) for name in names],
            connection=client,
            job_class=LegacyPathJob,
            job_monitoring_interval=10,
        )
        return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
