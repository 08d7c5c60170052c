"""Queue metrics collected when ``/metrics`` is scraped, and the Redis readiness check."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from labelhive.jobs import connection
from labelhive.jobs import queues


class QueueCollector(Collector):
    """Queue depths and failed-job counts, read from Redis at scrape time.

    Reads use a client without retries and a one-second timeout: while Redis fails over the
    scrape reports ``labelhive_redis_up 0`` instead of hanging or failing.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("labelhive_redis_up", "Whether Redis answered this scrape")
        depth = GaugeMetricFamily(
            "labelhive_queue_depth", "Jobs waiting in each queue", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "labelhive_queue_failed_jobs", "Jobs in each queue's failed registry", labels=["queue"]
        )
        client = connection.connect(self.config, retries=0, socket_timeout=1.0)
        if client is None:
            return
        try:
            from rq import Queue

            for name in queues.QUEUES:
                queue = Queue(name, connection=client)
                depth.add_metric([name], queue.count)
                failed.add_metric([name], queue.failed_job_registry.count)
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        up.add_metric([], 1)
        yield up
        yield depth
        yield failed
