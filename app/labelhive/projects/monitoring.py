"""Per-project gauges read from the database when ``/metrics`` is scraped.

What the operator's alerts and dashboard need and no counter can say: whether a published
project with open tasks still gets answers, and how old its consensus is. One label per
published, unarchived project (its short name).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from labelhive.answers.models import Answer
from labelhive.consensus.models import ConsensusRun
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.counts import open_tasks_of

#: the series this collector exports (the operator's tests check its rules read only these)
NAMES = (
    "labelhive_project_open_tasks",
    "labelhive_project_last_answer_timestamp_seconds",
    "labelhive_consensus_computed_timestamp_seconds",
)


def _seconds(value: dt.datetime) -> float:
    # naive UTC in both databases
    return value.replace(tzinfo=dt.UTC).timestamp()


class ProjectCollector(Collector):
    """Open tasks, last answer and consensus time of each published project.

    The last answer falls back to the project's last change (publishing it), so a project
    published a minute ago does not look silent for an hour.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_tasks = GaugeMetricFamily(
            NAMES[0], "Open tasks of a published project", labels=["project"]
        )
        last = GaugeMetricFamily(
            NAMES[1], "Last answer (or publication) of a published project", labels=["project"]
        )
        consensus = GaugeMetricFamily(
            NAMES[2], "When the project's consensus was last computed", labels=["project"]
        )
        # kept by triggers: a count of the task rows takes a second at 5M open tasks
        open_count = open_tasks_of(Project.id)
        last_answer = (
            sa.select(sa.func.max(Answer.finish_time))
            .where(Answer.project_id == Project.id)
            .scalar_subquery()
        )
        computed = (
            sa.select(sa.func.max(ConsensusRun.computed_at))
            .where(ConsensusRun.project_id == Project.id)
            .scalar_subquery()
        )
        rows = db.session.execute(
            sa.select(Project.short_name, Project.updated, open_count, last_answer, computed)
            .where(Project.published.is_(True), Project.archived.is_(False))
            .order_by(Project.id)
        )
        for name, updated, n_open, answered, computed_at in rows:
            open_tasks.add_metric([name], n_open or 0)
            last.add_metric([name], _seconds(max(d for d in (updated, answered) if d)))
            if computed_at is not None:
                consensus.add_metric([name], _seconds(computed_at))
        yield open_tasks
        yield last
        yield consensus
