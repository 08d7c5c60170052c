"""Progress at a glance: answers per hour over the last days, and what is left.

One grouped count over the project's recent answers, read through the answer table's
``(project_id, finish_time)`` index (migration 0015): the window's rows only, never the whole
project. The hour buckets are whole hours since the epoch, computed by the database, so both
dialects group alike; :func:`fill` and :func:`estimate` are pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from sqlalchemy import ColumnElement
from sqlalchemy import Integer
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.projects import progress
from labelhive.results import charts
from labelhive.review import services as review

# hours shown: three days, one bar per hour
WINDOW_HOURS = 72
# the rate that estimates the time left: answers over the last day
RATE_HOURS = 24
HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1)


@dataclasses.dataclass(frozen=True)
class Activity:
    """Answers per hour (oldest first, from ``start``), and the estimate of the time left."""

    start: dt.datetime | None
    per_hour: list[int]
    last_day: int
    hours_left: float | None

    @property
    def total(self) -> int:
        return sum(self.per_hour)


def hour_of(moment: dt.datetime) -> int:
    """Whole hours since the epoch (UTC, naive as stored)."""
    return int((moment - EPOCH) // HOUR)


def fill(counts: Mapping[int, int], first: int, last: int) -> list[int]:
    """Counts per hour from hour ``first`` to ``last`` (both included), 0 where none came."""
    return [int(counts.get(h, 0)) for h in range(first, last + 1)]


def estimate(remaining: int, last_day: int) -> float | None:
    """Hours until ``remaining`` answers arrive at the last day's rate (``None``: no rate)."""
    if remaining <= 0:
        return 0.0
    if last_day <= 0:
        return None
    return remaining / (last_day / RATE_HOURS)


def _bucket() -> ColumnElement[int]:
    if db.engine.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", Answer.finish_time) / 3600), Integer)
    return cast(func.strftime("%s", Answer.finish_time), Integer) // 3600


def of(project_id: int, remaining: int, *, now: dt.datetime | None = None) -> Activity:
    """The project's answers per hour over the window that ends now (or at its last answer,
    if that is older), and the hours the ``remaining`` answers take at the last day's rate."""
    now = now or utcnow()
    newest = db.session.scalar(
        select(func.max(Answer.finish_time)).where(Answer.project_id == project_id)
    )
    if newest is None:
        return Activity(None, [], 0, None)
    last = hour_of(now)
    if hour_of(newest) < last - WINDOW_HOURS + 1:
        last = hour_of(newest)  # a quiet project: show its last active days
    oldest = db.session.scalar(
        select(func.min(Answer.finish_time)).where(Answer.project_id == project_id)
    )
    first = max(hour_of(oldest or newest), last - WINDOW_HOURS + 1)
    start = EPOCH + first * HOUR
    bucket = _bucket().label("hour")
    rows = db.session.execute(
        select(bucket, func.count())
        .where(Answer.project_id == project_id, Answer.finish_time >= start)
        .group_by(bucket)
    ).all()
    per_hour = fill({int(h): n for h, n in rows}, first, last)
    since = hour_of(now) - RATE_HOURS + 1
    last_day = sum(n for h, n in rows if int(h) >= since)
    return Activity(start, per_hour, last_day, estimate(remaining, last_day))


@dataclasses.dataclass(frozen=True)
class Glance:
    """What the results and progress pages show of a project's pace (``results/_glance.html``)."""

    activity: Activity
    columns: list[charts.Column]
    ticks: list[charts.Tick]
    top: int
    waiting: int
    # the chart's geometry (charts.HOURS_*), for the template
    left: int = charts.HOURS_LEFT
    width: int = charts.HOURS_WIDTH
    height: int = charts.HOURS_HEIGHT


def glance(project_id: int) -> Glance:
    """The project's answers per hour as chart columns, the time its answers still needed
    take at the last day's pace, and its items waiting for review."""
    figures = progress.of(project_id)
    found = of(project_id, figures.needed - figures.answers)
    columns, ticks = charts.hourly(found.per_hour, found.start)
    return Glance(
        found, columns, ticks, max(found.per_hour, default=0), review.queue_size(project_id)
    )
