"""Prometheus metrics.

Under gunicorn each worker is a process; ``labelhive serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
so :func:`render` aggregates every worker's values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CLAIMS = Counter("labelhive_claims_total", "Task claims by outcome", ["outcome"])
SUBMITS = Counter("labelhive_submits_total", "Accepted submits by outcome", ["outcome"])
REFUSALS = Counter("labelhive_refusals_total", "Refused submits by reason", ["reason"])
LEASES_EXPIRED = Counter("labelhive_leases_expired_total", "Expired leases swept")
OVER_COLLECTION = Counter(
    "labelhive_over_collection_total",
    "Tasks found holding more counted answers than n_answers (must stay 0)",
)
CLAIM_SECONDS = Histogram("labelhive_claim_seconds", "Claim latency", buckets=LATENCY_BUCKETS)
SUBMIT_SECONDS = Histogram("labelhive_submit_seconds", "Submit latency", buckets=LATENCY_BUCKETS)


def render(collectors: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The exposition text for ``/metrics`` and its content type.

    :param collectors: collected now, in this process (e.g. queue depths read from Redis).
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return body + generate_latest(extra), CONTENT_TYPE_LATEST


JOB_SECONDS = Histogram(
    "labelhive_job_seconds",
    "Background job duration by job function and outcome",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
