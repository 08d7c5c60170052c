"""Geometry for the results page's server-side SVG charts (pure; the template draws them).

The template writes every label through Jinja's autoescaping; this module only computes
numbers, so nothing here can inject markup.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from collections.abc import Sequence

BAR_WIDTH = 320
ROW = 22
CELL = 34


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    y: int
    width: float


@dataclasses.dataclass(frozen=True)
class Cell:
    row: str
    column: str
    count: int
    share: float
    x: int
    y: int


def bars(values: Mapping[str, float | None], *, scale: float | None = None) -> list[Bar]:
    """One horizontal bar per label; ``scale`` is the value of a full bar (default: the max).

    ``None`` values (not computable) get an empty bar and the text "n/a".
    """
    known = [v for v in values.values() if v is not None]
    top = scale if scale is not None else max([*known, 0]) or 1
    out = []
    for n, (label, value) in enumerate(values.items()):
        if value is None:
            out.append(Bar(label, 0.0, "n/a", n * ROW, 0.0))
            continue
        text = f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
        width = max(0.0, min(1.0, value / top)) * BAR_WIDTH
        out.append(Bar(label, float(value), text, n * ROW, round(width, 1)))
    return out


def heatmap(matrix: Mapping[str, Mapping[str, int]], labels: Sequence[str]) -> list[Cell]:
    """Cells of a confusion matrix, shaded by the share of their row (rows: consensus)."""
    cells = []
    for r, row in enumerate(labels):
        counts = matrix.get(row, {})
        total = sum(counts.values())
        for c, column in enumerate(labels):
            count = int(counts.get(column, 0))
            share = count / total if total else 0.0
            cells.append(Cell(row, column, count, round(share, 3), c * CELL, r * CELL))
    return cells


# the answers-per-hour chart (labelhive.results.activity): plot size and where the bars start
HOURS_HEIGHT = 120
HOURS_LEFT = 40
HOURS_WIDTH = 576


@dataclasses.dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    count: int
    hour: dt.datetime


@dataclasses.dataclass(frozen=True)
class Tick:
    x: float
    text: str


def hourly(per_hour: Sequence[int], start: dt.datetime | None) -> tuple[list[Column], list[Tick]]:
    """One column per hour from ``start`` (the tallest fills :data:`HOURS_HEIGHT`), and a tick
    at each midnight (or at the start, when the window holds none) labelled with the day."""
    if not per_hour or start is None:
        return [], []
    # at most a day's width per column: a new project's few hours do not fill the chart
    slot = HOURS_WIDTH / max(len(per_hour), 24)
    top = max(per_hour) or 1
    columns, ticks = [], []
    for n, count in enumerate(per_hour):
        hour = start + dt.timedelta(hours=n)
        height = round(count / top * HOURS_HEIGHT, 1)
        x = round(HOURS_LEFT + n * slot, 2)
        columns.append(
            Column(x, HOURS_HEIGHT - height, round(max(slot - 1, 1), 2), height, count, hour)
        )
        if hour.hour == 0:
            ticks.append(Tick(x, hour.strftime("%b %d")))
    if not ticks:
        ticks.append(Tick(columns[0].x, start.strftime("%b %d %H:00")))
    return columns, ticks


# an annotator's agreement with the consensus per day (the annotators table's sparklines)
SPARK_WIDTH = 120
SPARK_HEIGHT = 28
# room for the largest dot at the edges
SPARK_PAD = 4.0
SPARK_MIN_R = 1.5
SPARK_MAX_R = 3.5


@dataclasses.dataclass(frozen=True)
class Dot:
    """One day: where, how large (the day's answers), and what it says."""

    x: float
    y: float
    r: float
    day: str
    answers: int
    agreeing: int

    @property
    def share(self) -> float:
        return self.agreeing / self.answers

    @property
    def text(self) -> str:
        return f"{self.day}: {self.agreeing} of {self.answers} agree ({self.share:.2f})"


@dataclasses.dataclass(frozen=True)
class Sparkline:
    """The dots, the line through them, and the text that says the same (accessibility)."""

    dots: list[Dot]
    points: str
    summary: str
    title: str
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT


def sparkline(by_day: Sequence[Sequence[object]] | None) -> Sparkline | None:
    """An annotator's agreement per day as a sparkline: a dot per day with answers, placed by
    date (gaps show), higher for more agreement, larger for more answers that day.

    :param by_day: ``[day (ISO), answers, agreeing]`` rows, as the consensus job stores them
        (``annotator_quality.agreement_by_day``); rows that are not that shape are skipped.
    :return: ``None`` when no day has answers.
    """
    days = sorted(day for day in map(_day_row, by_day or ()) if day is not None)
    if not days:
        return None
    first, last = days[0][0], days[-1][0]
    span = (last - first).days
    top = max(n for _, n, _ in days)
    inner_w = SPARK_WIDTH - 2 * SPARK_PAD
    inner_h = SPARK_HEIGHT - 2 * SPARK_PAD
    dots = []
    for day, n, agreeing in days:
        x = SPARK_PAD + (inner_w * (day - first).days / span if span else inner_w / 2)
        y = SPARK_PAD + inner_h * (1 - agreeing / n)
        r = SPARK_MIN_R + (SPARK_MAX_R - SPARK_MIN_R) * (n / top) ** 0.5
        dots.append(Dot(round(x, 1), round(y, 1), round(r, 1), day.isoformat(), n, agreeing))
    if len(dots) == 1:
        summary = f"{dots[0].share:.2f} on 1 day"
    else:
        summary = f"{dots[0].share:.2f} → {dots[-1].share:.2f} over {len(dots)} days"
    when = first.isoformat() if not span else f"{first.isoformat()} to {last.isoformat()}"
    return Sparkline(
        dots=dots,
        points=" ".join(f"{d.x},{d.y}" for d in dots),
        summary=summary,
        title=f"Agreement with consensus per day, {when}: {summary}",
    )


def _day_row(row: object) -> tuple[dt.date, int, int] | None:
    """A stored ``[day, answers, agreeing]`` row, or ``None`` when it is not one."""
    if not isinstance(row, list | tuple) or len(row) != 3:
        return None
    day, n, agreeing = row
    if not isinstance(day, str) or type(n) is not int or type(agreeing) is not int:
        return None
    if not 0 <= agreeing <= n or n == 0:
        return None
    try:
        return dt.date.fromisoformat(day), n, agreeing
    except ValueError:
        return None
