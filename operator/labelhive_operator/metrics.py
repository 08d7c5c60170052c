"""The operator's own Prometheus metrics: reconciles, their duration, projects by condition.

The bookkeeping is pure (:func:`outcome_of`, :func:`count_conditions`, :func:`drift_corrections`,
:func:`migration_jobs`); :class:`Metrics` keeps it in a registry of its own (not the process-wide
default one, so two operators in one test process never share counters), and :func:`serve`
exposes that registry on the metrics port. The handlers report to it after every reconcile.

Series (all prefixed ``labelhive_operator_``):

- ``reconciles_total{outcome}``: ``ok``, ``requeue`` (an API error, retried after a delay),
  ``permanent_error`` (an invalid spec, not retried until it changes), ``error`` (anything else)
- ``reconcile_duration_seconds``: one reconcile, from reading the project to writing its status
- ``projects{condition,status}``: projects whose condition has that status, as last reconciled
- ``drift_corrections_total{kind}``: children re-applied with the same desired state the
  operator applied last: someone changed or deleted them
- ``migration_jobs_created_total``, ``migration_jobs_finished_total{result}``
- ``last_successful_reconcile_timestamp_seconds``
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import kopf
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from labelhive_operator import settings

PREFIX = "labelhive_operator"
OUTCOMES = ("ok", "requeue", "permanent_error", "error")
#: reconciles take milliseconds to seconds (a labeling sync waits on the app's API)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: Event reason → ``migration_jobs_finished_total`` result
MIGRATION_RESULTS = {"MigrationSucceeded": "succeeded", "MigrationFailed": "failed"}
MIGRATION_COMPONENT = "migration"

#: (namespace, name) of a LabelingProject
Key = tuple[str, str]
#: (kind, name) of a child → digest of the manifest last applied
Applied = dict[tuple[str, str], str]


def outcome_of(error: BaseException | None) -> str:
    """Return the outcome label of a reconcile that raised ``error`` (``None``: it succeeded)."""
    if error is None:
        return "ok"
    if isinstance(error, kopf.PermanentError):
        return "permanent_error"
    if isinstance(error, kopf.TemporaryError):
        return "requeue"
    return "error"


def count_conditions(
    projects: Mapping[Key, Iterable[Mapping[str, Any]]],
) -> dict[tuple[str, str], int]:
    """Return how many projects have each (condition type, status)."""
    out: Tally[tuple[str, str]] = Tally()
    for conditions in projects.values():
        for c in conditions:
            out[(str(c.get("type", "")), str(c.get("status", "Unknown")))] += 1
    return dict(out)


def digest(obj: Mapping[str, Any]) -> str:
    """Return a stable digest of one manifest."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def drift_corrections(
    last: Applied, applied: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, int], Applied]:
    """Count the applies that corrected drift; return them by kind and the new record.

    An apply with the manifest the operator applied last time for that child is a correction:
    the intent did not change, so the child had (someone changed or deleted it). A new or changed
    manifest (a spec change, a rollout, a rotated Secret's hash) is not. After a restart nothing
    is recorded yet, so the first apply of each child never counts.

    :param last: the digests applied by earlier reconciles of the project.
    :param applied: the manifests this reconcile applied, in order.
    """
    record = dict(last)
    corrected: Tally[str] = Tally()
    for obj in applied:
        key = (str(obj["kind"]), str(obj["metadata"]["name"]))
        new = digest(obj)
        if record.get(key) == new:
            corrected[key[0]] += 1
        record[key] = new
    return dict(corrected), record


def migration_jobs(applied: Iterable[Mapping[str, Any]]) -> int:
    """Return how many migration Jobs a reconcile applied (each attempt's Job once: Jobs are
    applied only while they do not exist)."""
    return sum(
        1
        for obj in applied
        if obj["kind"] == "Job"
        and (obj["metadata"].get("labels") or {}).get(settings.LABEL_COMPONENT)
        == MIGRATION_COMPONENT
    )


class Metrics:
    """The operator's metrics registry and what it remembers between reconciles.

    Thread-safe: kopf runs sync handlers in a thread pool, one lock per project only.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Reconciles of LabelingProjects by outcome",
            ["outcome"],
            registry=reg,
        )
        for outcome in OUTCOMES:
            self.reconciles.labels(outcome)  # every outcome is exported, at 0 until it happens
        self.duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Time one reconcile took, from reading the project to writing its status",
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.drift = Counter(
            f"{PREFIX}_drift_corrections",
            "Children re-applied unchanged because the cluster no longer matched them",
            ["kind"],
            registry=reg,
        )
        self.migrations_created = Counter(
            f"{PREFIX}_migration_jobs_created",
            "Migration Jobs created (one per attempt)",
            registry=reg,
        )
        self.migrations_finished = Counter(
            f"{PREFIX}_migration_jobs_finished",
            "Migration Jobs seen finished, by result",
            ["result"],
            registry=reg,
        )
        for result in MIGRATION_RESULTS.values():
            self.migrations_finished.labels(result)
        self.last_success = Gauge(
            f"{PREFIX}_last_successful_reconcile_timestamp_seconds",
            "Unix time of the last reconcile that succeeded (0: none yet)",
            registry=reg,
        )
        self._lock = threading.Lock()
        self._conditions: dict[Key, list[dict[str, Any]]] = {}
        self._applied: dict[Key, Applied] = {}
        reg.register(_ProjectsCollector(self))

    def reconciled(
        self,
        key: Key,
        error: BaseException | None,
        seconds: float,
        conditions: Iterable[Mapping[str, Any]],
        applied: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Record one reconcile of the project ``key``.

        :param error: what it raised (``None``: it succeeded).
        :param seconds: how long it took.
        :param conditions: the project's conditions after it (written or unchanged).
        :param applied: the manifests it applied under the operator's own field manager.
        """
        applied = list(applied)
        outcome = outcome_of(error)
        self.reconciles.labels(outcome).inc()
        self.duration.observe(seconds)
        if outcome == "ok":
            self.last_success.set(time.time())
        self.migrations_created.inc(migration_jobs(applied))
        with self._lock:
            self._conditions[key] = [dict(c) for c in conditions]
            corrected, self._applied[key] = drift_corrections(self._applied.get(key, {}), applied)
        for kind, n in corrected.items():
            self.drift.labels(kind).inc(n)

    def event(self, reason: str) -> None:
        """Count the Events that say a migration Job finished."""
        if reason in MIGRATION_RESULTS:
            self.migrations_finished.labels(MIGRATION_RESULTS[reason]).inc()

    def forget(self, key: Key) -> None:
        """Drop a project that is gone or being deleted (it leaves the ``projects`` gauge)."""
        with self._lock:
            self._conditions.pop(key, None)
            self._applied.pop(key, None)

    def conditions(self) -> dict[tuple[str, str], int]:
        """Return the projects by (condition, status), as :func:`count_conditions` counts."""
        with self._lock:
            return count_conditions(self._conditions)


class _ProjectsCollector(Collector):
    """The ``projects`` gauge, counted when scraped (projects come and go)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{PREFIX}_projects",
            "LabelingProjects by condition and status, as last reconciled",
            labels=["condition", "status"],
        )
        for (condition, status), n in sorted(self.metrics.conditions().items()):
            family.add_metric([condition, status], n)
        yield family


def serve(metrics: Metrics, port: int, address: str) -> Any:
    """Serve ``metrics`` on ``http://address:port/metrics`` from a daemon thread.

    :return: the server (call ``shutdown()`` and ``server_close()`` to stop it), or ``None``
        when ``port`` is 0 (metrics off).
    """
    if port == 0:
        return None
    server, _thread = start_http_server(port, addr=address, registry=metrics.registry)
    return server
