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
